//! CppComet's CometQL tables, each operation carried out by the same functions the `/api/v1`
//! handlers call, so both APIs keep one set of rules.

use cometa_protocol::names;
use serde_json::value::RawValue;

use super::parse::Op;
pub use super::schema::Table;
use super::{CqlError, ErrCode};
use crate::api::channels::{channel, remove_retention, revoke_key, set_key, set_retention};
use crate::api::extract::event_name;
use crate::error::ApiError;
use crate::state::App;
use crate::store::Retention;
use crate::store::StreamId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Int(i64),
    Text(String),
}

#[derive(Debug)]
pub enum Answer {
    /// Rows affected.
    Done(u64),
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
}

/// Where a `users_messages` delete records that the queue was emptied: a device name no
/// client can take (device ids have no `:`).
const CLEARED_BY_COMETQL: &str = "cometql:cleared";
/// The session a Wafer tunnel never has (ids start at 1): its resume point is where the
/// user's offline queue starts.
const NO_SESSION: i64 = 0;

impl From<ApiError> for CqlError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) => {
                CqlError::new(ErrCode::InvalidData, format!("Invalid data format: {m}"))
            }
            ApiError::NotFound(m) => CqlError::new(ErrCode::NotExist, m),
            other => {
                tracing::warn!(error = %other, "CometQL statement failed");
                CqlError::new(ErrCode::Unspecified, "Unspecified error: try again later")
            }
        }
    }
}

impl From<crate::store::StoreError> for CqlError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

fn read_only(t: Table) -> CqlError {
    CqlError::new(
        ErrCode::ReadOnly,
        format!("The table {} is read-only", name_of(t)),
    )
}

fn name_of(t: Table) -> &'static str {
    match t {
        Table::PipesMessages => "pipes_messages",
        Table::Pipes => "pipes",
        Table::UsersInPipes => "users_in_pipes",
        Table::PipesSettings => "pipes_settings",
        Table::UsersMessages => "users_messages",
        Table::UsersAuth => "users_auth",
        Table::UsersTime => "users_time",
        Table::UsersData => "users_data",
    }
}

fn user(id: &str) -> Result<&str, CqlError> {
    names::check_user_id(id)
        .map(|()| id)
        .map_err(|e| CqlError::new(ErrCode::InvalidData, format!("Invalid data format: id {e}")))
}

fn field<'a>(row: &'a [(String, String)], name: &str) -> Result<&'a str, CqlError> {
    row.iter()
        .find(|(c, _)| c == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| CqlError::new(ErrCode::InvalidData, format!("field `{name}` is required")))
}

/// CppComet's messages are text; a text that is JSON travels as that JSON, any other as a
/// JSON string — what CppComet's JS API hands the page either way.
fn message_data(text: &str) -> String {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => raw.get().to_string(),
        Err(_) => serde_json::Value::String(text.to_string()).to_string(),
    }
}

/// The inverse of [`message_data`] for reading back.
fn message_text(data: &str) -> String {
    match serde_json::from_str::<String>(data) {
        Ok(s) => s,
        Err(_) => data.to_string(),
    }
}

pub async fn run(app: &App, op: Op) -> Result<Answer, CqlError> {
    match op {
        Op::Insert { table, rows } => {
            for row in &rows {
                insert(app, table, row).await?;
            }
            Ok(Answer::Done(rows.len() as u64))
        }
        Op::Select {
            table,
            columns,
            keys,
        } => select(app, table, &columns, &keys).await,
        Op::Delete { table, keys } => {
            let mut n = 0;
            for key in &keys {
                n += delete(app, table, key).await?;
            }
            Ok(Answer::Done(n))
        }
        Op::ShowStatus => {
            let s = app.store.stats().await?;
            let rows = [
                ("connections", app.hub.live() as u64),
                ("store_cursor_writes", s.cursor_writes),
                ("store_dropped_writes", s.dropped_writes),
                ("store_queued_jobs", s.queued_jobs as u64),
                ("store_queue_capacity", s.queue_capacity as u64),
            ]
            .into_iter()
            .map(|(k, v)| vec![Cell::Text(k.into()), Cell::Text(v.to_string())])
            .collect();
            Ok(Answer::Rows {
                columns: vec!["Variable_name".into(), "Value".into()],
                rows,
            })
        }
        Op::Set => Ok(Answer::Done(0)),
        Op::Variables(names) => {
            let row = names
                .iter()
                .map(|n| match n.to_ascii_lowercase().as_str() {
                    "@@version_comment" => Cell::Text("Cometa CometQL".into()),
                    _ => Cell::Text(String::new()),
                })
                .collect();
            Ok(Answer::Rows {
                columns: names,
                rows: vec![row],
            })
        }
    }
}

async fn insert(app: &App, table: Table, row: &[(String, String)]) -> Result<(), CqlError> {
    if let Some((c, _)) = row
        .iter()
        .find(|(c, _)| !table.insert_columns().contains(&c.as_str()))
    {
        if table.insert_columns().is_empty() {
            return Err(read_only(table));
        }
        return Err(CqlError::new(
            ErrCode::Columns,
            format!(
                "Error in the enumeration list of columns: no column `{c}` to insert into {}",
                name_of(table)
            ),
        ));
    }
    match table {
        Table::UsersAuth => {
            set_key(app, user(field(row, "id")?)?, field(row, "hash")?).await?;
        }
        Table::UsersMessages => {
            let id = user(field(row, "id")?)?;
            let event = field(row, "event")?;
            event_name(event)?;
            crate::publish::personal(app, id, event, &message_data(field(row, "message")?)).await?;
        }
        Table::PipesMessages => {
            let name = field(row, "name")?;
            channel(name)?;
            let event = field(row, "event")?;
            event_name(event)?;
            crate::publish::channel(
                app,
                name,
                event,
                &message_data(field(row, "message")?),
                None,
            )
            .await?;
        }
        Table::PipesSettings => {
            let name = field(row, "name")?;
            let length: u64 = field(row, "length")?.parse().map_err(|_| {
                CqlError::new(
                    ErrCode::InvalidData,
                    "Invalid data format: length is a number from 0",
                )
            })?;
            let r = Retention {
                max_len: length,
                max_age_secs: app.config.channel_history_age.as_secs(),
            };
            set_retention(app, name, r).await?;
        }
        // The same rule as `PUT /api/v1/users/{id}/data`: what `getUserData` reads.
        Table::UsersData => {
            let id = user(field(row, "id")?)?;
            let data = field(row, "data")?;
            let is_object = serde_json::from_str::<&RawValue>(data)
                .is_ok_and(|raw| raw.get().trim_start().starts_with('{'));
            if !is_object {
                return Err(CqlError::new(
                    ErrCode::InvalidData,
                    "Invalid data format: user data must be a JSON object",
                ));
            }
            app.store.set_user_data(id, data).await?;
        }
        Table::Pipes | Table::UsersInPipes | Table::UsersTime => return Err(read_only(table)),
    }
    Ok(())
}

async fn delete(app: &App, table: Table, key: &str) -> Result<u64, CqlError> {
    Ok(match table {
        Table::UsersAuth => u64::from(revoke_key(app, user(key)?).await?.0),
        Table::UsersMessages => {
            let id = user(key)?;
            let info = app.store.stream_info(StreamId::Personal(id)).await?;
            app.store
                .advance_device_cursor(CLEARED_BY_COMETQL, id, info.top, Some(&info.epoch));
            0
        }
        Table::PipesSettings => u64::from(remove_retention(app, key).await?),
        Table::PipesMessages => {
            return Err(CqlError::new(
                ErrCode::NotImplemented,
                "This feature is not implemented: channel history ages out by its retention",
            ));
        }
        Table::UsersData => {
            return Err(CqlError::new(
                ErrCode::NotImplemented,
                "This feature is not implemented: replace a user's data instead",
            ));
        }
        Table::Pipes | Table::UsersInPipes | Table::UsersTime => return Err(read_only(table)),
    })
}

async fn select(
    app: &App,
    table: Table,
    columns: &[String],
    keys: &[String],
) -> Result<Answer, CqlError> {
    let all = table.columns();
    let picked: Vec<usize> = if columns.is_empty() {
        (0..all.len()).collect()
    } else {
        columns
            .iter()
            .map(|c| {
                all.iter().position(|a| a == c).ok_or_else(|| {
                    CqlError::new(
                        ErrCode::Columns,
                        format!(
                            "Error in the enumeration list of columns: no column `{c}` in {}",
                            name_of(table)
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    let max = app.config.cometql_max_rows;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for key in keys {
        // One more than fits, so an overflow is seen without reading everything.
        let room = (max + 1).saturating_sub(rows.len());
        let key_cell = || Cell::Text(key.clone());
        match table {
            Table::Pipes => {
                channel(key)?;
                rows.push(vec![key_cell(), Cell::Int(app.hub.subscribers(key) as i64)]);
            }
            Table::UsersInPipes => {
                channel(key)?;
                for u in app.hub.members(key).into_iter().take(room) {
                    rows.push(vec![key_cell(), Cell::Text(u)]);
                }
            }
            Table::PipesSettings => {
                let r = app.policy.retention(key);
                rows.push(vec![key_cell(), Cell::Int(r.max_len as i64)]);
            }
            Table::PipesMessages => {
                channel(key)?;
                let history = app
                    .store
                    .before(StreamId::Channel(key), u64::MAX, room)
                    .await?;
                for (i, m) in history.into_iter().enumerate() {
                    rows.push(vec![
                        key_cell(),
                        Cell::Int(i as i64),
                        Cell::Text(m.event),
                        Cell::Text(message_text(&m.data)),
                    ]);
                }
            }
            Table::UsersMessages => {
                let id = user(key)?;
                let start = app.store.resume_point(NO_SESSION, id).await?;
                let queue = app.store.after(StreamId::Personal(id), start, room).await?;
                for (i, m) in queue.into_iter().enumerate() {
                    rows.push(vec![
                        key_cell(),
                        Cell::Int(i as i64),
                        Cell::Text(m.event),
                        Cell::Text(message_text(&m.data)),
                    ]);
                }
            }
            Table::UsersTime => {
                let id = user(key)?;
                let time = if app.hub.devices(id) > 0 {
                    0
                } else {
                    app.store.last_seen(id).await?.map_or(-1, |t| t as i64)
                };
                rows.push(vec![key_cell(), Cell::Int(time)]);
            }
            // Keys are stored hashed, so `hash` is the key's SHA-256 in hex: a back end checks
            // it against `hash('sha256', $key)`. Users without a key have no row, as in CppComet.
            Table::UsersData => {
                if let Some(d) = app.store.user_data(user(key)?).await? {
                    rows.push(vec![key_cell(), Cell::Text(d)]);
                }
            }
            Table::UsersAuth => {
                if let Some(h) = app.store.user_key_hash(user(key)?).await? {
                    rows.push(vec![key_cell(), Cell::Text(hex::encode(h))]);
                }
            }
        }
        if rows.len() > max {
            return Err(CqlError::new(
                ErrCode::TooLarge,
                format!("Too large amount of data: more than {max} rows; ask for fewer keys"),
            ));
        }
    }
    let rows = rows
        .into_iter()
        .map(|r| picked.iter().map(|&i| r[i].clone()).collect())
        .collect();
    Ok(Answer::Rows {
        columns: picked.iter().map(|&i| all[i].to_string()).collect(),
        rows,
    })
}
