//! Start-up configuration: command-line flags, each with an environment twin and a TOML twin.
//!
//! Precedence is flag/env (clap) > TOML file (`--config`) > built-in default. Every field of
//! [`Args`] is optional so the three sources can be merged field by field; [`Config`] is the
//! validated result the relay runs on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

mod exposure;

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
    #[error("invalid setting `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// How hard a commit is pushed to disk before the API answers 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync on every (group) commit: survives power loss.
    Full,
    /// Survives a crash of the relay process (`kill -9`), not of the machine.
    Normal,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Flags as given; see [`Config`] for what each means and its default.
#[derive(Debug, Default, Parser, Deserialize)]
#[command(
    name = "cometa-relay",
    version,
    about = "Cometa relay: login, sessions and real-time tunnels",
    after_help = "`cometa-relay healthcheck [OPTIONS]` asks the relay at --listen for /healthz: \
                  exit 0 when it answers 200, else 1 (the container image's HEALTHCHECK)."
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Args {
    /// TOML file with any of these settings (kebab-case keys).
    #[arg(long, env = "COMETA_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "COMETA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded store and the generated API key [default: ./data].
    #[arg(long, env = "COMETA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Bearer key of the back-end API; generated and kept in the data dir when absent.
    #[arg(long, env = "COMETA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// URL that receives tunnel events (connect, message, close).
    #[arg(long, env = "COMETA_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key of the webhook signature [default: the API key].
    #[arg(long, env = "COMETA_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Public base URL used to build `connectUrl` [default: from the request's Host].
    #[arg(long, env = "COMETA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins allowed for CORS and WebSocket upgrades, comma-separated; only listed ones get
    /// credentials (the visitor cookie) [default: any, without credentials].
    #[arg(long, env = "COMETA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Directory served at `/` (the demo page) [default: examples/chat when it exists].
    #[arg(long, env = "COMETA_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Session lifetime in seconds [default: 2592000 = 30 days].
    #[arg(long, env = "COMETA_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Default lifetime of a login code in seconds [default: 300].
    #[arg(long, env = "COMETA_LOGIN_CODE_TTL_SECS")]
    pub login_code_ttl_secs: Option<u64>,
    /// Longest lifetime a caller may ask for a login code [default: 86400].
    #[arg(long, env = "COMETA_MAX_LOGIN_CODE_TTL_SECS")]
    pub max_login_code_ttl_secs: Option<u64>,
    /// Lifetime of the single-use ticket inside `connectUrl` [default: 30].
    #[arg(long, env = "COMETA_TICKET_TTL_SECS")]
    pub ticket_ttl_secs: Option<u64>,
    /// Live tunnels per user that receive personal messages [default: 16].
    #[arg(long, env = "COMETA_MAX_DEVICES_PER_USER")]
    pub max_devices_per_user: Option<usize>,
    /// Largest WebSocket message accepted, in bytes [default: 65536].
    #[arg(long, env = "COMETA_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Largest HTTP request body accepted, in bytes [default: 65536].
    #[arg(long, env = "COMETA_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Live tunnels the relay accepts before answering 503 [default: 100000].
    #[arg(long, env = "COMETA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Frames queued for one tunnel before it is closed as a slow consumer [default: 1024].
    #[arg(long, env = "COMETA_OUTBOUND_QUEUE")]
    pub outbound_queue: Option<usize>,
    /// A tunnel with no inbound frame for this long is closed [default: 45].
    #[arg(long, env = "COMETA_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Interval of the relay's WebSocket-level pings [default: 20].
    #[arg(long, env = "COMETA_WS_PING_SECS")]
    pub ws_ping_secs: Option<u64>,
    /// Messages kept per personal stream [default: 1000].
    #[arg(long, env = "COMETA_QUEUE_MAX_LEN")]
    pub queue_max_len: Option<u64>,
    /// Age after which a kept personal message is dropped, in seconds [default: 604800].
    #[arg(long, env = "COMETA_QUEUE_MAX_AGE_SECS")]
    pub queue_max_age_secs: Option<u64>,
    /// Webhook events waiting for delivery before new ones are dropped [default: 10000].
    #[arg(long, env = "COMETA_WEBHOOK_QUEUE")]
    pub webhook_queue: Option<usize>,
    /// Attempts per webhook event [default: 5].
    #[arg(long, env = "COMETA_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    /// Timeout of one webhook request in seconds [default: 5].
    #[arg(long, env = "COMETA_WEBHOOK_TIMEOUT_SECS")]
    pub webhook_timeout_secs: Option<u64>,
    /// `full` (fsync, survives power loss) or `normal` (survives a relay crash) [default: full].
    #[arg(long, env = "COMETA_DURABILITY")]
    pub durability: Option<Durability>,
    /// Messages kept per channel unless a channel setting says otherwise; 0 makes channels
    /// live-only (pushed, never stored) [default: 100].
    #[arg(long, env = "COMETA_CHANNEL_HISTORY_LEN")]
    pub channel_history_len: Option<u64>,
    /// Age after which a channel message is dropped, in seconds [default: 86400].
    #[arg(long, env = "COMETA_CHANNEL_HISTORY_AGE_SECS")]
    pub channel_history_age_secs: Option<u64>,
    /// Channels one connection may subscribe to [default: 128].
    #[arg(long, env = "COMETA_MAX_SUBSCRIPTIONS")]
    pub max_subscriptions: Option<usize>,
    /// Client publishes per second per connection, sustained [default: 20].
    #[arg(long, env = "COMETA_PUBLISH_RATE")]
    pub publish_rate: Option<u32>,
    /// Client publishes one connection may burst above the rate [default: 40].
    #[arg(long, env = "COMETA_PUBLISH_BURST")]
    pub publish_burst: Option<u32>,
    /// Seconds a native connection may take to send its first frame (then it is closed with
    /// 4004), and a CometQL client to log in [default: 10].
    #[arg(long, env = "COMETA_HANDSHAKE_TIMEOUT_SECS")]
    pub handshake_timeout_secs: Option<u64>,
    /// Failed password logins per account within the window before 429 [default: 5].
    #[arg(long, env = "COMETA_LOGIN_FAILURES_PER_ACCOUNT")]
    pub login_failures_per_account: Option<u32>,
    /// Failed password logins per client address within the window before 429 [default: 20].
    #[arg(long, env = "COMETA_LOGIN_FAILURES_PER_ADDRESS")]
    pub login_failures_per_address: Option<u32>,
    /// Window of the login failure limits, in seconds [default: 900].
    #[arg(long, env = "COMETA_LOGIN_FAILURE_WINDOW_SECS")]
    pub login_failure_window_secs: Option<u64>,
    /// Take the client address from `X-Forwarded-For`; only behind a proxy that sets it
    /// [default: false].
    #[arg(long, env = "COMETA_TRUST_FORWARDED_FOR", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_for: Option<bool>,
    /// Session lifetime when the login asks not to be remembered, in seconds [default: 86400].
    #[arg(long, env = "COMETA_SESSION_TTL_SHORT_SECS")]
    pub session_ttl_short_secs: Option<u64>,
    /// Log in visitors who bring no credentials, kept in a signed cookie [default: false].
    #[arg(long, env = "COMETA_ANONYMOUS", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub anonymous: Option<bool>,
    /// `Max-Age` of the `cometa_visitor` cookie, in seconds [default: 15552000 = 180 days].
    #[arg(long, env = "COMETA_VISITOR_COOKIE_MAX_AGE_SECS")]
    pub visitor_cookie_max_age_secs: Option<u64>,
    /// The site's URL that verifies login requests (delegated auth) [default: none].
    #[arg(long, env = "COMETA_AUTH_VERIFY_URL")]
    pub auth_verify_url: Option<String>,
    /// Request headers forwarded to the verification URL, comma-separated
    /// [default: X-WX-Code,X-WX-Encrypted-Data,X-WX-IV].
    #[arg(long, env = "COMETA_AUTH_VERIFY_HEADERS", value_delimiter = ',')]
    pub auth_verify_headers: Option<Vec<String>>,
    /// Timeout of one verification request, in milliseconds [default: 3000].
    #[arg(long, env = "COMETA_AUTH_VERIFY_TIMEOUT_MS")]
    pub auth_verify_timeout_ms: Option<u64>,
    /// HS256 key of the JWTs the site's back end mints (at least 32 bytes) [default: none].
    #[arg(long, env = "COMETA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Directory served at `/sdk/` (the npm package) [default: npm when it holds a build].
    #[arg(long, env = "COMETA_SDK_DIR")]
    pub sdk_dir: Option<PathBuf>,
    /// Demo mode: `POST /demo/login {"name"}` hands out user keys, standing in for a site's
    /// back end. Never enable it in production [default: false].
    #[arg(long, env = "COMETA_DEMO", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: Option<bool>,
    /// Pending TCP connections the kernel queues before `accept` [default: 4096]. A connect
    /// storm past the backlog costs clients SYN retries (seconds each).
    #[arg(long, env = "COMETA_LISTEN_BACKLOG")]
    pub listen_backlog: Option<u32>,
    /// Jobs waiting for the store thread before callers wait for room [default: 8192].
    #[arg(long, env = "COMETA_STORE_QUEUE")]
    pub store_queue: Option<usize>,
    /// Inbound frames per second one connection may send, sustained [default: 200].
    #[arg(long, env = "COMETA_FRAME_RATE")]
    pub frame_rate: Option<u32>,
    /// Inbound frames one connection may burst above the rate [default: 400].
    #[arg(long, env = "COMETA_FRAME_BURST")]
    pub frame_burst: Option<u32>,
    /// Bytes of webhook events waiting for delivery before client messages are refused
    /// [default: 16777216 = 16 MiB].
    #[arg(long, env = "COMETA_WEBHOOK_QUEUE_BYTES")]
    pub webhook_queue_bytes: Option<usize>,
    /// Deepest nesting of arrays and objects accepted in any JSON body or frame [default: 64].
    #[arg(long, env = "COMETA_MAX_JSON_DEPTH")]
    pub max_json_depth: Option<usize>,
    /// Largest `history` reply, in bytes; longer histories come in pages [default: 131072].
    #[arg(long, env = "COMETA_MAX_REPLY_BYTES")]
    pub max_reply_bytes: Option<usize>,
    /// Password hashes (Argon2, 19 MiB each) computed at once [default: the number of cores].
    #[arg(long, env = "COMETA_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// How long a login waits for a free hasher before 503, in milliseconds [default: 1000].
    #[arg(long, env = "COMETA_HASH_WAIT_MS")]
    pub hash_wait_ms: Option<u64>,
    /// Failed native `auth` frames (user key) per user within the login failure window before
    /// the connection is refused [default: 10].
    #[arg(long, env = "COMETA_KEY_FAILURES_PER_USER")]
    pub key_failures_per_user: Option<u32>,
    /// Failed native `auth` frames (user key, token or session key) per client address within
    /// the login failure window before connections are refused [default: 20].
    #[arg(long, env = "COMETA_KEY_FAILURES_PER_ADDRESS")]
    pub key_failures_per_address: Option<u32>,
    /// Seconds a client may take to send a request's headers; also how long a kept-alive HTTP
    /// connection may sit idle between requests [default: 10].
    #[arg(long, env = "COMETA_HTTP_HEADER_TIMEOUT_SECS")]
    pub http_header_timeout_secs: Option<u64>,
    /// Open TCP connections (HTTP and WebSocket) per client address; more are closed at once
    /// [default: 256; unlimited with --trust-forwarded-for, where the peer is the proxy].
    #[arg(long, env = "COMETA_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds a request may take from its headers to its answer's headers, reading its body
    /// included; then 408 [default: 30].
    #[arg(long, env = "COMETA_HTTP_REQUEST_TIMEOUT_SECS")]
    pub http_request_timeout_secs: Option<u64>,
    /// A visitor with no login and no connection for this long is deleted with its sessions
    /// and stream, in seconds [default: 2592000 = 30 days].
    #[arg(long, env = "COMETA_VISITOR_IDLE_MAX_AGE_SECS")]
    pub visitor_idle_max_age_secs: Option<u64>,
    /// Anonymous (visitor) logins one client address may make per window before 429
    /// [default: 30].
    #[arg(long, env = "COMETA_ANONYMOUS_LOGINS_PER_ADDRESS")]
    pub anonymous_logins_per_address: Option<u32>,
    /// Window of the anonymous login limit, in seconds [default: 60].
    #[arg(long, env = "COMETA_ANONYMOUS_LOGIN_WINDOW_SECS")]
    pub anonymous_login_window_secs: Option<u64>,
    /// How often expired codes, sessions, messages and idle visitors are swept, in seconds
    /// [default: 60].
    #[arg(long, env = "COMETA_SWEEP_INTERVAL_SECS")]
    pub sweep_interval_secs: Option<u64>,
    /// Allow `--demo` on an address other than loopback; anyone who reaches it can act as any
    /// demo user [default: false].
    #[arg(long, env = "COMETA_DEMO_PUBLIC", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo_public: Option<bool>,
    /// Longest JWT lifetime accepted: a token whose `exp` is further away is refused, in
    /// seconds [default: 31536000 = 365 days].
    #[arg(long, env = "COMETA_JWT_MAX_LIFETIME_SECS")]
    pub jwt_max_lifetime_secs: Option<u64>,
    /// When set, a JWT must name this audience in `aud` [default: not checked].
    #[arg(long, env = "COMETA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// When set, a JWT's `iss` must be exactly this [default: not checked].
    #[arg(long, env = "COMETA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// `track_*` subscriptions one connection may start per second, sustained; each
    /// announces `subscription` to every member [default: 1].
    #[arg(long, env = "COMETA_TRACK_SUBSCRIBES_PER_SEC")]
    pub track_subscribes_per_sec: Option<u32>,
    /// `track_*` subscriptions one connection may start at once above that rate [default: 10].
    #[arg(long, env = "COMETA_TRACK_SUBSCRIBES_BURST")]
    pub track_subscribes_burst: Option<u32>,
    /// `text` or `json` (one object per line) log lines on stderr [default: text].
    #[arg(long, env = "COMETA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Longest `/readyz` waits for the store to answer before it says 503, in milliseconds
    /// [default: 1000].
    #[arg(long, env = "COMETA_READYZ_TIMEOUT_MS")]
    pub readyz_timeout_ms: Option<u64>,
    /// Serve CometQL (CppComet's back-end API over the MySQL protocol) on this address: a
    /// port alone (`3306`) binds loopback [default: off].
    #[arg(long, env = "COMETA_COMETQL_LISTEN")]
    pub cometql_listen: Option<String>,
    /// Bytes of one CometQL statement at most [default: 65536].
    #[arg(long, env = "COMETA_COMETQL_MAX_STATEMENT_BYTES")]
    pub cometql_max_statement_bytes: Option<usize>,
    /// Rows one CometQL select returns at most [default: 1000].
    #[arg(long, env = "COMETA_COMETQL_MAX_ROWS")]
    pub cometql_max_rows: Option<usize>,
    /// CometQL connections open at once; more are closed on accept [default: 64].
    #[arg(long, env = "COMETA_COMETQL_MAX_CONNECTIONS")]
    pub cometql_max_connections: Option<usize>,
    /// On SIGTERM/SIGINT, the seconds over which live connections are told to reconnect
    /// elsewhere (close 1001), spread evenly; then the relay exits [default: 10].
    #[arg(long, env = "COMETA_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
    /// Serve `GET /metrics` without the API key on this address (e.g. 127.0.0.1:9090);
    /// it is always on the main port behind the API key [default: off].
    #[arg(long, env = "COMETA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Args {
    /// Fills every field the command line left empty from the TOML file named by `--config`.
    pub fn with_file(self) -> Result<Self, ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file: Args = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path,
            source: Box::new(source),
        })?;
        Ok(self.or(file))
    }

    fn or(self, other: Args) -> Args {
        macro_rules! merge {
            ($($f:ident),*) => { Args { config: self.config, $($f: self.$f.or(other.$f)),* } };
        }
        merge!(
            listen,
            data_dir,
            api_key,
            webhook_url,
            webhook_secret,
            public_url,
            allowed_origins,
            static_dir,
            session_ttl_secs,
            login_code_ttl_secs,
            max_login_code_ttl_secs,
            ticket_ttl_secs,
            max_devices_per_user,
            max_frame_bytes,
            max_body_bytes,
            max_connections,
            outbound_queue,
            idle_timeout_secs,
            ws_ping_secs,
            queue_max_len,
            queue_max_age_secs,
            webhook_queue,
            webhook_max_attempts,
            webhook_timeout_secs,
            durability,
            channel_history_len,
            channel_history_age_secs,
            max_subscriptions,
            publish_rate,
            publish_burst,
            handshake_timeout_secs,
            login_failures_per_account,
            login_failures_per_address,
            login_failure_window_secs,
            trust_forwarded_for,
            session_ttl_short_secs,
            anonymous,
            visitor_cookie_max_age_secs,
            auth_verify_url,
            auth_verify_headers,
            auth_verify_timeout_ms,
            jwt_secret,
            sdk_dir,
            demo,
            listen_backlog,
            store_queue,
            frame_rate,
            frame_burst,
            webhook_queue_bytes,
            max_json_depth,
            max_reply_bytes,
            hash_concurrency,
            hash_wait_ms,
            key_failures_per_user,
            key_failures_per_address,
            http_header_timeout_secs,
            max_connections_per_address,
            http_request_timeout_secs,
            visitor_idle_max_age_secs,
            anonymous_logins_per_address,
            anonymous_login_window_secs,
            sweep_interval_secs,
            demo_public,
            jwt_max_lifetime_secs,
            jwt_audience,
            jwt_issuer,
            track_subscribes_per_sec,
            track_subscribes_burst,
            log_format,
            readyz_timeout_ms,
            cometql_listen,
            cometql_max_statement_bytes,
            cometql_max_rows,
            cometql_max_connections,
            drain_secs,
            metrics_listen
        )
    }
}

/// The validated settings the relay runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None` until [`crate::Relay::open`] loads or generates it.
    pub api_key: Option<String>,
    pub webhook_url: Option<reqwest::Url>,
    pub webhook_secret: Option<String>,
    pub public_url: Option<String>,
    /// Empty means any origin.
    pub allowed_origins: Vec<String>,
    pub static_dir: Option<PathBuf>,
    pub session_ttl: Duration,
    pub login_code_ttl: Duration,
    pub max_login_code_ttl: Duration,
    pub ticket_ttl: Duration,
    pub max_devices_per_user: usize,
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub outbound_queue: usize,
    pub idle_timeout: Duration,
    pub ws_ping: Duration,
    pub queue_max_len: u64,
    pub queue_max_age: Duration,
    pub webhook_queue: usize,
    pub webhook_max_attempts: u32,
    pub webhook_timeout: Duration,
    pub durability: Durability,
    pub channel_history_len: u64,
    pub channel_history_age: Duration,
    pub max_subscriptions: usize,
    pub publish_rate: u32,
    pub publish_burst: u32,
    pub handshake_timeout: Duration,
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_failure_window: Duration,
    pub trust_forwarded_for: bool,
    /// Lifetime of a session whose login asked not to be remembered.
    pub session_ttl_short: Duration,
    pub anonymous: bool,
    pub visitor_cookie_max_age: Duration,
    pub auth_verify_url: Option<reqwest::Url>,
    pub auth_verify_headers: Vec<String>,
    pub auth_verify_timeout: Duration,
    pub jwt_secret: Option<String>,
    pub sdk_dir: Option<PathBuf>,
    pub demo: bool,
    pub listen_backlog: u32,
    /// Store jobs queued at most; past it callers wait (see `store::sqlite`).
    pub store_queue: usize,
    /// Inbound frames per second per connection; past the burst a frame is refused with an
    /// `error:` packet, and a connection that keeps sending is closed (4003).
    pub frame_rate: u32,
    pub frame_burst: u32,
    /// Bytes of webhook events queued at most, beside the count (`webhook_queue`).
    pub webhook_queue_bytes: usize,
    /// Deepest JSON accepted at ingress (see [`cometa_protocol::depth`]).
    pub max_json_depth: usize,
    /// Budget of one `history` page (at least one message is always sent).
    pub max_reply_bytes: usize,
    pub hash_concurrency: usize,
    /// 0 refuses at once when every hasher is busy.
    pub hash_wait: Duration,
    pub key_failures_per_user: u32,
    pub key_failures_per_address: u32,
    pub http_header_timeout: Duration,
    pub max_connections_per_address: usize,
    pub http_request_timeout: Duration,
    pub visitor_idle_max_age: Duration,
    pub anonymous_logins_per_address: u32,
    pub anonymous_login_window: Duration,
    pub sweep_interval: Duration,
    /// `--demo` may listen off loopback.
    pub demo_public: bool,
    pub jwt_max_lifetime: Duration,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    pub track_subscribes_per_sec: u32,
    pub track_subscribes_burst: u32,
    pub log_format: LogFormat,
    /// How long `/readyz` waits for a store round trip.
    pub readyz_timeout: Duration,
    /// Where CometQL listens; `None` leaves it off.
    pub cometql_listen: Option<SocketAddr>,
    /// Longer statements get CometQL error 11; a MySQL packet over four times this closes
    /// the connection (it is never buffered whole).
    pub cometql_max_statement_bytes: usize,
    /// A select that would return more rows gets CometQL error 11.
    pub cometql_max_rows: usize,
    /// Back ends keep a few (persistent) connections; past this, new ones are closed.
    pub cometql_max_connections: usize,
    /// Window over which shutdown spreads the connections' closes; 0 closes them at once.
    pub drain: Duration,
    pub metrics_listen: Option<SocketAddr>,
}

const MAX_JSON_DEPTH_DEFAULT: usize = 64;
/// serde_json's 128 levels less the levels of the relay's own envelopes.
const MAX_JSON_DEPTH_LIMIT: usize = 120;

impl Default for Config {
    fn default() -> Self {
        // Validation of the defaults cannot fail; a test below keeps it so.
        Self::from_args(Args::default()).unwrap_or_else(|e| unreachable!("default config: {e}"))
    }
}

/// `host:port`, or a port alone (`3306`, `:3306`) on loopback, as the design binds by default.
fn cometql_addr(v: &str) -> Result<SocketAddr, ConfigError> {
    let v = v.trim();
    let port = v.strip_prefix(':').unwrap_or(v);
    if let Ok(p) = port.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    v.parse()
        .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
            field: "cometql-listen",
            reason: format!("{e}: give host:port or a port"),
        })
}

impl Config {
    /// A config for tests and embedding: defaults, with the data dir given.
    pub fn for_data_dir(dir: impl AsRef<Path>) -> Self {
        Self {
            data_dir: dir.as_ref().to_path_buf(),
            ..Self::default()
        }
    }

    pub fn from_args(a: Args) -> Result<Self, ConfigError> {
        let secs = Duration::from_secs;
        let webhook_url = match a.webhook_url {
            Some(u) => Some(reqwest::Url::parse(&u).map_err(|e| ConfigError::Invalid {
                field: "webhook-url",
                reason: e.to_string(),
            })?),
            None => None,
        };
        let auth_verify_url = match &a.auth_verify_url {
            Some(u) => Some(reqwest::Url::parse(u).map_err(|e| ConfigError::Invalid {
                field: "auth-verify-url",
                reason: e.to_string(),
            })?),
            None => None,
        };
        let static_dir = a.static_dir.or_else(|| {
            let demo = PathBuf::from("examples/chat");
            demo.is_dir().then_some(demo)
        });
        let c = Config {
            listen: a
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: a.data_dir.unwrap_or_else(|| PathBuf::from("data")),
            api_key: a.api_key,
            webhook_url,
            webhook_secret: a.webhook_secret,
            public_url: a.public_url.map(|u| u.trim_end_matches('/').to_string()),
            allowed_origins: a
                .allowed_origins
                .unwrap_or_default()
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty() && o != "*")
                .collect(),
            static_dir,
            session_ttl: secs(a.session_ttl_secs.unwrap_or(30 * 86_400)),
            login_code_ttl: secs(a.login_code_ttl_secs.unwrap_or(300)),
            max_login_code_ttl: secs(a.max_login_code_ttl_secs.unwrap_or(86_400)),
            ticket_ttl: secs(a.ticket_ttl_secs.unwrap_or(30)),
            max_devices_per_user: a.max_devices_per_user.unwrap_or(16),
            max_frame_bytes: a.max_frame_bytes.unwrap_or(64 * 1024),
            max_body_bytes: a.max_body_bytes.unwrap_or(64 * 1024),
            max_connections: a.max_connections.unwrap_or(100_000),
            outbound_queue: a.outbound_queue.unwrap_or(1024),
            idle_timeout: secs(a.idle_timeout_secs.unwrap_or(45)),
            ws_ping: secs(a.ws_ping_secs.unwrap_or(20)),
            queue_max_len: a.queue_max_len.unwrap_or(1000),
            queue_max_age: secs(a.queue_max_age_secs.unwrap_or(7 * 86_400)),
            webhook_queue: a.webhook_queue.unwrap_or(10_000),
            webhook_max_attempts: a.webhook_max_attempts.unwrap_or(5),
            webhook_timeout: secs(a.webhook_timeout_secs.unwrap_or(5)),
            durability: a.durability.unwrap_or(Durability::Full),
            channel_history_len: a.channel_history_len.unwrap_or(100),
            channel_history_age: secs(a.channel_history_age_secs.unwrap_or(86_400)),
            max_subscriptions: a.max_subscriptions.unwrap_or(128),
            publish_rate: a.publish_rate.unwrap_or(20),
            publish_burst: a.publish_burst.unwrap_or(40),
            handshake_timeout: secs(a.handshake_timeout_secs.unwrap_or(10)),
            login_failures_per_account: a.login_failures_per_account.unwrap_or(5),
            login_failures_per_address: a.login_failures_per_address.unwrap_or(20),
            login_failure_window: secs(a.login_failure_window_secs.unwrap_or(900)),
            trust_forwarded_for: a.trust_forwarded_for.unwrap_or(false),
            session_ttl_short: secs(a.session_ttl_short_secs.unwrap_or(86_400)),
            anonymous: a.anonymous.unwrap_or(false),
            visitor_cookie_max_age: secs(a.visitor_cookie_max_age_secs.unwrap_or(180 * 86_400)),
            auth_verify_url,
            auth_verify_headers: a
                .auth_verify_headers
                .unwrap_or_else(|| {
                    ["X-WX-Code", "X-WX-Encrypted-Data", "X-WX-IV"]
                        .map(String::from)
                        .to_vec()
                })
                .into_iter()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect(),
            auth_verify_timeout: Duration::from_millis(a.auth_verify_timeout_ms.unwrap_or(3000)),
            jwt_secret: a.jwt_secret,
            sdk_dir: a.sdk_dir.or_else(|| {
                let npm = PathBuf::from("npm");
                npm.join("dist").is_dir().then_some(npm)
            }),
            demo: a.demo.unwrap_or(false),
            listen_backlog: a.listen_backlog.unwrap_or(4096),
            store_queue: a.store_queue.unwrap_or(crate::store::sqlite::DEFAULT_QUEUE),
            frame_rate: a.frame_rate.unwrap_or(200),
            frame_burst: a.frame_burst.unwrap_or(400),
            webhook_queue_bytes: a.webhook_queue_bytes.unwrap_or(16 << 20),
            // 64 is far beyond what application data needs and, with the few levels the relay
            // wraps a payload in (reply → result → publications → publication), stays under
            // the 100–128 levels common parsers allow (serde_json 128, Ruby's JSON 100).
            max_json_depth: a.max_json_depth.unwrap_or(MAX_JSON_DEPTH_DEFAULT),
            // Half the default write buffer (4 × max-frame-bytes): a page fits even while
            // pushes wait in the buffer, and holds any single message of the default limits.
            max_reply_bytes: a.max_reply_bytes.unwrap_or(128 * 1024),
            hash_concurrency: a.hash_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }),
            hash_wait: Duration::from_millis(a.hash_wait_ms.unwrap_or(1000)),
            key_failures_per_user: a.key_failures_per_user.unwrap_or(10),
            key_failures_per_address: a.key_failures_per_address.unwrap_or(20),
            http_header_timeout: secs(a.http_header_timeout_secs.unwrap_or(10)),
            max_connections_per_address: a.max_connections_per_address.unwrap_or(
                // Behind a proxy every connection comes from the proxy's address.
                if a.trust_forwarded_for == Some(true) {
                    usize::MAX
                } else {
                    256
                },
            ),
            http_request_timeout: secs(a.http_request_timeout_secs.unwrap_or(30)),
            visitor_idle_max_age: secs(a.visitor_idle_max_age_secs.unwrap_or(30 * 86_400)),
            anonymous_logins_per_address: a.anonymous_logins_per_address.unwrap_or(30),
            anonymous_login_window: secs(a.anonymous_login_window_secs.unwrap_or(60)),
            sweep_interval: secs(a.sweep_interval_secs.unwrap_or(60)),
            demo_public: a.demo_public.unwrap_or(false),
            jwt_max_lifetime: secs(a.jwt_max_lifetime_secs.unwrap_or(365 * 86_400)),
            jwt_audience: a.jwt_audience.filter(|s| !s.is_empty()),
            jwt_issuer: a.jwt_issuer.filter(|s| !s.is_empty()),
            track_subscribes_per_sec: a.track_subscribes_per_sec.unwrap_or(1),
            track_subscribes_burst: a.track_subscribes_burst.unwrap_or(10),
            log_format: a.log_format.unwrap_or(LogFormat::Text),
            // Kubernetes' default probe timeout is 1 s: a store that has not answered by then
            // fails the probe either way, and the relay's own 503 names the cause.
            readyz_timeout: Duration::from_millis(a.readyz_timeout_ms.unwrap_or(1000)),
            cometql_listen: match a.cometql_listen.as_deref() {
                Some(v) => Some(cometql_addr(v)?),
                None => None,
            },
            cometql_max_statement_bytes: a.cometql_max_statement_bytes.unwrap_or(64 * 1024),
            cometql_max_rows: a.cometql_max_rows.unwrap_or(1000),
            cometql_max_connections: a.cometql_max_connections.unwrap_or(64),
            drain: secs(a.drain_secs.unwrap_or(10)),
            metrics_listen: a.metrics_listen,
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        // MySQL packets carry at most 16 MiB − 1; the limit must fit one.
        if self.cometql_max_statement_bytes >= (1 << 22) {
            return Err(ConfigError::Invalid {
                field: "cometql-max-statement-bytes",
                reason: "must be less than 4194304".into(),
            });
        }
        let positive = [
            ("session-ttl-secs", self.session_ttl.as_secs()),
            ("login-code-ttl-secs", self.login_code_ttl.as_secs()),
            ("ticket-ttl-secs", self.ticket_ttl.as_secs()),
            ("max-devices-per-user", self.max_devices_per_user as u64),
            ("max-frame-bytes", self.max_frame_bytes as u64),
            ("max-body-bytes", self.max_body_bytes as u64),
            ("max-connections", self.max_connections as u64),
            ("outbound-queue", self.outbound_queue as u64),
            ("idle-timeout-secs", self.idle_timeout.as_secs()),
            ("ws-ping-secs", self.ws_ping.as_secs()),
            ("queue-max-len", self.queue_max_len),
            ("webhook-queue", self.webhook_queue as u64),
            ("webhook-max-attempts", u64::from(self.webhook_max_attempts)),
            ("max-subscriptions", self.max_subscriptions as u64),
            ("publish-rate", u64::from(self.publish_rate)),
            ("publish-burst", u64::from(self.publish_burst)),
            ("handshake-timeout-secs", self.handshake_timeout.as_secs()),
            ("listen-backlog", u64::from(self.listen_backlog)),
            ("max-json-depth", self.max_json_depth as u64),
            ("max-reply-bytes", self.max_reply_bytes as u64),
            (
                "login-failures-per-account",
                u64::from(self.login_failures_per_account),
            ),
            (
                "login-failures-per-address",
                u64::from(self.login_failures_per_address),
            ),
            (
                "login-failure-window-secs",
                self.login_failure_window.as_secs(),
            ),
            ("session-ttl-short-secs", self.session_ttl_short.as_secs()),
            (
                "visitor-cookie-max-age-secs",
                self.visitor_cookie_max_age.as_secs(),
            ),
            (
                "auth-verify-timeout-ms",
                self.auth_verify_timeout.as_millis() as u64,
            ),
            ("store-queue", self.store_queue as u64),
            ("frame-rate", u64::from(self.frame_rate)),
            ("frame-burst", u64::from(self.frame_burst)),
            ("webhook-queue-bytes", self.webhook_queue_bytes as u64),
            ("hash-concurrency", self.hash_concurrency as u64),
            (
                "key-failures-per-user",
                u64::from(self.key_failures_per_user),
            ),
            (
                "key-failures-per-address",
                u64::from(self.key_failures_per_address),
            ),
            (
                "http-header-timeout-secs",
                self.http_header_timeout.as_millis() as u64,
            ),
            (
                "max-connections-per-address",
                self.max_connections_per_address as u64,
            ),
            (
                "http-request-timeout-secs",
                self.http_request_timeout.as_millis() as u64,
            ),
            (
                "visitor-idle-max-age-secs",
                self.visitor_idle_max_age.as_secs(),
            ),
            (
                "anonymous-logins-per-address",
                u64::from(self.anonymous_logins_per_address),
            ),
            (
                "anonymous-login-window-secs",
                self.anonymous_login_window.as_secs(),
            ),
            ("sweep-interval-secs", self.sweep_interval.as_secs()),
            ("jwt-max-lifetime-secs", self.jwt_max_lifetime.as_secs()),
            (
                "track-subscribes-per-sec",
                u64::from(self.track_subscribes_per_sec),
            ),
            (
                "track-subscribes-burst",
                u64::from(self.track_subscribes_burst),
            ),
            ("readyz-timeout-ms", self.readyz_timeout.as_millis() as u64),
            (
                "cometql-max-statement-bytes",
                self.cometql_max_statement_bytes as u64,
            ),
            ("cometql-max-rows", self.cometql_max_rows as u64),
            (
                "cometql-max-connections",
                self.cometql_max_connections as u64,
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Invalid {
                field,
                reason: "must be greater than 0".into(),
            });
        }
        if self.max_json_depth > MAX_JSON_DEPTH_LIMIT {
            return Err(ConfigError::Invalid {
                field: "max-json-depth",
                reason: format!(
                    "must be at most {MAX_JSON_DEPTH_LIMIT}: deeper payloads in a reply would pass serde_json's 128 levels"
                ),
            });
        }
        if self.max_login_code_ttl < self.login_code_ttl {
            return Err(ConfigError::Invalid {
                field: "max-login-code-ttl-secs",
                reason: "must be at least login-code-ttl-secs".into(),
            });
        }
        if self.ws_ping >= self.idle_timeout {
            return Err(ConfigError::Invalid {
                field: "ws-ping-secs",
                reason: "must be shorter than idle-timeout-secs".into(),
            });
        }
        if let Some(key) = &self.api_key
            && key.len() < 16
        {
            return Err(ConfigError::Invalid {
                field: "api-key",
                reason: "must be at least 16 characters".into(),
            });
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: "public-url",
                reason: "must start with http:// or https://".into(),
            });
        }
        self.validate_auth()
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if self.session_ttl_short > self.session_ttl {
            return Err(invalid(
                "session-ttl-short-secs",
                "must not exceed session-ttl-secs",
            ));
        }
        if let Some(u) = &self.auth_verify_url
            && !matches!(u.scheme(), "http" | "https")
        {
            return Err(invalid("auth-verify-url", "must be an http(s) URL"));
        }
        if self.auth_verify_headers.is_empty()
            || self
                .auth_verify_headers
                .iter()
                .any(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(invalid(
                "auth-verify-headers",
                "must be a comma-separated list of header names",
            ));
        }
        // RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits).
        if self.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("jwt-secret", "must be at least 32 bytes"));
        }
        exposure::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_devices_per_user, 16);
        assert_eq!(c.max_frame_bytes, 65536);
    }

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let file: Args = toml::from_str("listen = \"127.0.0.1:9000\"\nmax-devices-per-user = 3\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let cli = Args {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
            ..Args::default()
        };
        let c = Config::from_args(cli.or(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.max_devices_per_user, 3);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |a: Args| Config::from_args(a).is_err();
        assert!(bad(Args {
            outbound_queue: Some(0),
            ..Args::default()
        }));
        assert!(bad(Args {
            api_key: Some("short".into()),
            ..Args::default()
        }));
        assert!(bad(Args {
            webhook_url: Some("not a url".into()),
            ..Args::default()
        }));
        assert!(bad(Args {
            max_json_depth: Some(500),
            ..Args::default()
        }));
        assert!(toml::from_str::<Args>("bogus = 1").is_err());
    }

    #[test]
    fn cometql_is_off_by_default_and_a_bare_port_is_loopback() {
        assert_eq!(Config::default().cometql_listen, None);
        let at = |v: &str| {
            Config::from_args(Args {
                cometql_listen: Some(v.into()),
                ..Args::default()
            })
            .map(|c| c.cometql_listen)
        };
        let loopback = Some(SocketAddr::from(([127, 0, 0, 1], 3306)));
        assert_eq!(at("3306").ok(), Some(loopback));
        assert_eq!(at(":3306").ok(), Some(loopback));
        assert_eq!(
            at("0.0.0.0:3307").ok(),
            Some(Some(SocketAddr::from(([0, 0, 0, 0], 3307))))
        );
        assert!(at("nowhere").is_err());
        let file: Args = toml::from_str("cometql-listen = \"3306\"\ncometql-max-rows = 5\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let c = Config::from_args(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.cometql_listen, c.cometql_max_rows), (loopback, 5));
    }
}
