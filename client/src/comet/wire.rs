//! The native dialect's JSON bodies, read and written without a JSON library (see `json`):
//! the core only needs a handful of top-level members — ids, channel names, seqs, epochs —
//! and hands payloads (`data`, `result`) to the host as raw JSON text for its own `JSON`.

use std::borrow::Cow;

use crate::json::{Object, push_dec, push_string};

/// A stream position: resume after `seq` if the stream is still in `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub epoch: String,
}

impl Position {
    /// `{"seq":N,"epoch":"…"}`: the wire form, also the form the host stores.
    pub fn to_json(&self) -> String {
        // Written by hand, not `format!`: no formatting code in the wasm module.
        let mut out = String::from(r#"{"seq":"#);
        push_dec(&mut out, self.seq);
        out.push_str(r#","epoch":"#);
        push_string(&mut out, &self.epoch);
        out.push('}');
        out
    }

    /// The inverse of [`Position::to_json`]; `None` for anything else (a stored value from an
    /// older version, a hand-edited one), which the caller treats as "no position".
    pub fn parse(json: &str) -> Option<Position> {
        Self::from_object(&Object::scan(json).ok()?)
    }

    /// The `seq` and `epoch` members of a scanned object (a stored position, a stream state).
    fn from_object(o: &Object<'_>) -> Option<Position> {
        Some(Position {
            seq: o.u64("seq")?,
            epoch: o.string("epoch")?.into_owned(),
        })
    }
}

/// A relay error: `{"code","message"}` of a reply, or one made up by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u32,
    pub message: String,
}

impl Failure {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn from_raw(raw: &str) -> Self {
        match Object::scan(raw) {
            Ok(o) => Failure::new(
                o.u64("code")
                    .map_or(0, |c| c.min(u64::from(u32::MAX)) as u32),
                o.string("message").unwrap_or_default(),
            ),
            Err(_) => Failure::new(0, "unreadable error"),
        }
    }
}

/// A `reply:` body: the request id and its raw result, or the error.
pub struct Reply<'a> {
    pub id: u64,
    pub outcome: Result<&'a str, Failure>,
}

impl<'a> Reply<'a> {
    pub fn scan(json: &'a str) -> Option<Self> {
        let o = Object::scan(json).ok()?;
        let id = o.u64("id")?;
        let outcome = match (o.raw("result"), o.raw("error")) {
            (_, Some(e)) => Err(Failure::from_raw(e)),
            (Some(r), None) => Ok(r),
            (None, None) => Ok("null"),
        };
        Some(Self { id, outcome })
    }
}

/// A `pub:` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub channel: String,
    pub event: String,
    /// Raw JSON; `null` when absent.
    pub data_json: String,
    /// Absent on live-only frames (`user_status_*`, `sys`, `track_*` subscription/unsubscription).
    pub seq: Option<u64>,
    /// The sender as authenticated by the relay; absent for the back end and anonymous.
    pub user_id: Option<String>,
}

impl Publication {
    pub fn scan(json: &str) -> Option<Self> {
        let o = Object::scan(json).ok()?;
        Some(Self {
            channel: o.string("channel")?.into_owned(),
            event: o.string("event").unwrap_or_default().into_owned(),
            data_json: o.raw("data").unwrap_or("null").to_owned(),
            seq: o.u64("seq"),
            user_id: o.string("user_id").map(Cow::into_owned),
        })
    }
}

/// A stream's state in a `subscribe` or `auth` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    pub position: Position,
    pub recovered: bool,
}

impl StreamState {
    pub fn scan(json: &str) -> Option<Self> {
        let o = Object::scan(json).ok()?;
        Some(Self {
            position: Position::from_object(&o)?,
            recovered: o.bool("recovered").unwrap_or(true),
        })
    }
}

/// Builds `kind:{"id":N,...}` request packets member by member, the kind first so the
/// packet is written into one buffer (no copy to prefix it: module size).
pub struct Body(String);

impl Body {
    pub fn new(kind: &str, id: u64) -> Self {
        let mut out = String::from(kind);
        out.push_str(r#":{"id":"#);
        push_dec(&mut out, id);
        Body(out)
    }

    /// `{"mid":"<key>"…}`, no kind: a body kept for resending; each send adds its kind and id.
    pub fn keyed(key: &str) -> Self {
        let mut out = String::from("{\"mid\":\"");
        out.push_str(key);
        out.push('"');
        Body(out)
    }

    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.member(key);
        push_string(&mut self.0, value);
        self
    }

    /// `value` must already be JSON text.
    pub fn raw(mut self, key: &str, value: &str) -> Self {
        self.member(key);
        self.0.push_str(value);
        self
    }

    /// `,"key":`, before a member's value.
    fn member(&mut self, key: &str) {
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
    }

    /// The packet (`kind:{…}`), or a keyed body (`{…}`).
    pub fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let p = Position {
            seq: 42,
            epoch: "ep\"och".into(),
        };
        assert_eq!(p.to_json(), r#"{"seq":42,"epoch":"ep\"och"}"#);
        assert_eq!(Position::parse(&p.to_json()), Some(p));
        for bad in ["", "{}", r#"{"seq":-1,"epoch":"e"}"#, r#"{"seq":1}"#, "[1]"] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn replies() {
        let r = Reply::scan(r#"{"id":7,"result":{"seq":3}}"#).expect("reply");
        assert_eq!((r.id, r.outcome), (7, Ok(r#"{"seq":3}"#)));
        let r = Reply::scan(r#"{"id":8,"error":{"code":4005,"message":"no"}}"#).expect("reply");
        assert_eq!(r.outcome, Err(Failure::new(4005, "no")));
        assert!(Reply::scan(r#"{"result":1}"#).is_none());
        assert!(Reply::scan(r#"{"id":1.5}"#).is_none());
    }

    #[test]
    fn publications() {
        let p = Publication::scan(
            r#"{"channel":"web_a","event":"say","data":{"t":"a,b}"},"seq":9,"user_id":"bob"}"#,
        )
        .expect("pub");
        assert_eq!(p.data_json, r#"{"t":"a,b}"}"#);
        assert_eq!((p.seq, p.user_id.as_deref()), (Some(9), Some("bob")));
        let p = Publication::scan(r#"{"channel":"track_x","event":"subscription","data":{}}"#)
            .expect("pub");
        assert_eq!((p.seq, p.user_id), (None, None));
        assert!(Publication::scan(r#"{"event":"x"}"#).is_none());
        assert!(Publication::scan(r#"{"channel":"x","data":[}"#).is_none());
    }

    #[test]
    fn stream_states() {
        let s = StreamState::scan(r#"{"epoch":"e1","seq":4,"recovered":false}"#).expect("state");
        assert_eq!(s.position.seq, 4);
        assert!(!s.recovered);
    }

    #[test]
    fn bodies() {
        let b = Body::new("publish", 3)
            .string("channel", "web_\"x")
            .raw("data", "[1]")
            .end();
        assert_eq!(b, r#"publish:{"id":3,"channel":"web_\"x","data":[1]}"#);
        let k = Body::keyed("abc").string("channel", "web_x").end();
        assert_eq!(k, r#"{"mid":"abc","channel":"web_x"}"#);
    }
}
