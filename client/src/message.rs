//! The body of a `message:` packet, `{"type":<event>,"content":<json>}`, taken apart without a
//! JSON library.
//!
//! The core only needs the two top-level members: it decodes the `type` string (to escape
//! reserved names) and hands `content` over as raw JSON text for the host to parse with its
//! own `JSON`. The whole body is still checked against the JSON grammar, so a frame accepted
//! here is one `JSON.parse` accepts too and the host never sees a half-valid payload.

use std::borrow::Cow;

use crate::json::{Object, string_value};
pub use crate::json::{Reason, ScanError, encode_string};

/// The two members the tunnel needs from a message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The decoded `type` string, escapes resolved.
    pub event: Cow<'a, str>,
    /// The raw JSON text of `content`, exactly as received; `null` when the member is absent,
    /// which is what Wafer sends for `emit(type)` without content.
    pub content_json: &'a str,
    /// The personal stream's seq of a pushed message (the relay adds it); `None` on
    /// broadcasts and from relays that do not send it.
    pub seq: Option<u64>,
}

/// Finds `type` and `content` in a message body. Members may come in any order; as with
/// `JSON.parse`, a repeated key keeps its last value and unknown keys are ignored.
pub fn scan(json: &str) -> Result<Message<'_>, ScanError> {
    let obj = Object::scan(json)?;
    let raw_event = obj.raw("type").ok_or(ScanError {
        reason: Reason::NoType,
        offset: json.len(),
    })?;
    let event = string_value(raw_event).ok_or(ScanError {
        reason: Reason::TypeNotString,
        // `raw_event` points into `json`; its distance from the start is its offset.
        offset: raw_event.as_ptr() as usize - json.as_ptr() as usize,
    })?;
    Ok(Message {
        event,
        content_json: obj.raw("content").unwrap_or("null"),
        seq: obj.u64("seq"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: &str) -> (String, String) {
        match scan(json) {
            Ok(m) => (m.event.into_owned(), m.content_json.to_owned()),
            Err(e) => panic!("{json}: {e}"),
        }
    }

    fn bad(json: &str) {
        assert!(scan(json).is_err(), "accepted {json}");
    }

    #[test]
    fn plain_shapes() {
        assert_eq!(
            ok(r#"{"type":"speak","content":"hello"}"#),
            ("speak".into(), r#""hello""#.into())
        );
        assert_eq!(
            ok(r#"{"content":42,"type":"n"}"#),
            ("n".into(), "42".into())
        );
        assert_eq!(
            ok(r#"{"type":"x","content":null}"#),
            ("x".into(), "null".into())
        );
        assert_eq!(
            ok(r#"{"type":"x","content":[true,false,-1.5e+3,0]}"#),
            ("x".into(), "[true,false,-1.5e+3,0]".into())
        );
    }

    #[test]
    fn whitespace_is_allowed_and_trimmed_from_content() {
        assert_eq!(
            ok(" {\n \"type\" : \"a\" ,\t\"content\" :  { \"k\" : [ 1 , 2 ] }  } \r\n"),
            ("a".into(), r#"{ "k" : [ 1 , 2 ] }"#.into())
        );
    }

    #[test]
    fn nested_content_with_colons_commas_and_braces_in_strings() {
        let content = r#"{"a":{"b":[{"c":"}]:,{["},{"type":"inner"}]},"d":"x:y","e":[[],{}]}"#;
        let json = format!(r#"{{"type":"t","content":{content}}}"#);
        assert_eq!(ok(&json), ("t".into(), content.into()));
        // A nested `type` key must not be taken for the top-level one.
        let json = format!(r#"{{"content":{content},"type":"outer"}}"#);
        assert_eq!(ok(&json).0, "outer");
    }

    #[test]
    fn escapes_in_type_are_decoded() {
        assert_eq!(ok(r#"{"type":"a\"b\\c\/d","content":1}"#).0, "a\"b\\c/d");
        assert_eq!(
            ok(r#"{"type":"l\nt\tr\rb\bf\f","content":1}"#).0,
            "l\nt\tr\rb\u{8}f\u{c}"
        );
        assert_eq!(ok(r#"{"type":"\u0063lose","content":1}"#).0, "close");
        // Escaped key names count too.
        assert_eq!(ok(r#"{"\u0074ype":"k","content":1}"#).0, "k");
    }

    #[test]
    fn escapes_in_content_are_kept_raw() {
        let (_, c) = ok(r#"{"type":"t","content":"q\"uote\\ \u00e9 \"}\""}"#);
        assert_eq!(c, r#""q\"uote\\ \u00e9 \"}\"""#);
    }

    #[test]
    fn unicode() {
        assert_eq!(
            ok(r#"{"type":"聊天","content":"😀"}"#),
            ("聊天".into(), r#""😀""#.into())
        );
        // A surrogate pair becomes one character; lone halves become U+FFFD.
        assert_eq!(ok(r#"{"type":"\ud83d\ude00","content":0}"#).0, "😀");
        assert_eq!(ok(r#"{"type":"\ud83dx","content":0}"#).0, "\u{FFFD}x");
        assert_eq!(ok(r#"{"type":"\ude00","content":0}"#).0, "\u{FFFD}");
        assert_eq!(ok(r#"{"type":"\ud83d\u0041","content":0}"#).0, "\u{FFFD}A");
        assert_eq!(ok(r#"{"type":"\u00E9","content":0}"#).0, "é");
    }

    #[test]
    fn a_seq_member_is_read_and_optional() {
        let m = scan(r#"{"type":"n","content":{"seq":9},"seq":7}"#);
        assert_eq!(m.map(|m| m.seq), Ok(Some(7)));
        assert_eq!(scan(r#"{"type":"n","content":1}"#).map(|m| m.seq), Ok(None));
        assert_eq!(scan(r#"{"type":"n","seq":-1}"#).map(|m| m.seq), Ok(None));
    }

    #[test]
    fn missing_content_is_null_like_wafer_emit_without_content() {
        assert_eq!(
            ok(r#"{"type":"ping-me"}"#),
            ("ping-me".into(), "null".into())
        );
    }

    #[test]
    fn last_duplicate_wins_and_unknown_keys_are_ignored() {
        assert_eq!(
            ok(r#"{"type":"a","extra":{"type":"no"},"type":"b","content":1,"content":2}"#),
            ("b".into(), "2".into())
        );
    }

    #[test]
    fn rejects_what_json_parse_rejects() {
        for json in [
            "",
            "   ",
            "[]",
            r#""type""#,
            "{",
            r#"{"type":"a""#,
            r#"{"type":"a",}"#,
            r#"{"type":"a" "content":1}"#,
            r#"{"type" "a"}"#,
            r#"{type:"a"}"#,
            r#"{'type':'a'}"#,
            r#"{"type":"a","content":}"#,
            r#"{"type":"a","content":{"k":1,}}"#,
            r#"{"type":"a","content":[1,]}"#,
            r#"{"type":"a","content":[1}"#,
            r#"{"type":"a","content":{"k" 1}}"#,
            r#"{"type":"a","content":01}"#,
            r#"{"type":"a","content":1.}"#,
            r#"{"type":"a","content":-}"#,
            r#"{"type":"a","content":1e}"#,
            r#"{"type":"a","content":tru}"#,
            r#"{"type":"a","content":undefined}"#,
            r#"{"type":"a","content":NaN}"#,
            r#"{"type":"a\x"}"#,
            r#"{"type":"a\u12"}"#,
            "{\"type\":\"a\nb\"}",
            r#"{"type":"a"} x"#,
            r#"{"type":"a"}}"#,
            r#"{"type":"unterminated}"#,
        ] {
            bad(json);
        }
    }

    #[test]
    fn type_must_be_present_and_a_string() {
        assert_eq!(
            scan(r#"{"content":1}"#).map_err(|e| e.reason.to_string()),
            Err("no `type` member".into())
        );
        assert_eq!(
            scan(r#"{}"#).map_err(|e| e.reason.to_string()),
            Err("no `type` member".into())
        );
        assert_eq!(
            scan(r#"{"type":7,"content":1}"#).map_err(|e| e.reason.to_string()),
            Err("`type` is not a string".into())
        );
        bad(r#"{"type":null}"#);
        bad(r#"{"type":["a"]}"#);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 100_000;
        let content = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let json = format!(r#"{{"type":"deep","content":{content}}}"#);
        assert_eq!(ok(&json).1.len(), 2 * depth);
        let unbalanced = format!(r#"{{"type":"deep","content":{}}}"#, "[".repeat(depth));
        bad(&unbalanced);
    }

    #[test]
    fn error_reports_offset() {
        let e = scan(r#"{"type":"a",x}"#);
        assert_eq!(
            e,
            Err(ScanError {
                reason: Reason::ExpectedName,
                offset: 12
            })
        );
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("expected a member name at byte 12".into())
        );
    }

    #[test]
    fn encode_string_round_trips_through_scan() {
        for name in [
            "speak",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}ctl",
            "聊天 😀",
            "",
        ] {
            let json = format!(r#"{{"type":{},"content":0}}"#, encode_string(name));
            assert_eq!(ok(&json).0, name);
        }
        assert_eq!(encode_string("\u{1f}"), r#""\u001f""#);
    }
}
