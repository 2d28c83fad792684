//! Requests on a native connection after the handshake. Each request gets exactly one
//! `reply` with its `id`; a request whose body cannot be read but whose `id` can still gets
//! an error reply, otherwise an `error` packet.

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::CloseCode;
use cometa_protocol::frames::{
    AckRequest, ChannelRequest, HistoryRequest, PresenceResult, PublishRequest, PublishResult,
    RequestId, StreamState, SubscribeRequest, UserDataRequest, UserDataResult,
};
use cometa_protocol::native::{self, ChannelKind, code};
use cometa_protocol::packet::{self, Packet, PacketType};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{reply_err, reply_ok};
use crate::conn::{self, Inbound, Io};
use crate::dedup::Claim;
use crate::history;
use crate::presence;
use crate::publish;
use crate::state::App;
use crate::store::StreamId;
use crate::stream;
use crate::throttle::Bucket;

/// History entries one request may ask for at most.
const MAX_HISTORY: usize = 1000;
const DEFAULT_HISTORY: usize = 50;

pub struct NativeInbound {
    app: App,
    /// The `auth` request to answer once registered (its id, and who it said the client is).
    pub(super) greeting: Option<(u64, super::auth::Identity)>,
    id: String,
    user: Option<String>,
    /// The device id `track_*` channels are told (empty for a connection without `auth`).
    device: String,
    /// Client publishes.
    publishes: Bucket,
    /// `track_*` subscriptions this connection may start: each one announces `subscription`
    /// (and later `unsubscription`) to every member, so a subscribe/unsubscribe loop would
    /// flood them. Anonymous connections are announced too, so the limit is for every one.
    track: Bucket,
}

/// A request refused: the error code and message of its reply.
type Refusal = (u16, String);

/// Parses the body as `$ty`, runs `$method`, and answers a refusal with an error reply.
macro_rules! handle {
    ($self:ident, $io:ident, $body:ident, $ty:ty, $method:ident) => {
        if let Some(req) = $self.parse::<$ty>($io, $body).await {
            let id = req.id;
            if let Err((c, m)) = $self.$method($io, req).await {
                reply_err($io, id, c, &m).await;
            }
        }
    };
}

impl Inbound for NativeInbound {
    fn device(&self) -> &str {
        &self.device
    }

    async fn text(&mut self, io: &mut Io, text: Utf8Bytes) -> Option<CloseCode> {
        let p = Packet::parse(text.as_str());
        let body = p.content.unwrap_or("{}");
        match p.kind {
            PacketType::Ping => {
                if io.send(Utf8Bytes::from_static(packet::PONG)).await.is_err() {
                    return Some(CloseCode::Normal);
                }
            }
            PacketType::Pong => {}
            PacketType::Close => return Some(CloseCode::Normal),
            PacketType::Other(native::SUBSCRIBE) => {
                handle!(self, io, body, SubscribeRequest, subscribe)
            }
            PacketType::Other(native::UNSUBSCRIBE) => {
                handle!(self, io, body, ChannelRequest, unsubscribe)
            }
            PacketType::Other(native::PUBLISH) => handle!(self, io, body, PublishRequest, publish),
            PacketType::Other(native::HISTORY) => handle!(self, io, body, HistoryRequest, history),
            PacketType::Other(native::PRESENCE) => {
                handle!(self, io, body, ChannelRequest, presence)
            }
            PacketType::Other(native::ACK) => self.ack(io, body).await,
            PacketType::Other(native::USER_DATA) => {
                handle!(self, io, body, UserDataRequest, user_data)
            }
            #[cfg(feature = "test-hooks")]
            PacketType::Other(crate::test_hooks::PANIC_PACKET) => {
                panic!("test hook: a connection task panicked")
            }
            PacketType::Other(native::AUTH) => {
                let msg = "auth is only accepted as the first frame; reconnect to change user";
                self.refuse_raw(io, body, code::ALREADY_AUTHENTICATED, msg)
                    .await;
            }
            other => {
                let msg = format!(
                    "unknown packet type {:?}",
                    conn::truncate(other.as_str(), 32)
                );
                io.error_packet(code::UNKNOWN_PACKET, &msg).await;
            }
        }
        None
    }

    async fn refuse(&mut self, io: &mut Io, body: &str, message: &str) {
        self.refuse_raw(io, body, code::BAD_REQUEST, message).await;
    }

    async fn started(&mut self, io: &mut Io) -> Result<Option<u64>, crate::store::StoreError> {
        match &self.greeting {
            Some((rid, who)) => super::greet(io, *rid, who).await,
            None => Ok(None),
        }
    }

    async fn refused(&mut self, io: &mut Io) {
        if let Some((rid, _)) = &self.greeting {
            let msg = "the user already has the maximum number of live devices";
            reply_err(io, *rid, code::LIMIT_EXCEEDED, msg).await;
        }
    }
}

impl NativeInbound {
    pub fn new(app: &App, id: String, user: Option<String>, device: String) -> Self {
        Self {
            app: app.clone(),
            greeting: None,
            id,
            user,
            device,
            publishes: Bucket::new(app.config.publish_rate, app.config.publish_burst),
            track: Bucket::new(
                app.config.track_subscribes_per_sec,
                app.config.track_subscribes_burst,
            ),
        }
    }

    /// Parses a request body; an unreadable one is refused here.
    async fn parse<R: DeserializeOwned>(&self, io: &mut Io, body: &str) -> Option<R> {
        match serde_json::from_str::<R>(body) {
            Ok(req) => Some(req),
            Err(e) => {
                let msg = format!("bad request: {e}");
                self.refuse_raw(io, body, code::BAD_REQUEST, &msg).await;
                None
            }
        }
    }

    async fn refuse_raw(&self, io: &mut Io, body: &str, c: u16, msg: &str) {
        match serde_json::from_str::<RequestId>(body)
            .ok()
            .and_then(|r| r.id)
        {
            Some(id) => reply_err(io, id, c, msg).await,
            None => io.error_packet(c, msg).await,
        }
    }

    fn check_channel(&self, name: &str) -> Result<ChannelKind, Refusal> {
        native::check_channel(name)
            .map_err(|e| (code::BAD_REQUEST, format!("channel name {e}")))?;
        Ok(ChannelKind::of(name))
    }

    fn may_read(&self, channel: &str) -> Result<ChannelKind, Refusal> {
        let kind = self.check_channel(channel)?;
        if !kind.may_subscribe(self.user.is_some()) {
            return Err((
                code::PERMISSION_DENIED,
                format!("{channel} needs an authenticated connection"),
            ));
        }
        Ok(kind)
    }

    async fn subscribe(&mut self, io: &mut Io, req: SubscribeRequest) -> Result<(), Refusal> {
        let kind = self.may_read(&req.channel)?;
        if kind == ChannelKind::Personal {
            // The personal stream flows from `auth`; subscribing to it is a no-op.
            let state = self
                .state(StreamId::Personal(self.user.as_deref().unwrap_or("")))
                .await?;
            reply_ok(
                io,
                req.id,
                &StreamState {
                    recovered: true,
                    ..state
                },
            )
            .await;
            return Ok(());
        }
        if kind == ChannelKind::Track && !self.track.take() {
            return Err((
                code::LIMIT_EXCEEDED,
                format!(
                    "at most {} track_* subscriptions per second",
                    self.app.config.track_subscribes_per_sec
                ),
            ));
        }
        if self.app.hub.subscriptions(&self.id) >= self.app.config.max_subscriptions {
            return Err((
                code::LIMIT_EXCEEDED,
                format!(
                    "at most {} subscriptions",
                    self.app.config.max_subscriptions
                ),
            ));
        }
        // No seqs on a live-only channel: an empty epoch tells the client there is nothing
        // to resume.
        let live_only = (!self.app.policy.stored(&req.channel)).then_some(StreamState {
            epoch: String::new(),
            seq: 0,
            recovered: true,
        });
        if self.app.hub.subscribe(&self.id, &req.channel).is_none() {
            let state = match live_only {
                Some(state) => state,
                None => self.state(StreamId::Channel(&req.channel)).await?,
            };
            reply_ok(io, req.id, &state).await;
            return Ok(());
        }
        self.track_changed(&req.channel, true);
        if let Some(state) = live_only {
            reply_ok(io, req.id, &state).await;
            return Ok(());
        }
        // Registered before reading the stream: anything published from here on is either
        // in the replay or in the queue, and the writer drops seqs it already sent.
        let info = self
            .app
            .store
            .stream_info(StreamId::Channel(&req.channel))
            .await
            .map_err(internal)?;
        // This connection subscribes, so the channel has its entry and id.
        let Some(channel_id) = self.app.hub.channel_id(&req.channel) else {
            return Err(internal_msg("subscribed channel has no id"));
        };
        let (after, recovered) = match &req.since {
            Some(p) if info.can_resume(&p.epoch, p.seq) => (Some(p.seq), true),
            Some(_) => (None, false),
            None => (None, true),
        };
        io.set_position(channel_id, after.unwrap_or(info.top));
        let state = StreamState {
            epoch: info.epoch,
            seq: info.top,
            recovered,
        };
        reply_ok(io, req.id, &state).await;
        if let Some(after) = after {
            stream::replay(io, StreamId::Channel(&req.channel), channel_id, after)
                .await
                .map_err(internal)?;
        }
        Ok(())
    }

    async fn state(&self, stream: StreamId<'_>) -> Result<StreamState, Refusal> {
        let info = self.app.store.stream_info(stream).await.map_err(internal)?;
        Ok(StreamState {
            epoch: info.epoch,
            seq: info.top,
            recovered: true,
        })
    }

    fn track_changed(&self, channel: &str, subscribed: bool) {
        let except = subscribed.then_some(self.id.as_str());
        let (user, device) = (self.user.as_deref(), self.device.as_str());
        presence::track_changed(&self.app, channel, except, user, device, subscribed);
    }

    async fn unsubscribe(&mut self, io: &mut Io, req: ChannelRequest) -> Result<(), Refusal> {
        self.check_channel(&req.channel)?;
        // Looked up before leaving: the last subscriber's leave frees the channel's entry.
        let id = self.app.hub.channel_id(&req.channel);
        let before = self.app.hub.subscriptions(&self.id);
        self.app.hub.unsubscribe(&self.id, &req.channel);
        if self.app.hub.subscriptions(&self.id) < before {
            self.track_changed(&req.channel, false);
        }
        if let Some(id) = id {
            io.forget(id);
        }
        reply_ok(io, req.id, &serde_json::json!({})).await;
        Ok(())
    }

    async fn publish(&mut self, io: &mut Io, req: PublishRequest) -> Result<(), Refusal> {
        let kind = self.check_channel(&req.channel)?;
        cometa_protocol::names::check_event(&req.event)
            .map_err(|e| (code::BAD_REQUEST, format!("event name {e}")))?;
        if !kind.client_may_publish(self.user.is_some()) {
            return Err((
                code::PERMISSION_DENIED,
                format!("clients may not publish to {}", req.channel),
            ));
        }
        if let Some(mid) = &req.mid {
            cometa_protocol::names::check_mid(mid)
                .map_err(|e| (code::BAD_REQUEST, format!("bad publish mid: {e}")))?;
        }
        self.take_token()?;
        let sender = match kind {
            ChannelKind::AnonymousWeb => None,
            _ => self.user.as_deref(),
        };
        let scope = req.mid.as_ref().map(|_| self.publish_scope(&req.channel));
        if let (Some(scope), Some(mid)) = (&scope, &req.mid)
            && let Claim::Seen { seq } = self.app.dedup.claim(&self.publish_sender(), scope, mid)
        {
            crate::metrics::duplicate_message();
            reply_ok(io, req.id, &PublishResult { seq }).await;
            return Ok(());
        }
        let published =
            publish::channel(&self.app, &req.channel, &req.event, req.data.get(), sender).await;
        if let (Some(scope), Some(mid)) = (&scope, &req.mid) {
            match &published {
                Ok(p) => self.app.dedup.settle(scope, mid, p.seq),
                Err(_) => self.app.dedup.release(scope, mid),
            }
        }
        let published = published.map_err(internal)?;
        reply_ok(io, req.id, &PublishResult { seq: published.seq }).await;
        Ok(())
    }

    /// Whose idempotency keys a publish's `mid` is checked against: the sender (its user, or
    /// its device, or nobody for a connection without `auth`) on that channel, apart from the
    /// Wafer messages' per-user keys. An anonymous key is as safe as its `mid` is secret: the
    /// SDK's are 16 random characters that the relay never forwards.
    fn publish_scope(&self, channel: &str) -> String {
        // A device is marked: an anonymous client naming its device like a user must not
        // share (and claim ahead) that user's keys.
        let who = match &self.user {
            Some(user) => user.clone(),
            None => format!("#dev\u{1f}{}", self.device),
        };
        ["#pub", &who, channel].join("\u{1f}")
    }

    /// Whose quota of idempotency keys a publish's key counts against: the user's (its Wafer
    /// messages' too), else the device's, else this connection's, so anonymous publishers
    /// without `auth`, who share their scope, do not share one quota a single one can use up.
    /// User ids have no `#`, so no device or connection is taken for a user.
    fn publish_sender(&self) -> String {
        match (&self.user, self.device.as_str()) {
            (Some(user), _) => user.clone(),
            (None, "") => format!("#conn\u{1f}{}", self.id),
            (None, device) => format!("#dev\u{1f}{device}"),
        }
    }

    fn take_token(&mut self) -> Result<(), Refusal> {
        if self.publishes.take() {
            return Ok(());
        }
        crate::metrics::rate_limited("publish");
        Err((
            code::LIMIT_EXCEEDED,
            format!(
                "at most {} publishes per second",
                self.app.config.publish_rate
            ),
        ))
    }

    async fn history(&mut self, io: &mut Io, req: HistoryRequest) -> Result<(), Refusal> {
        let kind = self.may_read(&req.channel)?;
        let user = self.user.clone().unwrap_or_default();
        let stream = match kind {
            ChannelKind::Personal => StreamId::Personal(&user),
            _ => StreamId::Channel(&req.channel),
        };
        let query = history::Query {
            channel: &req.channel,
            stream,
            before: req.before,
            limit: req.limit.unwrap_or(DEFAULT_HISTORY).min(MAX_HISTORY),
        };
        let page = history::page(&self.app, query).await.map_err(internal)?;
        reply_ok(io, req.id, &page).await;
        Ok(())
    }

    async fn presence(&mut self, io: &mut Io, req: ChannelRequest) -> Result<(), Refusal> {
        let kind = self.may_read(&req.channel)?;
        let result = PresenceResult {
            count: self.app.hub.subscribers(&req.channel),
            users: (kind == ChannelKind::Track).then(|| self.app.hub.members(&req.channel)),
        };
        reply_ok(io, req.id, &result).await;
        Ok(())
    }

    /// CometServer's `getUserData`: public profile data the back end set with
    /// `PUT /api/v1/users/{id}/data`; `null` when there is none.
    async fn user_data(&mut self, io: &mut Io, req: UserDataRequest) -> Result<(), Refusal> {
        cometa_protocol::names::check_user_id(&req.user_id)
            .map_err(|e| (code::BAD_REQUEST, format!("user_id {e}")))?;
        let data = self
            .app
            .store
            .user_data(&req.user_id)
            .await
            .map_err(internal)?;
        let raw = data
            .and_then(|d| RawValue::from_string(d).ok())
            .unwrap_or_else(|| RawValue::NULL.to_owned());
        // A struct, not `json!`: a `Value` would re-parse the stored data.
        let result = UserDataResult {
            user_id: &req.user_id,
            data: &raw,
        };
        reply_ok(io, req.id, &result).await;
        Ok(())
    }

    async fn ack(&mut self, io: &mut Io, body: &str) {
        match serde_json::from_str::<AckRequest>(body) {
            // Only what this connection was sent can be acknowledged.
            Ok(a) if a.seq <= io.position(stream::PERSONAL) => io.advance_cursor(a.seq),
            Ok(_) => {
                io.error_packet(code::BAD_REQUEST, "ack of a seq not yet sent")
                    .await
            }
            Err(e) => {
                io.error_packet(code::BAD_PACKET, &format!("bad ack: {e}"))
                    .await
            }
        }
    }
}

fn internal(e: crate::store::StoreError) -> Refusal {
    tracing::error!(error = %e, "store failure");
    (code::INTERNAL, "internal error".into())
}

fn internal_msg(what: &str) -> Refusal {
    tracing::error!(what, "internal error");
    (code::INTERNAL, "internal error".into())
}
