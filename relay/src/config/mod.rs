//! Start-up configuration: each setting is one field of [`Config`], declared once with its
//! flag, its `COMETA_*` environment twin, its default and its parser; its TOML key is the
//! flag without `--`.
//!
//! Precedence is flag > environment > TOML file (`--config`) > default: clap reads the first
//! two and the defaults, and the file's settings are handed to clap as flags for whatever the
//! command line and the environment left unset ([`file`]), so all three go through the same
//! parsers. Checks that span settings are in [`validate`]; `docs/config.md` is generated from
//! this definition ([`reference`]).

mod choices;
mod derived;
mod exposure;
mod file;
mod load;
mod parse;
pub mod reference;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgAction::Set;
use clap::Parser;
use clap::builder::BoolishValueParser;

pub use choices::{Durability, LogFormat};

/// Jobs waiting for the store thread at most, unless `--store-queue` says otherwise.
pub const DEFAULT_STORE_QUEUE: usize = 8192;
/// See [`Config::store_checkpoint_pages`].
pub const DEFAULT_CHECKPOINT_PAGES: u32 = 8000;
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid setting `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// Unknown flags, `--help` and `--version`: clap prints and exits ([`clap::Error::exit`]).
    #[error(transparent)]
    Args(Box<clap::Error>),
}

/// The settings the relay runs with. Every limit is a field here; see `docs/config.md`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cometa-relay",
    version,
    about = "Cometa relay: login, sessions and real-time tunnels",
    after_help = "`cometa-relay healthcheck [OPTIONS]` asks the relay at --listen for /healthz: \
                  exit 0 when it answers 200, else 1 (the container image's HEALTHCHECK).\n\
                  `cometa-relay config-reference` prints docs/config.md, this list as a table.\n\
                  Each flag is also a TOML key of the --config file (the flag without `--`)."
)]
pub struct Config {
    /// TOML file with any of these settings (the flags' names without `--`) [default: none].
    #[arg(long = "config", env = "COMETA_CONFIG")]
    pub config_file: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "COMETA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the embedded store and the generated API key.
    #[arg(long, env = "COMETA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Bearer key of the back-end API, at least 16 characters [default: generated on first
    /// start and kept in `<data-dir>/api-key`].
    #[arg(long, env = "COMETA_API_KEY", hide_env_values = true, value_parser = parse::api_key)]
    pub api_key: Option<String>,
    /// URL that receives tunnel events (connect, message, close) [default: off].
    #[arg(long, env = "COMETA_WEBHOOK_URL", value_parser = parse::url)]
    pub webhook_url: Option<reqwest::Url>,
    /// HMAC-SHA256 key of the webhook signature [default: the API key].
    #[arg(long, env = "COMETA_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Public base URL used to build `connectUrl` [default: from the request's Host, `wss`
    /// when `X-Forwarded-Proto: https`].
    #[arg(long, env = "COMETA_PUBLIC_URL", value_parser = parse::public_url)]
    pub public_url: Option<String>,
    /// Origins allowed for CORS and WebSocket upgrades, comma-separated; only listed ones get
    /// credentials (the visitor cookie) [default: any, without credentials].
    #[arg(long, env = "COMETA_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse::origin)]
    pub allowed_origins: Vec<String>,
    /// Directory served at `/` (the demo page) [default: examples/chat when it exists].
    #[arg(long, env = "COMETA_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Session lifetime in seconds (2592000 = 30 days).
    #[arg(long = "session-ttl-secs", env = "COMETA_SESSION_TTL_SECS", default_value = "2592000", value_parser = parse::positive_secs)]
    pub session_ttl: Duration,
    /// Default lifetime of a login code in seconds.
    #[arg(long = "login-code-ttl-secs", env = "COMETA_LOGIN_CODE_TTL_SECS", default_value = "300", value_parser = parse::positive_secs)]
    pub login_code_ttl: Duration,
    /// Longest lifetime a caller may ask for a login code, in seconds.
    #[arg(long = "max-login-code-ttl-secs", env = "COMETA_MAX_LOGIN_CODE_TTL_SECS", default_value = "86400", value_parser = parse::secs)]
    pub max_login_code_ttl: Duration,
    /// Lifetime of the single-use ticket inside `connectUrl`, in seconds.
    #[arg(long = "ticket-ttl-secs", env = "COMETA_TICKET_TTL_SECS", default_value = "30", value_parser = parse::positive_secs)]
    pub ticket_ttl: Duration,
    /// Live tunnels per user that receive personal messages.
    #[arg(long, env = "COMETA_MAX_DEVICES_PER_USER", default_value = "16", value_parser = parse::positive::<usize>)]
    pub max_devices_per_user: usize,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, env = "COMETA_MAX_FRAME_BYTES", default_value = "65536", value_parser = parse::positive::<usize>)]
    pub max_frame_bytes: usize,
    /// Largest HTTP request body accepted, in bytes.
    #[arg(long, env = "COMETA_MAX_BODY_BYTES", default_value = "65536", value_parser = parse::positive::<usize>)]
    pub max_body_bytes: usize,
    /// Live WebSockets the relay accepts, counted from the upgrade, before answering 503.
    #[arg(long, env = "COMETA_MAX_CONNECTIONS", default_value = "100000", value_parser = parse::positive::<usize>)]
    pub max_connections: usize,
    /// Frames queued for one tunnel before it is closed as a slow consumer.
    #[arg(long, env = "COMETA_OUTBOUND_QUEUE", default_value = "1024", value_parser = parse::positive::<usize>)]
    pub outbound_queue: usize,
    /// A tunnel with no inbound frame for this many seconds is closed.
    #[arg(long = "idle-timeout-secs", env = "COMETA_IDLE_TIMEOUT_SECS", default_value = "45", value_parser = parse::positive_secs)]
    pub idle_timeout: Duration,
    /// Interval of the relay's WebSocket-level pings, in seconds (less than the idle timeout).
    #[arg(long = "ws-ping-secs", env = "COMETA_WS_PING_SECS", default_value = "20", value_parser = parse::positive_secs)]
    pub ws_ping: Duration,
    /// Messages kept per personal stream.
    #[arg(long, env = "COMETA_QUEUE_MAX_LEN", default_value = "1000", value_parser = parse::positive::<u64>)]
    pub queue_max_len: u64,
    /// Age after which a kept personal message is dropped, in seconds (604800 = 7 days).
    #[arg(long = "queue-max-age-secs", env = "COMETA_QUEUE_MAX_AGE_SECS", default_value = "604800", value_parser = parse::secs)]
    pub queue_max_age: Duration,
    /// Webhook events waiting for delivery before new ones are dropped.
    #[arg(long, env = "COMETA_WEBHOOK_QUEUE", default_value = "10000", value_parser = parse::positive::<usize>)]
    pub webhook_queue: usize,
    /// Attempts per webhook event.
    #[arg(long, env = "COMETA_WEBHOOK_MAX_ATTEMPTS", default_value = "5", value_parser = parse::positive::<u32>)]
    pub webhook_max_attempts: u32,
    /// Timeout of one webhook request, in seconds.
    #[arg(long = "webhook-timeout-secs", env = "COMETA_WEBHOOK_TIMEOUT_SECS", default_value = "5", value_parser = parse::secs)]
    pub webhook_timeout: Duration,
    /// `full` (fsync, survives power loss) or `normal` (survives a relay crash).
    #[arg(long, env = "COMETA_DURABILITY", default_value = "full")]
    pub durability: Durability,
    /// Messages kept per channel unless a channel setting says otherwise; 0 makes channels
    /// live-only (pushed, never stored).
    #[arg(long, env = "COMETA_CHANNEL_HISTORY_LEN", default_value = "100")]
    pub channel_history_len: u64,
    /// Age after which a channel message is dropped, in seconds.
    #[arg(long = "channel-history-age-secs", env = "COMETA_CHANNEL_HISTORY_AGE_SECS", default_value = "86400", value_parser = parse::secs)]
    pub channel_history_age: Duration,
    /// Channels one connection may subscribe to.
    #[arg(long, env = "COMETA_MAX_SUBSCRIPTIONS", default_value = "128", value_parser = parse::positive::<usize>)]
    pub max_subscriptions: usize,
    /// Client publishes per second per connection, sustained.
    #[arg(long, env = "COMETA_PUBLISH_RATE", default_value = "20", value_parser = parse::positive::<u32>)]
    pub publish_rate: u32,
    /// Client publishes one connection may burst above the rate.
    #[arg(long, env = "COMETA_PUBLISH_BURST", default_value = "40", value_parser = parse::positive::<u32>)]
    pub publish_burst: u32,
    /// Seconds a native connection may take to send its first frame (then it is closed with
    /// 4004), and a CometQL client to log in.
    #[arg(long = "handshake-timeout-secs", env = "COMETA_HANDSHAKE_TIMEOUT_SECS", default_value = "10", value_parser = parse::positive_secs)]
    pub handshake_timeout: Duration,
    /// Failed password logins per account within the window before 429.
    #[arg(long, env = "COMETA_LOGIN_FAILURES_PER_ACCOUNT", default_value = "5", value_parser = parse::positive::<u32>)]
    pub login_failures_per_account: u32,
    /// Failed password logins per client address within the window before 429.
    #[arg(long, env = "COMETA_LOGIN_FAILURES_PER_ADDRESS", default_value = "20", value_parser = parse::positive::<u32>)]
    pub login_failures_per_address: u32,
    /// Window of the login failure limits, in seconds.
    #[arg(long = "login-failure-window-secs", env = "COMETA_LOGIN_FAILURE_WINDOW_SECS", default_value = "900", value_parser = parse::positive_secs)]
    pub login_failure_window: Duration,
    /// Take the client address from `X-Forwarded-For`; only behind a proxy that sets it.
    #[arg(long, env = "COMETA_TRUST_FORWARDED_FOR", action = Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: bool,
    /// Session lifetime when the login asks not to be remembered, in seconds.
    #[arg(long = "session-ttl-short-secs", env = "COMETA_SESSION_TTL_SHORT_SECS", default_value = "86400", value_parser = parse::positive_secs)]
    pub session_ttl_short: Duration,
    /// Log in visitors who bring no credentials, kept in a signed cookie.
    #[arg(long, env = "COMETA_ANONYMOUS", action = Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub anonymous: bool,
    /// `Max-Age` of the `cometa_visitor` cookie, in seconds (15552000 = 180 days).
    #[arg(long = "visitor-cookie-max-age-secs", env = "COMETA_VISITOR_COOKIE_MAX_AGE_SECS", default_value = "15552000", value_parser = parse::positive_secs)]
    pub visitor_cookie_max_age: Duration,
    /// The site's URL that verifies login requests (delegated auth) [default: none].
    #[arg(long, env = "COMETA_AUTH_VERIFY_URL", value_parser = parse::http_url)]
    pub auth_verify_url: Option<reqwest::Url>,
    /// Request headers forwarded to the verification URL, comma-separated.
    #[arg(long, env = "COMETA_AUTH_VERIFY_HEADERS", value_delimiter = ',', value_parser = parse::header_name,
          default_values = ["X-WX-Code", "X-WX-Encrypted-Data", "X-WX-IV"])]
    pub auth_verify_headers: Vec<String>,
    /// Timeout of one verification request, in milliseconds.
    #[arg(long = "auth-verify-timeout-ms", env = "COMETA_AUTH_VERIFY_TIMEOUT_MS", default_value = "3000", value_parser = parse::positive_millis)]
    pub auth_verify_timeout: Duration,
    /// HS256 key of the JWTs the site's back end mints (at least 32 bytes) [default: none].
    #[arg(long, env = "COMETA_JWT_SECRET", hide_env_values = true, value_parser = parse::jwt_secret)]
    pub jwt_secret: Option<String>,
    /// Directory served at `/sdk/` (the npm package) [default: npm when it holds a build].
    #[arg(long, env = "COMETA_SDK_DIR")]
    pub sdk_dir: Option<PathBuf>,
    /// Demo mode: `POST /demo/login {"name"}` hands out user keys, standing in for a site's
    /// back end. Never enable it in production.
    #[arg(long, env = "COMETA_DEMO", action = Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub demo: bool,
    /// Pending TCP connections the kernel queues before `accept` (raise `net.core.somaxconn`
    /// too). A connect storm past the backlog costs clients SYN retries (seconds each).
    #[arg(long, env = "COMETA_LISTEN_BACKLOG", default_value = "4096", value_parser = parse::positive::<u32>)]
    pub listen_backlog: u32,
    /// Jobs waiting for the store thread before callers wait for room.
    #[arg(long, env = "COMETA_STORE_QUEUE", default_value_t = DEFAULT_STORE_QUEUE, value_parser = parse::positive::<usize>)]
    pub store_queue: usize,
    /// Inbound frames per second one connection may send, sustained; past the burst a frame is
    /// refused with an `error:` packet, and a connection that keeps sending is closed (4003).
    #[arg(long, env = "COMETA_FRAME_RATE", default_value = "200", value_parser = parse::positive::<u32>)]
    pub frame_rate: u32,
    /// Inbound frames one connection may burst above the rate.
    #[arg(long, env = "COMETA_FRAME_BURST", default_value = "400", value_parser = parse::positive::<u32>)]
    pub frame_burst: u32,
    /// Bytes of webhook events waiting for delivery before client messages are refused
    /// (16777216 = 16 MiB).
    #[arg(long, env = "COMETA_WEBHOOK_QUEUE_BYTES", default_value = "16777216", value_parser = parse::positive::<usize>)]
    pub webhook_queue_bytes: usize,
    /// Deepest nesting of arrays and objects accepted in any JSON body or frame (at most 120);
    /// deeper gets 400 or an `error:` frame.
    // 64 is far beyond what application data needs and, with the few levels the relay wraps a
    // payload in (reply → result → publications → publication), stays under the 100–128
    // levels common parsers allow (serde_json 128, Ruby's JSON 100).
    #[arg(long, env = "COMETA_MAX_JSON_DEPTH", default_value = "64", value_parser = parse::json_depth)]
    pub max_json_depth: usize,
    /// Largest `history` reply, in bytes; longer histories come in pages.
    // Half the default write buffer (4 × max-frame-bytes): a page fits even while pushes wait
    // in the buffer, and holds any single message of the default limits.
    #[arg(long, env = "COMETA_MAX_REPLY_BYTES", default_value = "131072", value_parser = parse::positive::<usize>)]
    pub max_reply_bytes: usize,
    /// Password hashes (Argon2, 19 MiB each) computed at once [default: the number of cores].
    #[arg(long, env = "COMETA_HASH_CONCURRENCY", default_value_t = parse::cores(), hide_default_value = true,
          value_parser = parse::positive::<usize>)]
    pub hash_concurrency: usize,
    /// How long a login waits for a free hasher before 503 `ERR_BUSY`, in milliseconds; 0
    /// refuses at once when every hasher is busy.
    #[arg(long = "hash-wait-ms", env = "COMETA_HASH_WAIT_MS", default_value = "1000", value_parser = parse::millis)]
    pub hash_wait: Duration,
    /// Failed native `auth` frames (user key) per user within the login failure window before
    /// the connection is refused (close 4504).
    #[arg(long, env = "COMETA_KEY_FAILURES_PER_USER", default_value = "10", value_parser = parse::positive::<u32>)]
    pub key_failures_per_user: u32,
    /// Failed native `auth` frames (user key, token or session key) per client address within
    /// the login failure window before connections are refused.
    #[arg(long, env = "COMETA_KEY_FAILURES_PER_ADDRESS", default_value = "20", value_parser = parse::positive::<u32>)]
    pub key_failures_per_address: u32,
    /// Seconds a client may take to send a request's headers; also how long a kept-alive HTTP
    /// connection may sit idle between requests.
    #[arg(long = "http-header-timeout-secs", env = "COMETA_HTTP_HEADER_TIMEOUT_SECS", default_value = "10", value_parser = parse::positive_secs)]
    pub http_header_timeout: Duration,
    /// Open TCP connections (HTTP and WebSocket) per client address, IPv6 by /64; more are
    /// closed at once [default: 256; unlimited with --trust-forwarded-for, where the peer is
    /// the proxy].
    #[arg(long, env = "COMETA_MAX_CONNECTIONS_PER_ADDRESS", default_value = "256", hide_default_value = true,
          value_parser = parse::positive::<usize>)]
    pub max_connections_per_address: usize,
    /// Seconds a request may take from its headers to its answer's headers, reading its body
    /// included; then 408.
    #[arg(long = "http-request-timeout-secs", env = "COMETA_HTTP_REQUEST_TIMEOUT_SECS", default_value = "30", value_parser = parse::positive_secs)]
    pub http_request_timeout: Duration,
    /// A visitor with no login and no connection for this long is deleted with its sessions
    /// and stream, in seconds (2592000 = 30 days).
    #[arg(long = "visitor-idle-max-age-secs", env = "COMETA_VISITOR_IDLE_MAX_AGE_SECS", default_value = "2592000", value_parser = parse::positive_secs)]
    pub visitor_idle_max_age: Duration,
    /// Anonymous (visitor) logins one client address may make per window before 429.
    #[arg(long, env = "COMETA_ANONYMOUS_LOGINS_PER_ADDRESS", default_value = "30", value_parser = parse::positive::<u32>)]
    pub anonymous_logins_per_address: u32,
    /// Window of the anonymous login limit, in seconds.
    #[arg(long = "anonymous-login-window-secs", env = "COMETA_ANONYMOUS_LOGIN_WINDOW_SECS", default_value = "60", value_parser = parse::positive_secs)]
    pub anonymous_login_window: Duration,
    /// How often expired codes, sessions, messages and idle visitors are swept, in seconds.
    #[arg(long = "sweep-interval-secs", env = "COMETA_SWEEP_INTERVAL_SECS", default_value = "60", value_parser = parse::positive_secs)]
    pub sweep_interval: Duration,
    /// Allow `--demo` on an address other than loopback; anyone who reaches it can act as any
    /// demo user.
    #[arg(long, env = "COMETA_DEMO_PUBLIC", action = Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub demo_public: bool,
    /// Longest JWT lifetime accepted: a token whose `exp` is further away is refused, in
    /// seconds (31536000 = 365 days).
    #[arg(long = "jwt-max-lifetime-secs", env = "COMETA_JWT_MAX_LIFETIME_SECS", default_value = "31536000", value_parser = parse::positive_secs)]
    pub jwt_max_lifetime: Duration,
    /// When set, a JWT must name this audience in `aud` [default: not checked].
    #[arg(long, env = "COMETA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// When set, a JWT's `iss` must be exactly this [default: not checked].
    #[arg(long, env = "COMETA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// `track_*` subscriptions one connection may start per second, sustained; each announces
    /// `subscription` to every member, anonymous ones too; past the burst, error 4006.
    #[arg(long, env = "COMETA_TRACK_SUBSCRIBES_PER_SEC", default_value = "1", value_parser = parse::positive::<u32>)]
    pub track_subscribes_per_sec: u32,
    /// `track_*` subscriptions one connection may start at once above that rate; past it
    /// error 4006.
    #[arg(long, env = "COMETA_TRACK_SUBSCRIBES_BURST", default_value = "10", value_parser = parse::positive::<u32>)]
    pub track_subscribes_burst: u32,
    /// `text` or `json` (one object per line) log lines on stderr.
    #[arg(long, env = "COMETA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Longest `/readyz` waits for the store to answer before it says 503, in milliseconds.
    // Kubernetes' default probe timeout is 1 s: a store that has not answered by then fails
    // the probe either way, and the relay's own 503 names the cause.
    #[arg(long = "readyz-timeout-ms", env = "COMETA_READYZ_TIMEOUT_MS", default_value = "1000", value_parser = parse::positive_millis)]
    pub readyz_timeout: Duration,
    /// Serve CometQL (CppComet's back-end API over the MySQL protocol) on this address: a
    /// port alone (`3306`) binds loopback [default: off].
    #[arg(long, env = "COMETA_COMETQL_LISTEN", value_parser = parse::cometql_addr)]
    pub cometql_listen: Option<SocketAddr>,
    /// Bytes of one CometQL statement at most; longer ones get CometQL error 11, and a MySQL
    /// packet over four times this closes the connection (it is never buffered whole).
    #[arg(long, env = "COMETA_COMETQL_MAX_STATEMENT_BYTES", default_value = "65536", value_parser = parse::statement_bytes)]
    pub cometql_max_statement_bytes: usize,
    /// Rows one CometQL select returns at most; a select that would return more gets error 11.
    #[arg(long, env = "COMETA_COMETQL_MAX_ROWS", default_value = "1000", value_parser = parse::positive::<usize>)]
    pub cometql_max_rows: usize,
    /// CometQL connections open at once; more are closed on accept.
    #[arg(long, env = "COMETA_COMETQL_MAX_CONNECTIONS", default_value = "64", value_parser = parse::positive::<usize>)]
    pub cometql_max_connections: usize,
    /// On SIGTERM/SIGINT the relay stops accepting and reports draining (`/readyz` 503), tells
    /// live connections to reconnect elsewhere (close 1001) spread evenly over these seconds,
    /// lets requests and store writes finish, then exits 0. 0 closes them all at once.
    #[arg(long = "drain-secs", env = "COMETA_DRAIN_SECS", default_value = "10", value_parser = parse::secs)]
    pub drain: Duration,
    /// Serve `GET /metrics` without the API key on this address (e.g. 127.0.0.1:9090);
    /// it is always on the main port behind the API key [default: off].
    #[arg(long, env = "COMETA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// How long the relay remembers a client message's or publish's idempotency key (`mid`), in
    /// seconds: a resend inside it is acknowledged again but reaches the back end, or the
    /// channel, once.
    #[arg(long = "dedup-window-secs", env = "COMETA_DEDUP_WINDOW_SECS", default_value = "600", value_parser = parse::secs)]
    pub dedup_window: Duration,
    /// Idempotency keys remembered at most (about 200 bytes each), oldest forgotten first.
    #[arg(long, env = "COMETA_DEDUP_CAPACITY", default_value = "100000", value_parser = parse::positive::<usize>)]
    pub dedup_capacity: usize,
    /// Longest a receipt (a tunnel's Pong to a fence, a native `ack`) waits in memory before
    /// its cursor is written, in milliseconds: a cursor that moves many times meanwhile is
    /// written once. A connection's close, any read of cursors and a clean shutdown write them
    /// at once; a crash loses at most this much, which costs duplicates (the SDK drops them
    /// by seq), never a message. 0 writes them with every commit.
    #[arg(long = "cursor-flush-ms", env = "COMETA_CURSOR_FLUSH_MS", default_value = "200", value_parser = parse::millis)]
    pub cursor_flush: Duration,
    /// Bytes of frames a connection gathers before it writes them to its socket (a batch is
    /// written whole at its end either way). Larger means fewer system calls when a
    /// connection has a backlog, and up to about twice this held by a connection that had
    /// one; an idle connection holds none of it.
    #[arg(long, env = "COMETA_WS_WRITE_BUFFER_BYTES", default_value = "16384", value_parser = parse::positive::<usize>)]
    pub ws_write_buffer_bytes: usize,
    /// Pages (4 KiB) the store's write-ahead log gathers before a commit copies them into the
    /// database file. A page written many times between two copies is copied once, so a
    /// larger log costs less per message; the log file on disk grows to about this size.
    #[arg(long, env = "COMETA_STORE_CHECKPOINT_PAGES", default_value_t = DEFAULT_CHECKPOINT_PAGES, value_parser = parse::positive::<u32>)]
    pub store_checkpoint_pages: u32,
    /// Idempotency keys one sender (a user, or an anonymous device's publishes) holds at most:
    /// its next one evicts its own oldest, never another sender's, so one client flooding
    /// fresh mids cannot make everybody's resends reach the back end twice.
    #[arg(long, env = "COMETA_DEDUP_PER_SENDER", default_value = "1000", value_parser = parse::positive::<usize>)]
    pub dedup_per_sender: usize,
}
