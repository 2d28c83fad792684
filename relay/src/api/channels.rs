//! The back-end API for channels, user keys, `users_data` and channel settings.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use cometa_protocol::CloseCode;
use cometa_protocol::api::ErrorBody;
use cometa_protocol::native::{self, ChannelKind};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiKey, Body, Path, user_id};
use super::openapi;
use crate::error::ApiError;
use crate::secret;
use crate::state::App;
use crate::store::Retention;
use crate::store::StreamId;

/// Entries one history call returns at most.
const MAX_HISTORY: usize = 1000;
/// User ids one last-seen call may ask about.
const MAX_LAST_SEEN_IDS: usize = 1000;

/// The routes under `/users/` are listed with the others in [`super::users::routes`].
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(publish))
        .routes(routes!(history))
        .routes(routes!(presence))
        .routes(routes!(list_settings))
        .routes(routes!(put_setting, delete_setting))
}

pub(crate) fn channel(name: &str) -> Result<ChannelKind, ApiError> {
    native::check_channel(name).map_err(|e| ApiError::BadRequest(format!("channel name {e}")))?;
    match ChannelKind::of(name) {
        ChannelKind::Personal => Err(ApiError::BadRequest(
            "`msg` is per user: use POST /api/v1/users/{user_id}/messages".into(),
        )),
        kind => Ok(kind),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishBody {
    event: String,
    #[serde(default = "null_raw")]
    #[schema(value_type = serde_json::Value)]
    data: Box<RawValue>,
}

fn null_raw() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

#[utoipa::path(
    post,
    path = "/channels/{name}/messages",
    operation_id = "publish",
    tag = "channels",
    summary = "Publish to a channel",
    params(("name" = String, Path, description = "The channel's name")),
    request_body = PublishBody,
    responses(
        (status = 200, description = "Stored (unless live-only), then sent to the subscribers", body = Published),
        openapi::Refused
    )
)]
pub(super) async fn publish(
    _: ApiKey,
    State(app): State<App>,
    Path(name): Path<String>,
    Body(req): Body<PublishBody>,
) -> Result<Json<Published>, ApiError> {
    channel(&name)?;
    cometa_protocol::names::check_event(&req.event)
        .map_err(|e| ApiError::BadRequest(format!("event name {e}")))?;
    let p = crate::publish::channel(&app, &name, &req.event, req.data.get(), None).await?;
    Ok(Json(Published {
        seq: p.seq,
        delivered: p.delivered,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Published {
    /// The message's position in the channel; null on a live-only channel (nothing stored).
    seq: Option<u64>,
    /// Subscribed connections it was sent to.
    delivered: usize,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HistoryQuery {
    limit: Option<usize>,
    before: Option<u64>,
}

/// Written out as encoded, never through a `Value` (see [`crate::history`]).
#[utoipa::path(
    get,
    path = "/channels/{name}/history",
    operation_id = "history",
    tag = "channels",
    summary = "A page of a channel's history",
    params(("name" = String, Path, description = "The channel's name"), HistoryQuery),
    responses(
        (status = 200, description = "`{\"epoch\",\"seq\",\"publications\",\"more\"}`, oldest first", body = Object),
        openapi::Refused
    )
)]
pub(super) async fn history(
    _: ApiKey,
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Box<RawValue>>, ApiError> {
    channel(&name)?;
    let query = crate::history::Query {
        channel: &name,
        stream: StreamId::Channel(&name),
        before: q.before,
        limit: q.limit.unwrap_or(100).min(MAX_HISTORY),
    };
    Ok(Json(crate::history::page(&app, query).await?))
}

#[utoipa::path(
    get,
    path = "/channels/{name}/presence",
    operation_id = "channel_presence",
    tag = "channels",
    summary = "A channel's subscribers",
    params(("name" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "Subscribers, and the authenticated members", body = ChannelPresence),
        openapi::Refused
    )
)]
pub(super) async fn presence(
    _: ApiKey,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ChannelPresence>, ApiError> {
    channel(&name)?;
    Ok(Json(ChannelPresence {
        count: app.hub.subscribers(&name),
        users: app.hub.members(&name),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ChannelPresence {
    /// Connections subscribed.
    count: usize,
    /// The authenticated users among them.
    users: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingBody {
    history_len: u64,
    history_age_secs: u64,
}

#[utoipa::path(
    put,
    path = "/channel-settings/{prefix}",
    operation_id = "put_setting",
    tag = "channels",
    summary = "Set the retention of channels with a prefix",
    params(("prefix" = String, Path, description = "A channel-name prefix")),
    request_body = SettingBody,
    responses(
        (status = 200, description = "Stored and applied at once", body = Setting),
        openapi::Refused
    )
)]
pub(super) async fn put_setting(
    _: ApiKey,
    State(app): State<App>,
    Path(prefix): Path<String>,
    Body(req): Body<SettingBody>,
) -> Result<Json<Setting>, ApiError> {
    let r = Retention {
        max_len: req.history_len,
        max_age_secs: req.history_age_secs,
    };
    set_retention(&app, &prefix, r).await?;
    Ok(Json(Setting::new(prefix, r)))
}

/// The retention of the channels whose names start with `prefix`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Setting {
    prefix: String,
    history_len: u64,
    history_age_secs: u64,
}

impl Setting {
    fn new(prefix: String, r: Retention) -> Self {
        Self {
            prefix,
            history_len: r.max_len,
            history_age_secs: r.max_age_secs,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Settings {
    settings: Vec<Setting>,
}

/// Stores a prefix's retention and applies it at once (also CometQL's `pipes_settings`).
pub(crate) async fn set_retention(app: &App, prefix: &str, r: Retention) -> Result<(), ApiError> {
    if prefix.is_empty() || prefix.len() > native::MAX_CHANNEL_LEN {
        return Err(ApiError::BadRequest("prefix must be 1–128 bytes".into()));
    }
    if r.max_len > 0 && r.max_age_secs == 0 {
        return Err(ApiError::BadRequest(
            "history_age_secs must be greater than 0 (or history_len 0 for a live-only channel)"
                .into(),
        ));
    }
    app.store.set_channel_setting(prefix, r).await?;
    app.policy.set(prefix, r);
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/channel-settings/{prefix}",
    operation_id = "delete_setting",
    tag = "channels",
    summary = "Drop a prefix's retention setting",
    params(("prefix" = String, Path, description = "A channel-name prefix")),
    responses(
        (status = 200, description = "The setting is gone; the prefix falls back to a shorter prefix's or the default", body = SettingDeleted),
        (status = 404, description = "No setting for the prefix", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn delete_setting(
    _: ApiKey,
    State(app): State<App>,
    Path(prefix): Path<String>,
) -> Result<Json<SettingDeleted>, ApiError> {
    if !remove_retention(&app, &prefix).await? {
        return Err(ApiError::NotFound(format!(
            "no setting for prefix {prefix:?}"
        )));
    }
    Ok(Json(SettingDeleted { deleted: prefix }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SettingDeleted {
    /// The prefix.
    deleted: String,
}

/// Whether a setting existed; the prefix falls back to the longer-prefix or default retention.
pub(crate) async fn remove_retention(app: &App, prefix: &str) -> Result<bool, ApiError> {
    let existed = app.store.delete_channel_setting(prefix).await?;
    if existed {
        app.policy.remove(prefix);
    }
    Ok(existed)
}

#[utoipa::path(
    get,
    path = "/channel-settings",
    operation_id = "list_settings",
    tag = "channels",
    summary = "Retention settings by prefix",
    responses(
        (status = 200, description = "Every prefix's setting", body = Settings),
        openapi::Refused
    )
)]
pub(super) async fn list_settings(_: ApiKey, State(app): State<App>) -> Json<Settings> {
    let settings = app
        .policy
        .list()
        .into_iter()
        .map(|(p, r)| Setting::new(p, r))
        .collect();
    Json(Settings { settings })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyBody {
    key: String,
}

/// CometServer's `users_auth`: the key a page passes to `start({user_id, user_key})`.
#[utoipa::path(
    put,
    path = "/users/{user_id}/key",
    operation_id = "put_key",
    tag = "users",
    summary = "Register the key a page passes to CometServer's start()",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = KeyBody,
    responses(
        (status = 200, description = "The key is registered", body = UserRef),
        openapi::Refused
    )
)]
pub(super) async fn put_key(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(req): Body<KeyBody>,
) -> Result<Json<UserRef>, ApiError> {
    set_key(&app, &uid, &req.key).await?;
    Ok(Json(UserRef { user_id: uid }))
}

/// The user a write was for.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct UserRef {
    user_id: String,
}

/// Also CometQL's `users_auth` insert.
pub(crate) async fn set_key(app: &App, uid: &str, key: &str) -> Result<(), ApiError> {
    user_id(uid)?;
    if key.len() < 8 || key.len() > 256 {
        return Err(ApiError::BadRequest("key must be 8–256 bytes".into()));
    }
    app.store.set_user_key(uid, secret::hash(key)).await?;
    Ok(())
}

/// Revokes the key and disconnects the user's live connections.
#[utoipa::path(
    delete,
    path = "/users/{user_id}/key",
    operation_id = "delete_key",
    tag = "users",
    summary = "Revoke a user's key and close its connections",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The key is revoked and the user's live connections closed", body = KeyRevoked),
        (status = 404, description = "No key and no live connection for the user", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn delete_key(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<KeyRevoked>, ApiError> {
    let (existed, closed) = revoke_key(&app, &uid).await?;
    if !existed && closed == 0 {
        return Err(ApiError::NotFound(format!("no key for user {uid:?}")));
    }
    Ok(Json(KeyRevoked {
        deleted: existed,
        closed_connections: closed,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyRevoked {
    /// Whether a key was registered.
    deleted: bool,
    closed_connections: usize,
}

/// Whether a key existed, and how many live connections of the user were closed. Also
/// CometQL's `users_auth` delete.
pub(crate) async fn revoke_key(app: &App, uid: &str) -> Result<(bool, usize), ApiError> {
    user_id(uid)?;
    let existed = app.store.delete_user_key(uid).await?;
    let closed = app.hub.close_user(uid, None, CloseCode::SessionRevoked);
    Ok((existed, closed))
}

#[utoipa::path(
    put,
    path = "/users/{user_id}/data",
    operation_id = "put_data",
    tag = "users",
    summary = "Set a user's public data (users_data)",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = Object,
    responses(
        (status = 200, description = "The data is stored", body = UserRef),
        openapi::Refused
    )
)]
pub(super) async fn put_data(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(data): Body<Box<RawValue>>,
) -> Result<Json<UserRef>, ApiError> {
    user_id(&uid)?;
    if !data.get().trim_start().starts_with('{') {
        return Err(ApiError::BadRequest(
            "user data must be a JSON object".into(),
        ));
    }
    app.store.set_user_data(&uid, data.get()).await?;
    Ok(Json(UserRef { user_id: uid }))
}

#[utoipa::path(
    get,
    path = "/users/{user_id}/data",
    operation_id = "get_data",
    tag = "users",
    summary = "A user's public data",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The JSON object stored for the user", body = Object),
        (status = 404, description = "No data for the user", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn get_data(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    user_id(&uid)?;
    let data = app
        .store
        .user_data(&uid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no data for user {uid:?}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        data,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LastSeenBody {
    user_ids: Vec<String>,
}

/// CometQL's `users_time`: when each user was last connected (now, if online).
#[utoipa::path(
    post,
    path = "/users/last-seen",
    operation_id = "last_seen",
    tag = "users",
    summary = "When users were last connected",
    request_body = LastSeenBody,
    responses(
        (status = 200, description = "Each user id asked about, with the unix seconds it was last connected (now if online; null if never)", body = BTreeMap<String, Option<u64>>),
        openapi::Refused
    )
)]
pub(super) async fn last_seen(
    _: ApiKey,
    State(app): State<App>,
    Body(req): Body<LastSeenBody>,
) -> Result<Json<BTreeMap<String, Option<u64>>>, ApiError> {
    if req.user_ids.len() > MAX_LAST_SEEN_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_LAST_SEEN_IDS} user_ids per call"
        )));
    }
    let mut out = BTreeMap::new();
    for uid in req.user_ids {
        user_id(&uid)?;
        let seen = if app.hub.devices(&uid) > 0 {
            Some(crate::unix_now())
        } else {
            app.store.last_seen(&uid).await?
        };
        out.insert(uid, seen);
    }
    Ok(Json(out))
}

use axum::response::IntoResponse;
