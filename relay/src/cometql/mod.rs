//! CometQL: CppComet's back-end API over the MySQL wire protocol, so a back end written for
//! CppComet (`mysqli_query($link, "INSERT INTO users_messages …")`) only changes its host name.
//!
//! - this file: the listener, the login (user = any dev id, password = the API key, database
//!   `CometQL_v1`) and the answer to each statement;
//! - [`schema`]: CppComet's tables and their columns;
//! - [`parse`]: a statement (sqlparser, MySQL dialect) → an [`parse::Op`] on a table;
//! - [`tables`]: each table's operations, through the same functions as `/api/v1`;
//! - [`packets`]: the bound on a client's MySQL packets, before anything is buffered.

mod packets;
pub mod parse;
pub mod schema;
pub mod tables;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mysql_common::scramble::scramble_native;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
};
use rand::Rng;
use subtle::ConstantTimeEq;
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::state::App;
use tables::{Answer, Cell};

/// The one database name CppComet answers to.
pub const DATABASE: &str = "CometQL_v1";

/// CppComet's documented CometQL error codes ("Error codes in CometQL").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCode {
    Unspecified = 1,
    NotImplemented = 2,
    Syntax = 3,
    ReadOnly = 10,
    TooLarge = 11,
    InvalidData = 12,
    WhereList = 13,
    Columns = 14,
    NotExist = 15,
    Authentication = 16,
}

impl ErrCode {
    /// The MySQL error the code travels as: the protocol crate writes only MySQL's registered
    /// codes, so CppComet's own number leads the message text instead (`[3] …`).
    fn mysql(self) -> ErrorKind {
        match self {
            ErrCode::Unspecified => ErrorKind::ER_UNKNOWN_ERROR,
            ErrCode::NotImplemented => ErrorKind::ER_NOT_SUPPORTED_YET,
            ErrCode::Syntax => ErrorKind::ER_PARSE_ERROR,
            ErrCode::ReadOnly => ErrorKind::ER_OPEN_AS_READONLY,
            ErrCode::TooLarge => ErrorKind::ER_NET_PACKET_TOO_LARGE,
            ErrCode::InvalidData => ErrorKind::ER_WRONG_VALUE_FOR_VAR,
            ErrCode::WhereList => ErrorKind::ER_WRONG_ARGUMENTS,
            ErrCode::Columns => ErrorKind::ER_BAD_FIELD_ERROR,
            ErrCode::NotExist => ErrorKind::ER_NO_SUCH_TABLE,
            ErrCode::Authentication => ErrorKind::ER_ACCESS_DENIED_ERROR,
        }
    }
}

/// A statement's failure: CppComet's code and a text for the back end's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{}] {message}", *code as u16)]
pub struct CqlError {
    pub code: ErrCode,
    pub message: String,
}

impl CqlError {
    pub fn new(code: ErrCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The running listener, when configured.
pub struct Running {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Starts on `bound`, or binds `--cometql-listen` now; does nothing when it is unset.
    pub async fn start(app: &App, bound: Option<TcpListener>) -> std::io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let listener = match (bound, app.config.cometql_listen) {
            (Some(l), _) => Some(l),
            (None, Some(addr)) => Some(TcpListener::bind(addr).await?),
            (None, None) => None,
        };
        let task = listener.map(|l| tokio::spawn(serve(app.clone(), l, stopped)));
        Ok(Self { stop, task })
    }

    /// A handle that closes the listener and every CometQL connection.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    pub async fn stopped(self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}

/// Accepts CometQL connections until `stop` turns true; each connection ends then too.
async fn serve(app: App, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "CometQL listening");
    }
    let slots = Arc::new(Semaphore::new(app.config.cometql_max_connections));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "CometQL accept failed");
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "CometQL connection refused: --cometql-max-connections reached");
            continue;
        };
        let (app, mut stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let (r, w) = tcp.into_split();
            let hard_cap = app.config.cometql_max_statement_bytes.saturating_mul(4);
            let login_timeout = app.config.handshake_timeout;
            let shim = Session::new(app);
            let authenticated = shim.authenticated.clone();
            let run = AsyncMysqlIntermediary::run_on(shim, packets::Bounded::new(r, hard_cap), w);
            // A client that connects and never logs in would hold its slot for ever.
            let login_deadline = async {
                tokio::time::sleep(login_timeout).await;
                if authenticated.load(Ordering::Acquire) {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                () = login_deadline => tracing::debug!(%peer, "CometQL login timed out"),
                res = run => if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "CometQL connection ended");
                },
            }
        });
    }
}

/// One client connection.
struct Session {
    app: App,
    /// Fresh per connection, so a captured login cannot be replayed.
    salt: [u8; 20],
    /// Shared with the connection task, which ends a connection that does not log in.
    authenticated: Arc<AtomicBool>,
}

impl Session {
    fn new(app: App) -> Self {
        let mut rng = rand::rng();
        // Printable ASCII without `$`: some clients treat the scramble as a C string.
        let salt = std::array::from_fn(|_| {
            loop {
                let b: u8 = rng.random_range(0x21..0x7f);
                if b != b'$' {
                    break b;
                }
            }
        });
        Self {
            app,
            salt,
            authenticated: Arc::new(AtomicBool::new(false)),
        }
    }

    fn authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }
}

async fn write_error<W: AsyncWrite + Send + Unpin>(
    w: QueryResultWriter<'_, W>,
    e: &CqlError,
) -> std::io::Result<()> {
    w.error(e.code.mysql(), e.to_string().as_bytes()).await
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Session {
    type Error = std::io::Error;

    fn version(&self) -> String {
        format!("5.7.0-Cometa-CometQL-{}", env!("CARGO_PKG_VERSION"))
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    /// `mysql_native_password`: the client proves it knows the API key without sending it.
    /// The user name is CppComet's dev id, which a single-tenant relay does not need.
    async fn authenticate(
        &self,
        _plugin: &str,
        _username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        let ok = scramble_native(salt, self.app.api_key.as_bytes())
            .is_some_and(|expected| bool::from(expected.as_slice().ct_eq(auth_data)));
        if ok {
            self.authenticated.store(true, Ordering::Release);
        } else {
            tracing::info!("CometQL login refused");
        }
        ok
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, w: InitWriter<'a, W>) -> std::io::Result<()> {
        if db == DATABASE {
            w.ok().await
        } else {
            let e = CqlError::new(
                ErrCode::NotExist,
                format!("Select database failure: the database is {DATABASE}"),
            );
            w.error(ErrorKind::ER_BAD_DB_ERROR, e.to_string().as_bytes())
                .await
        }
    }

    async fn on_prepare<'a>(
        &'a mut self,
        _query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> std::io::Result<()> {
        let e = CqlError::new(
            ErrCode::NotImplemented,
            "prepared statements are not supported: send the statement as a query",
        );
        info.error(e.code.mysql(), e.to_string().as_bytes()).await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> std::io::Result<()> {
        let e = CqlError::new(
            ErrCode::NotImplemented,
            "prepared statements are not supported",
        );
        write_error(results, &e).await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_query<'a>(
        &'a mut self,
        sql: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> std::io::Result<()> {
        if !self.authenticated() {
            let e = CqlError::new(ErrCode::Authentication, "Not passed authentication");
            return write_error(results, &e).await;
        }
        let max = self.app.config.cometql_max_statement_bytes;
        if sql.len() > max {
            let e = CqlError::new(
                ErrCode::TooLarge,
                format!("Too large amount of data: a statement is at most {max} bytes"),
            );
            return write_error(results, &e).await;
        }
        let answer = match parse::parse(sql) {
            Ok(op) => tables::run(&self.app, op).await,
            Err(e) => Err(e),
        };
        match answer {
            Err(e) => write_error(results, &e).await,
            Ok(Answer::Done(affected_rows)) => {
                results
                    .completed(OkResponse {
                        affected_rows,
                        ..Default::default()
                    })
                    .await
            }
            Ok(Answer::Rows { columns, rows }) => {
                let cols: Vec<Column> = columns
                    .iter()
                    .map(|name| Column {
                        table: String::new(),
                        column: name.clone(),
                        coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                        colflags: ColumnFlags::empty(),
                    })
                    .collect();
                let mut w = results.start(&cols).await?;
                for row in rows {
                    for cell in row {
                        match cell {
                            Cell::Int(i) => w.write_col(i.to_string())?,
                            Cell::Text(t) => w.write_col(t)?,
                        }
                    }
                    w.end_row().await?;
                }
                w.finish().await
            }
        }
    }
}
