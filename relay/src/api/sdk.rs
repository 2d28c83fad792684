//! `/sdk/`: the npm package's files for pages that load the SDK from the relay — only what the
//! package ships (its `package.json` `files` and `exports`), never the rest of the folder
//! (tests, lock files, `node_modules`, build leftovers).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::IntoResponse;
use tower_http::services::ServeDir;

use crate::error::ApiError;

/// The paths a package ships, relative to its folder: files, and folders (ending in `/`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shipped(Vec<String>);

impl Shipped {
    /// From `package.json`; nothing when it is missing or unreadable.
    pub fn of(dir: &Path) -> Self {
        let text = match std::fs::read_to_string(dir.join("package.json")) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "no package.json in the SDK dir; /sdk/ serves nothing");
                return Self::default();
            }
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(pkg) => Self::from_package(&pkg),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable package.json; /sdk/ serves nothing");
                Self::default()
            }
        }
    }

    pub fn from_package(pkg: &serde_json::Value) -> Self {
        let mut paths = vec!["package.json".to_string()];
        let files = pkg["files"].as_array().into_iter().flatten();
        paths.extend(files.filter_map(|f| f.as_str()).map(clean));
        let mut exports = Vec::new();
        collect_strings(&pkg["exports"], &mut exports);
        paths.extend(exports.iter().map(|e| clean(e)));
        paths.retain(|p| !p.is_empty() && p != "/");
        Self(paths)
    }

    /// Whether the request path (after `/sdk`) names a shipped file.
    pub fn permits(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        let segments_ok = path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
        segments_ok
            && self
                .0
                .iter()
                .any(|shipped| match shipped.strip_suffix('/') {
                    Some(folder) => path.starts_with(&format!("{folder}/")),
                    None => path == shipped,
                })
    }
}

/// `./dist/x.js` → `dist/x.js`.
fn clean(entry: &str) -> String {
    entry.trim_start_matches("./").to_string()
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Array(list) => list.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// The `/sdk` service over `dir` (nested: it sees paths without the `/sdk` prefix).
pub fn routes(dir: &Path) -> Router {
    let shipped = Arc::new(Shipped::of(dir));
    Router::new()
        .fallback_service(ServeDir::new(dir).fallback(super::not_found_service()))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let shipped = shipped.clone();
                async move {
                    if shipped.permits(req.uri().path()) {
                        next.run(req).await
                    } else {
                        ApiError::NotFound("not a file of the SDK package".into()).into_response()
                    }
                }
            },
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shipped_paths() {
        let pkg = serde_json::json!({
            "files": ["index.js", "dist/", "./miniprogram/"],
            "exports": {".": {"default": "./index.js"}, "./comet": {"default": "./comet.js"}}
        });
        let s = Shipped::from_package(&pkg);
        for ok in [
            "/index.js",
            "/comet.js",
            "/dist/a.wasm",
            "/miniprogram/x/y.js",
            "/package.json",
        ] {
            assert!(s.permits(ok), "{ok}");
        }
        for bad in [
            "/package-lock.json",
            "/test/secret.mjs",
            "/node_modules/x/index.js",
            "/dist",
            "/dist/../test/a.mjs",
            "/dist//a.js",
            "/",
            "/index.js/",
            "/distx/a.js",
        ] {
            assert!(!s.permits(bad), "{bad}");
        }
        assert!(!Shipped::default().permits("/index.js"));
    }
}
