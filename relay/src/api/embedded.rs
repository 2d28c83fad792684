//! `--demo` without the repository: the chat demo page and the SDK files it loads, embedded
//! in the binary at build time, served at `/` and `/sdk/` when no `--static-dir` /
//! `--sdk-dir` is on disk. A relay built before the SDK (`make sdk`) has no SDK to embed: its
//! demo page then says how to build one, instead of a page whose imports fail.

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::{Embed, EmbeddedFile};

use crate::error::ApiError;

#[derive(Embed)]
#[folder = "../examples/chat/"]
#[allow_missing = true]
struct DemoPage;

/// What the npm package ships that a page loads (its `files`, less the mini-program's).
#[derive(Embed)]
#[folder = "../npm/"]
#[allow_missing = true]
#[include = "index.js"]
#[include = "comet.js"]
#[include = "load.js"]
#[include = "package.json"]
#[include = "dist/*.js"]
#[include = "dist/*.js.map"]
#[include = "dist/*.wasm"]
#[include = "dist/snippets/**/*.js"]
struct Sdk;

/// The module the demo page loads; without it the SDK was not built before the relay.
const DEMO_MODULE: &str = "dist/cometa_comet_bg.wasm";

pub fn sdk_built() -> bool {
    Sdk::get(DEMO_MODULE).is_some()
}

/// `/sdk/…` from the embedded package.
pub fn sdk_routes() -> Router {
    Router::new().fallback(|uri: Uri| async move {
        match Sdk::get(uri.path().trim_start_matches('/')) {
            Some(f) => file(f),
            None => ApiError::NotFound("not a file of the SDK package".into()).into_response(),
        }
    })
}

/// `/` and the demo page's own files.
pub async fn demo_page(uri: Uri) -> Response {
    page(uri.path(), sdk_built())
}

fn page(path: &str, sdk_built: bool) -> Response {
    let path = match path.trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    if path == "index.html" && !sdk_built {
        return (StatusCode::OK, Html(HOW_TO_BUILD)).into_response();
    }
    match DemoPage::get(path) {
        Some(f) => file(f),
        None => ApiError::NotFound("no such route".into()).into_response(),
    }
}

fn file(f: EmbeddedFile) -> Response {
    let mime = f.metadata.mimetype().to_string();
    ([(header::CONTENT_TYPE, mime)], f.data).into_response()
}

const HOW_TO_BUILD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cometa demo: SDK not built</title></head>
<body>
<h1>The demo needs the SDK, which this relay was built without</h1>
<p>The relay embeds the browser SDK (<code>npm/dist</code>) when it exists at build time.
Build it, then the relay, from the repository root:</p>
<pre>make sdk
cargo build --release -p cometa-relay</pre>
<p>or simply <code>make run</code>, which does both. The relay's API works meanwhile.</p>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn without_the_sdk_the_page_says_how_to_build_it() {
        let r = page("/", false);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).await.contains("make sdk"));
        // Its own files and unknown paths are unaffected.
        assert_eq!(page("/nope.js", false).status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn with_the_sdk_the_page_is_the_chat_demo() {
        let r = page("/", true);
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body(r).await.contains("/sdk/comet.js"));
    }
}
