//! The users API under `/api/v1/users` (API key): register, read, edit, delete (one or many)
//! and merge an anonymous visitor into a user. Passwords go in, are hashed with Argon2id, and
//! never come out — not in answers, not in logs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cometa_protocol::CloseCode;
use cometa_protocol::api::{
    ErrorBody, LoginCodeRequest, Presence, PushRequest, PushResponse, RevokedResponse,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiKey, Body, Path, event_name, user_id};
use super::{channels, openapi};
use crate::auth::{password, visitor};
use crate::error::ApiError;
use crate::state::App;
use crate::store::{Profile, ProfilePatch, WriteMode, WriteOutcome};
use crate::unix_now;

/// Users deleted by one call at most.
const MAX_DELETE_IDS: usize = 1000;
const MAX_USERNAME: usize = 64;
const MAX_EMAIL: usize = 254;
const MAX_URL: usize = 2048;

/// Every route under `/api/v1/users`, wherever its handler lives.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(delete_many))
        .routes(routes!(read, update, delete_one))
        .routes(routes!(merge))
        .routes(routes!(push_to_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(presence))
        .routes(routes!(channels::put_key, channels::delete_key))
        .routes(routes!(channels::get_data, channels::put_data))
        .routes(routes!(channels::last_seen))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUser {
    #[serde(default)]
    user_id: Option<String>,
    username: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    userinfo: Option<Value>,
}

/// Absent fields stay as they are; `null` clears.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateUser {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    password: Option<Option<String>>,
    #[serde(default)]
    userinfo: Option<Value>,
}

/// Tells `"field": null` (`Some(None)`) from a missing field (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteMany {
    user_ids: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MergeRequest {
    visitor_id: String,
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "create_user",
    tag = "users",
    summary = "Register a user",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The new user's profile (never the password)", body = Object),
        (status = 409, description = "The id or the username is taken", body = ErrorBody),
        (status = 503, description = "Every password hasher is busy; retry", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn create(
    _: ApiKey,
    State(app): State<App>,
    Body(req): Body<CreateUser>,
) -> Result<Response, ApiError> {
    let uid = match req.user_id {
        Some(id) => {
            user_id(&id)?;
            if id.starts_with(visitor::PREFIX) {
                return Err(ApiError::BadRequest(format!(
                    "user ids starting with {:?} are reserved for visitors",
                    visitor::PREFIX
                )));
            }
            id
        }
        None => format!("u_{}", crate::secret::generate_id()),
    };
    let mut patch = profile_fields(
        Some(Some(req.username)),
        req.email.map(Some),
        req.avatar_url.map(Some),
        req.userinfo,
    )?;
    if let Some(pw) = req.password {
        patch.password_hash = Some(Some(hash(&app, pw).await?));
    }
    let profile = write(&app, &uid, patch, WriteMode::Create).await?;
    tracing::info!(user = %uid, "user registered");
    Ok((StatusCode::CREATED, Json(profile)).into_response())
}

#[utoipa::path(
    get,
    path = "/users/{user_id}",
    operation_id = "read_user",
    tag = "users",
    summary = "A user's profile",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user's profile", body = Object),
        (status = 404, description = "No such user", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn read(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    user_id(&uid)?;
    app.auth
        .accounts
        .profile(&uid)
        .await?
        .map(Json)
        .ok_or_else(|| no_user(&uid))
}

#[utoipa::path(
    patch,
    path = "/users/{user_id}",
    operation_id = "update_user",
    tag = "users",
    summary = "Edit a user: absent fields stay, null clears",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The updated profile", body = Object),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn update(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(req): Body<UpdateUser>,
) -> Result<Json<Profile>, ApiError> {
    user_id(&uid)?;
    let mut patch = profile_fields(req.username, req.email, req.avatar_url, req.userinfo)?;
    patch.password_hash = match req.password {
        Some(Some(pw)) => Some(Some(hash(&app, pw).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let profile = write(&app, &uid, patch, WriteMode::Update).await?;
    tracing::info!(user = %uid, "user updated");
    Ok(Json(profile))
}

#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    operation_id = "delete_user",
    tag = "users",
    summary = "Delete a user with its sessions, tunnels and data",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, its sessions and its data are gone", body = Deleted),
        (status = 404, description = "No such user", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn delete_one(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    user_id(&uid)?;
    let (existed, revoked, closed) = remove(&app, &uid).await?;
    if !existed && revoked == 0 {
        return Err(no_user(&uid));
    }
    Ok(Json(Deleted {
        deleted: 1,
        not_found: None,
        revoked_sessions: revoked,
        closed_tunnels: closed,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Deleted {
    /// Users deleted.
    deleted: usize,
    /// The ids asked for that named no user (`POST /users/delete` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    not_found: Option<Vec<String>>,
    revoked_sessions: usize,
    closed_tunnels: usize,
}

#[utoipa::path(
    post,
    path = "/users/delete",
    operation_id = "delete_users",
    tag = "users",
    summary = "Delete many users",
    request_body = DeleteMany,
    responses(
        (status = 200, description = "The users found are gone, with their sessions and data", body = Deleted),
        openapi::Refused
    )
)]
pub(super) async fn delete_many(
    _: ApiKey,
    State(app): State<App>,
    Body(req): Body<DeleteMany>,
) -> Result<Json<Deleted>, ApiError> {
    if req.user_ids.len() > MAX_DELETE_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_DELETE_IDS} user_ids per call"
        )));
    }
    for id in &req.user_ids {
        user_id(id)?;
    }
    let (mut deleted, mut revoked_sessions, mut closed_tunnels) = (0, 0, 0);
    let mut not_found = Vec::new();
    for id in req.user_ids {
        let (existed, revoked, closed) = remove(&app, &id).await?;
        revoked_sessions += revoked;
        closed_tunnels += closed;
        if existed || revoked > 0 {
            deleted += 1;
        } else {
            not_found.push(id);
        }
    }
    Ok(Json(Deleted {
        deleted,
        not_found: Some(not_found),
        revoked_sessions,
        closed_tunnels,
    }))
}

/// Sessions first, then live tunnels, then the data: once this returns, nothing the user held
/// works any more.
async fn remove(app: &App, uid: &str) -> Result<(bool, usize, usize), ApiError> {
    let revoked = app.store.revoke_user_sessions(uid).await?;
    app.tickets.revoke_user(uid);
    let closed = app.hub.close_user(uid, None, CloseCode::SessionRevoked);
    let existed = app.auth.accounts.delete_user(uid).await?;
    tracing::info!(user = %uid, revoked, closed, "user deleted");
    Ok((existed, revoked, closed))
}

/// Moves a visitor's personal messages to the user (after the user's own, in their order),
/// delivers them to the user's live devices, then deletes the visitor.
#[utoipa::path(
    post,
    path = "/users/{user_id}/merge",
    operation_id = "merge_visitor",
    tag = "users",
    summary = "Merge an anonymous visitor into a user",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The visitor's messages are the user's, and the visitor is gone", body = Merged),
        (status = 404, description = "No such visitor", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn merge(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(req): Body<MergeRequest>,
) -> Result<Json<Merged>, ApiError> {
    user_id(&uid)?;
    user_id(&req.visitor_id)?;
    if !req.visitor_id.starts_with(visitor::PREFIX) || req.visitor_id == uid {
        return Err(ApiError::BadRequest(format!(
            "visitor_id must be a visitor's id ({:?}…) other than the user's",
            visitor::PREFIX
        )));
    }
    let moved = app
        .auth
        .accounts
        .merge_visitor(
            &uid,
            &req.visitor_id,
            app.config.queue_max_len,
            app.fanout.after_merge(&uid),
        )
        .await?
        .ok_or_else(|| no_user(&req.visitor_id))?;
    let closed = app
        .hub
        .close_user(&req.visitor_id, None, CloseCode::SessionRevoked);
    tracing::info!(user = %uid, merged = moved.len(), closed, "visitor merged");
    Ok(Json(Merged {
        merged_messages: moved.len(),
        last_seq: moved.last().map(|m| m.seq),
        closed_tunnels: closed,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Merged {
    merged_messages: usize,
    /// The user's stream position of the last message moved; null when none was.
    last_seq: Option<u64>,
    /// The visitor's connections, closed.
    closed_tunnels: usize,
}

/// `POST /login-codes` with profile fields: stores them (creating the user when missing) and
/// returns `None` so the login code keeps the merged profile. Without them, the given
/// `userinfo` as before.
pub async fn login_code_userinfo(
    app: &App,
    req: &LoginCodeRequest,
) -> Result<Option<String>, ApiError> {
    let userinfo = match &req.userinfo {
        Some(v) if v.is_object() => Some(v.clone()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "userinfo must be a JSON object".into(),
            ));
        }
        None => None,
    };
    if req.username.is_none() && req.email.is_none() && req.avatar_url.is_none() {
        return Ok(userinfo.map(|v| v.to_string()));
    }
    let patch = profile_fields(
        req.username.clone().map(Some),
        req.email.clone().map(Some),
        req.avatar_url.clone().map(Some),
        userinfo,
    )?;
    write(app, &req.user_id, patch, WriteMode::Upsert).await?;
    Ok(None)
}

fn profile_fields(
    username: Option<Option<String>>,
    email: Option<Option<String>>,
    avatar_url: Option<Option<String>>,
    userinfo: Option<Value>,
) -> Result<ProfilePatch, ApiError> {
    let bad = |m: &str| Err(ApiError::BadRequest(m.into()));
    if let Some(Some(u)) = &username
        && (u.is_empty()
            || u.len() > MAX_USERNAME
            || u.trim() != u
            || u.chars().any(|c| c == ':' || c.is_control()))
    {
        return bad(
            "username must be 1 to 64 bytes, without ':', control characters or outer spaces",
        );
    }
    if let Some(Some(e)) = &email
        && (e.len() > MAX_EMAIL
            || !e.contains('@')
            || e.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return bad("email must look like an address (at most 254 bytes)");
    }
    if let Some(Some(a)) = &avatar_url
        && (a.len() > MAX_URL || !(a.starts_with("https://") || a.starts_with("http://")))
    {
        return bad("avatar_url must be an http(s) URL of at most 2048 bytes");
    }
    let userinfo: Option<Map<String, Value>> = match userinfo {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return bad("userinfo must be a JSON object"),
    };
    Ok(ProfilePatch {
        username,
        email,
        avatar_url,
        password_hash: None,
        userinfo,
    })
}

async fn hash(app: &App, password: String) -> Result<String, ApiError> {
    app.auth.hasher.hash(password).await.map_err(|e| match e {
        password::PasswordError::Length => ApiError::BadRequest(e.to_string()),
        password::PasswordError::Busy => ApiError::Unavailable(e.to_string()),
        password::PasswordError::Hash(_) => {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::Unavailable("cannot hash the password now".into())
        }
    })
}

async fn write(
    app: &App,
    uid: &str,
    patch: ProfilePatch,
    mode: WriteMode,
) -> Result<Profile, ApiError> {
    match app
        .auth
        .accounts
        .write_profile(uid, patch, mode, unix_now())
        .await?
    {
        WriteOutcome::Done(p) => Ok(p),
        WriteOutcome::UserExists => Err(ApiError::Conflict(format!("user {uid:?} already exists"))),
        WriteOutcome::UsernameTaken => {
            Err(ApiError::Conflict("the username is already taken".into()))
        }
        WriteOutcome::NotFound => Err(no_user(uid)),
    }
}

fn no_user(uid: &str) -> ApiError {
    ApiError::NotFound(format!("no user {uid:?}"))
}

#[utoipa::path(
    post,
    path = "/users/{user_id}/messages",
    operation_id = "push_to_user",
    tag = "users",
    summary = "Push a message to a user's personal stream",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = PushRequest,
    responses(
        (status = 200, description = "Stored, then sent to every live tunnel of the user", body = PushResponse),
        openapi::Refused
    )
)]
pub(super) async fn push_to_user(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(req): Body<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    user_id(&uid)?;
    event_name(&req.event)?;
    let published = crate::publish::personal(&app, &uid, &req.event, req.data.get()).await?;
    let seq = published.seq.unwrap_or_default();
    let delivered = published.delivered;
    Ok(Json(PushResponse { seq, delivered }))
}

#[utoipa::path(
    delete,
    path = "/users/{user_id}/sessions",
    operation_id = "revoke_sessions",
    tag = "users",
    summary = "Log a user out everywhere",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every session of the user revoked and its tunnels closed", body = RevokedResponse),
        openapi::Refused
    )
)]
pub(super) async fn revoke_sessions(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    user_id(&uid)?;
    let revoked_sessions = app.store.revoke_user_sessions(&uid).await?;
    app.tickets.revoke_user(&uid);
    let closed_tunnels = app.hub.close_user(&uid, None, CloseCode::SessionRevoked);
    tracing::info!(user = %uid, revoked_sessions, closed_tunnels, "sessions revoked");
    Ok(Json(RevokedResponse {
        revoked_sessions,
        closed_tunnels,
    }))
}

#[utoipa::path(
    get,
    path = "/users/{user_id}/presence",
    operation_id = "user_presence",
    tag = "users",
    summary = "A user's presence",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Whether the user is connected, on how many devices", body = Presence),
        openapi::Refused
    )
)]
pub(super) async fn presence(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<Presence>, ApiError> {
    user_id(&uid)?;
    let devices = app.hub.devices(&uid);
    let last_seen = if devices > 0 {
        Some(unix_now())
    } else {
        app.store.last_seen(&uid).await?
    };
    Ok(Json(Presence {
        online: devices > 0,
        devices,
        last_seen,
    }))
}
