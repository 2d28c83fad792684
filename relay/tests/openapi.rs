//! `GET /api/v1/openapi.json` from a real relay: an OpenAPI 3.1 document in which every
//! operation is routed, every other method of a documented path is not, and every route the
//! README's API tables name is documented.

mod common;

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use common::TestRelay;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A path with its `{parameters}` filled in with names every rule accepts.
fn concrete(path: &str) -> String {
    path.replace("{user_id}", "openapi-user")
        .replace("{tunnel_id}", "openapi-tunnel")
        .replace("{name}", "openapi-news")
        .replace("{prefix}", "openapi-")
}

/// The router's own 404 (no such route), told from a handler's (no such user, …).
fn unrouted(status: u16, body: &Value) -> bool {
    status == 405 || (status == 404 && body["message"] == "no such route")
}

async fn document(r: &TestRelay) -> Result<Value> {
    let (status, doc) = r.api("GET", "/openapi.json", None).await?;
    assert_eq!(status, 200, "{doc}");
    Ok(doc)
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method() -> Result<()> {
    let r = TestRelay::start().await?;
    let anonymous = r.http.get(r.url("/api/v1/openapi.json")).send().await?;
    assert_eq!(
        anonymous.status(),
        401,
        "behind the API key like all of /api/v1"
    );
    let doc = document(&r).await?;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    // The check below can tell a missing route: an unknown path is `unrouted`.
    let (status, body) = r.api("GET", "/no-such-route", None).await?;
    assert!(unrouted(status, &body), "{status} {body}");

    let paths = doc["paths"].as_object().context("paths")?;
    let mut operations = 0;
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        let rest = path
            .strip_prefix("/api/v1")
            .context("a path outside /api/v1")?;
        let documented: Vec<String> = item
            .as_object()
            .context("path item")?
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in METHODS {
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let (status, answer) = r.api(method, &concrete(rest), body).await?;
            if documented.iter().any(|m| m == method) {
                assert!(
                    !unrouted(status, &answer),
                    "{method} {path}: {status} {answer}"
                );
                let op = &item[method.to_lowercase()];
                assert!(
                    ids.insert(op["operationId"].to_string()),
                    "{method} {path}: operationId"
                );
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: no 401"
                );
                operations += 1;
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is routed but not documented: {answer}"
                );
            }
        }
    }
    assert!(operations >= 26, "only {operations} operations documented");
    r.stop().await
}

#[tokio::test]
async fn the_readme_api_tables_name_only_documented_routes() -> Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    assert!(
        readme.contains("/api/v1/openapi.json"),
        "the README links the document"
    );
    let r = TestRelay::start().await?;
    let doc = document(&r).await?;
    let mut section = "";
    let mut named = 0;
    for line in readme.lines() {
        if line.starts_with("## ") {
            section = line;
            continue;
        }
        let api_table = section == "## Back-end API" || section.starts_with("## Channels");
        if !api_table || !line.starts_with("| `") {
            continue;
        }
        let cell = line
            .split(" | ")
            .next()
            .unwrap_or_default()
            .replace('`', " ");
        let words: Vec<&str> = cell.split_whitespace().collect();
        for pair in words.windows(2) {
            let (method, path) = (pair[0], pair[1]);
            // `PUT` / `GET /path`: the `/` between two methods is no path.
            if !METHODS.contains(&method) || !path.starts_with('/') || path == "/" {
                continue;
            }
            let path = path.split('?').next().unwrap_or(path).trim_end_matches(',');
            let op = &doc["paths"][format!("/api/v1{path}")][method.to_lowercase()];
            assert!(
                op.is_object(),
                "README names {method} {path}, not in the document"
            );
            named += 1;
        }
    }
    assert!(
        named >= 15,
        "only {named} routes found in the README's tables"
    );
    r.stop().await
}
