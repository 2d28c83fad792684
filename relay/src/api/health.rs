//! `/healthz` says the process answers (liveness); `/readyz` says it can serve (readiness):
//! a load balancer or Kubernetes sends traffic only while it is 200.

use axum::extract::State;

use crate::error::ApiError;
use crate::state::App;

/// 200 `ok` when every check passes, else 503 `{code,error,message}` naming the first that
/// failed. One line per check: the drain adds its own (`draining` → 503) here.
pub async fn readyz(State(app): State<App>) -> Result<&'static str, ApiError> {
    if app.is_draining() {
        return Err(ApiError::Unavailable("the relay is shutting down".into()));
    }
    store_answers(&app).await?;
    Ok("ok")
}

/// A round trip through the store thread: a stuck disk, a lock held elsewhere or a queue
/// backed up past the timeout all show here before requests start failing.
async fn store_answers(app: &App) -> Result<(), ApiError> {
    let timeout = app.config.readyz_timeout;
    match tokio::time::timeout(timeout, app.store.stats()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("the store failed: {e}"))),
        Err(_) => Err(ApiError::Unavailable(format!(
            "the store did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
