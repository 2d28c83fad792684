//! A webhook receiver for tests: answers 200 and forwards each event's JSON body.

use anyhow::Result;
use serde_json::Value;
use tokio::sync::mpsc;

/// Its URL and the events it received, in order.
pub async fn sink() -> Result<(String, mpsc::UnboundedReceiver<Value>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            async { axum::http::StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, rx))
}
