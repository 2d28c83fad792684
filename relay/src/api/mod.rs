//! HTTP routes: Wafer's client-facing `/weapp/*`, the back-end `/api/v1/*`, health and the
//! demo page.

pub(crate) mod backend;
pub(crate) mod channels;
mod connect;
mod demo;
mod embedded;
pub(crate) mod extract;
mod health;
mod login;
mod openapi;
mod sdk;
mod stats;
mod users;
mod weapp;

pub use stats::metrics_router;

pub(crate) use login::ClientAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::App;

pub fn router(app: App) -> Router {
    let cfg = app.config.clone();
    if cfg.anonymous && cfg.allowed_origins.is_empty() {
        tracing::warn!(
            "--anonymous without --allowed-origins: the visitor cookie works for pages served \
             by the relay itself only (cross-origin requests get no credentials)"
        );
    }
    let weapp = weapp::routes().layer(cors(
        &cfg.allowed_origins,
        cfg.anonymous,
        &cfg.auth_verify_headers,
    ));
    // One list routes /api/v1 and documents it.
    let (v1, v1_doc) = OpenApiRouter::with_openapi(openapi::base())
        .nest(
            "/api/v1",
            backend::routes()
                .merge(channels::routes())
                .merge(users::routes())
                .merge(stats::routes()),
        )
        .split_for_parts();
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .merge(weapp)
        .route("/connect", get(connect::upgrade))
        .route("/metrics", get(stats::metrics))
        .merge(v1)
        .route(openapi::PATH, openapi::serve(v1_doc))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() });
    if cfg.demo {
        router = router.merge(demo::routes().layer(DefaultBodyLimit::max(cfg.max_body_bytes)));
    }
    if let Some(dir) = &cfg.sdk_dir {
        router = router.nest_service("/sdk", sdk::routes(dir));
    } else if cfg.demo {
        router = router.nest_service("/sdk", embedded::sdk_routes());
    }
    #[cfg(feature = "test-hooks")]
    {
        router = router.route("/test-hooks/panic", get(crate::test_hooks::panic_handler));
    }
    router = match &cfg.static_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir).fallback(not_found_service())),
        // `--demo` started outside the repository: the page built into the binary.
        None if cfg.demo => router.fallback(embedded::demo_page),
        None => router.fallback(not_found),
    };
    router
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(app)
}

/// A handler that panicked answers like any other internal error; its connection and the
/// relay keep serving.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    // The panic's message may quote request data: it is not logged.
    tracing::error!("a request handler panicked");
    let body = cometa_protocol::api::ErrorBody {
        code: 500,
        error: "ERR_INTERNAL".into(),
        message: "internal error".into(),
    };
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(body),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

fn not_found_service() -> axum::routing::MethodRouter {
    get(not_found).fallback(not_found)
}

/// Pages are usually served from another origin than the relay; the session travels in a
/// header (`X-WX-Skey`), not a cookie, so no credentials mode is needed — except for the
/// anonymous visitor cookie: with `--anonymous` and an `--allowed-origins` list the answer
/// allows credentials for those origins. Without a list it never does: echoing any origin
/// with credentials would let every site on the web log its visitors in as their visitor
/// identity and read the answer. Such a relay serves the cookie to same-origin pages only.
/// The `--auth-verify-headers` a site names are allowed too, so its `extendedAuth` headers
/// pass the browser's preflight.
fn cors(allowed: &[String], credentials: bool, extra_headers: &[String]) -> CorsLayer {
    let origin = if allowed.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(allowed.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let credentials = credentials && !allowed.is_empty();
    CorsLayer::new()
        .allow_origin(origin)
        .allow_credentials(credentials)
        .expose_headers([axum::http::header::RETRY_AFTER])
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(
            [
                "content-type",
                "x-wx-code",
                "x-wx-encrypted-data",
                "x-wx-iv",
                "x-wx-id",
                "x-wx-skey",
                "x-wx-remember",
                "authorization",
            ]
            .map(HeaderName::from_static)
            .into_iter()
            .chain(
                extra_headers
                    .iter()
                    .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok()),
            )
            .collect::<Vec<_>>(),
        )
        .max_age(std::time::Duration::from_secs(600))
}
