//! Every JSON body the relay's HTTP routes read (`/api/v1/*` with the API key, and the login
//! body of `/weapp/login`), sent to a real relay in this process.
//!
//! Input: a route selector byte, a flags byte (bit 0: the path parameter comes from the input's
//! first line instead of a valid fixed name), then the body.
//!
//! Properties: every request gets an answer within the harness's wait; no answer is a 5xx
//! other than a 503 (busy); every 4xx/5xx is the `{code, error, message}` envelope with
//! `code` equal to the status (`-1` allowed for Wafer's login failures); every 2xx body is
//! JSON; and after any accepted publish, the channel's history still answers 200 with JSON
//! (a stored payload must never break later reads: issue 12, item 1).

#![no_main]

use cometa_fuzz::{relay, request, segment};
use cometa_protocol::api::ErrorBody;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// Method, path with `{}` for the parameter, and the valid parameter.
const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/api/v1/channels/{}/messages", "web_fz"),
    ("POST", "/api/v1/users/{}/messages", "fz"),
    ("POST", "/api/v1/login-codes", ""),
    ("POST", "/api/v1/tunnels/{}/messages", "t1"),
    ("POST", "/api/v1/broadcast", ""),
    ("PUT", "/api/v1/channel-settings/{}", "fzlive_"),
    ("PUT", "/api/v1/users/{}/key", "fz2"),
    ("PUT", "/api/v1/users/{}/data", "fz"),
    ("POST", "/api/v1/users/last-seen", ""),
    ("POST", "/api/v1/users", ""),
    ("POST", "/api/v1/users/delete", ""),
    ("PATCH", "/api/v1/users/{}", "fz3"),
    ("POST", "/api/v1/users/{}/merge", "fz3"),
    ("POST", "/weapp/login", ""),
    ("GET", "/api/v1/channels/{}/history?limit=5", "web_fz"),
];

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let (method, template, fixed) = ROUTES[usize::from(*route) % ROUTES.len()];
    let (param, body) = if flags & 1 == 1 {
        let (p, b) = split_line(rest);
        // Any bytes: a parameter that percent-decodes to invalid UTF-8 must get the
        // envelope too (it once got axum's plain-text 400).
        (segment(p), b)
    } else {
        (fixed.to_owned(), rest)
    };
    let path = template.replace("{}", &param);
    let addr = relay();
    let (status, resp) = request(addr, method, &path, body);
    check(method, &path, status, &resp);
    if template.contains("/messages") && template.starts_with("/api/v1/channels") && status < 300 {
        let history = format!("/api/v1/channels/{param}/history?limit=1000");
        let (status, resp) = request(addr, "GET", &history, b"");
        assert_eq!(
            status,
            200,
            "history after a stored publish: {}",
            lossy(&resp)
        );
        check("GET", &history, status, &resp);
    }
});

fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, b""),
    }
}

fn check(method: &str, path: &str, status: u16, resp: &[u8]) {
    assert!(
        status < 500 || status == 503,
        "{method} {path} answered {status}: {}",
        lossy(resp)
    );
    if status >= 400 {
        let e: ErrorBody = serde_json::from_slice(resp).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: {status} without the error envelope ({e}): {}",
                lossy(resp)
            )
        });
        let wafer_auth = path.starts_with("/weapp/") && e.code == -1;
        assert!(
            wafer_auth || e.code == i32::from(status),
            "{method} {path}: status {status} but code {}",
            e.code
        );
        assert!(!e.error.is_empty(), "{method} {path}: empty error name");
    } else if status != 204 && !resp.is_empty() {
        assert!(
            serde_json::from_slice::<Box<RawValue>>(resp).is_ok(),
            "{method} {path}: {status} with a body that is not JSON: {}",
            lossy(resp)
        );
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}
