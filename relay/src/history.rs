//! A stream's kept messages read back — native `history` and the API's history — in pages
//! that fit the relay's reply size.
//!
//! Payloads go out exactly as they were stored: each publication is encoded once with its
//! data spliced in as raw JSON, and the page around them likewise, never rebuilt as a
//! `serde_json::Value`. A tree would re-parse every payload, and a payload nested deeper
//! than serde_json's 128 levels (stored before `max-json-depth` existed) would fail to.

use cometa_protocol::frames::{HistoryPage, Publication};
use serde_json::value::{RawValue, to_raw_value};

use crate::state::App;
use crate::store::StoreError;
use crate::store::StreamId;
use crate::store::StreamMessage;

/// The largest `{"epoch":…,"seq":…,"publications":[],"more":false}` and `reply:{"id":…}`
/// around a page, less the epoch itself.
const ENVELOPE: usize = 160;

/// What a history request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The channel name publications carry (`msg` for the personal stream).
    pub channel: &'a str,
    pub stream: StreamId<'a>,
    pub before: Option<u64>,
    pub limit: usize,
}

/// The newest `limit` messages before `before`, cut from the oldest end to the reply size
/// (never below one message, so paging always moves on), encoded as a [`HistoryPage`].
pub async fn page(app: &App, q: Query<'_>) -> Result<Box<RawValue>, StoreError> {
    let info = app.store.stream_info(q.stream).await?;
    let end = q.before.unwrap_or(u64::MAX).min(info.top.saturating_add(1));
    let rows = app.store.before(q.stream, end, q.limit).await?;
    let budget = app
        .config
        .max_reply_bytes
        .saturating_sub(ENVELOPE + info.epoch.len());
    let mut kept = Vec::new();
    let mut used = 0usize;
    for m in rows.iter().rev() {
        let p = encode(q.channel, m);
        let len = p.get().len() + 1;
        if !kept.is_empty() && used + len > budget {
            break;
        }
        used += len;
        kept.push((m.seq, p));
    }
    kept.reverse();
    let more = kept.first().is_some_and(|(seq, _)| *seq > info.oldest);
    let publications: Vec<Box<RawValue>> = kept.into_iter().map(|(_, p)| p).collect();
    let page = HistoryPage {
        epoch: &info.epoch,
        seq: info.top,
        publications: &publications,
        more,
    };
    Ok(to_raw_value(&page).unwrap_or_else(|_| RawValue::NULL.to_owned()))
}

/// One publication as JSON text; the stored data is copied in, not parsed into a tree.
fn encode(channel: &str, m: &StreamMessage) -> Box<RawValue> {
    // Stored data was raw JSON when it came in; the check here only scans (iteratively, at
    // any depth) and cannot fail on it.
    let data = RawValue::from_string(m.data.clone()).unwrap_or_else(|_| RawValue::NULL.to_owned());
    let p = Publication {
        channel,
        event: &m.event,
        data: &data,
        seq: Some(m.seq),
        user_id: m.user_id.as_deref(),
    };
    to_raw_value(&p).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_data_is_copied_not_parsed() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let m = StreamMessage {
            seq: 1,
            event: "e".into(),
            data: deep.clone(),
            user_id: None,
        };
        let p = encode("web_x", &m);
        assert_eq!(
            p.get(),
            format!(r#"{{"channel":"web_x","event":"e","data":{deep},"seq":1}}"#)
        );
    }
}
