//! The pieces of JSON grammar the core needs, without a JSON library: a validating scanner
//! that skips values and reports where they start and end, string decoding, and string
//! encoding.
//!
//! serde_json would cost about 30 KB gzipped in the wasm module, and the host has `JSON`
//! anyway. Skipping is iterative (an explicit bracket stack), so deeply nested content cannot
//! overflow the small wasm stack.

use std::borrow::Cow;
use std::fmt;

/// Why JSON text was rejected, with the byte offset where scanning stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    pub reason: Reason,
    pub offset: usize,
}

/// What went wrong, as a small code: the words exist only in [`Reason::text`], so a module
/// that never shows a parse error (the comet SDK discards them) carries none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ExpectedName,
    ExpectedColon,
    UnterminatedString,
    BadUnicodeEscape,
    BadEscape,
    ControlCharacter,
    BadLiteral,
    ExpectedDigit,
    ExpectedValue,
    ExpectedCommaOrClose,
    NotAnObject,
    TrailingCharacters,
    NoType,
    TypeNotString,
}

/// The words of every [`Reason`], in its order, each ended by `|`: one byte string and a
/// loop are smaller in the wasm module than a table of string slices.
const WORDS: &[u8] = b"expected a member name|expected `:`|unterminated string|bad `\\u` escape|\
bad escape|control character in string|bad literal|expected a digit|\
expected a value|expected `,` or a closing bracket|not a JSON object|\
trailing characters after the object|no `type` member|\
`type` is not a string|";

impl Reason {
    /// Appends the words for this reason.
    pub fn push_text(self, out: &mut String) {
        let mut skip = self as u8;
        for &b in WORDS {
            if b != b'|' {
                if skip == 0 {
                    out.push(char::from(b));
                }
            } else if skip == 0 {
                return;
            } else {
                skip -= 1;
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = String::new();
        self.push_text(&mut words);
        f.write_str(&words)
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ScanError {}

/// `before`, `n` in decimal, `after`: the shape of every message with a number in it. The
/// core writes its text by hand rather than with `format!`: the formatting machinery costs
/// the wasm SDK module size it counts in bytes. One function shared by every such message,
/// rather than a `concat` of a temporary number string at each site.
#[inline(never)]
pub(crate) fn with_number(before: &str, n: u64, after: &str) -> String {
    let mut out = String::with_capacity(before.len() + 20 + after.len());
    out.push_str(before);
    push_dec(&mut out, n);
    out.push_str(after);
    out
}

/// Appends `n` in decimal.
pub(crate) fn push_dec(out: &mut String, n: u64) {
    // Most significant digit first by recursion (at most 20 deep): smaller in the module
    // than a digit buffer filled from the end.
    if n >= 10 {
        push_dec(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `s` as a JSON string literal, quotes included, for the `type` of an outgoing message.
pub fn encode_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// Appends `s` as a JSON string literal (see [`encode_string`]): frames are written into
/// one buffer rather than assembled from encoded copies.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[(u32::from(c) >> 4) as usize]));
                out.push(char::from(HEX[(u32::from(c) & 15) as usize]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Resolves the escapes of a string body already checked by [`Cursor::skip_string`].
/// Lone surrogates, which JavaScript strings can hold but Rust strings cannot, become U+FFFD.
pub(crate) fn decode_string(body: &str) -> Cow<'_, str> {
    // A plain loop: `contains` would link `memchr` into the module.
    if !body.bytes().any(|c| c == b'\\') {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let unit = hex4(&mut chars);
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate is only meaningful followed by `\u` + a low surrogate.
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        let low = hex4(&mut ahead);
                        if (0xDC00..0xE000).contains(&low) {
                            let cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                            chars = ahead;
                            continue;
                        }
                    }
                }
                out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
            }
            // `"`, `\` and `/` stand for themselves; the scanner admitted no other escape.
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Four hex digits, already checked by the scanner: `| 0x20` lowercases a letter, and a
/// digit's value is its low nibble.
fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    (0..4).fold(0, |acc, _| {
        let c = chars.next().map_or(0, u32::from);
        acc * 16
            + if c <= 0x39 {
                c & 15
            } else {
                (c | 0x20).wrapping_sub(0x57)
            }
    })
}

/// A raw JSON value, if it is a string, decoded.
pub(crate) fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    // A scanned value that opens with a quote is a whole string, so it closes with one; bytes
    // rather than `strip_prefix`/`strip_suffix`, whose char patterns cost module size.
    if raw.as_bytes().first() != Some(&b'"') {
        return None;
    }
    raw.get(1..raw.len() - 1).map(decode_string)
}

/// A position in the input. Every delimiter JSON uses is ASCII and UTF-8 never reuses ASCII
/// bytes inside multi-byte characters, so scanning bytes is safe and offsets stay on char
/// boundaries.
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pub(crate) i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, i: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// Steps over `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let next = self.peek() == Some(b);
        if next {
            self.i += 1;
        }
        next
    }

    pub(crate) fn err(&self, reason: Reason) -> ScanError {
        ScanError {
            reason,
            offset: self.i,
        }
    }

    /// Every offset the scanner stops at is on an ASCII byte, hence a char boundary: the
    /// fallback is never taken.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.s.get(start..end).unwrap_or_default()
    }

    pub(crate) fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Reads `"key" :` and the whitespace after it; returns the key's body, escapes not
    /// resolved: only [`Object`] compares keys, and decodes them then.
    fn key(&mut self) -> Result<&'a str, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.err(Reason::ExpectedName));
        }
        let start = self.i + 1;
        self.skip_string()?;
        let key = self.slice(start, self.i - 1);
        self.ws();
        if !self.eat(b':') {
            return Err(self.err(Reason::ExpectedColon));
        }
        self.ws();
        Ok(key)
    }

    /// Skips a string from its opening quote to just after its closing one.
    fn skip_string(&mut self) -> Result<(), ScanError> {
        self.i += 1;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err(Reason::UnterminatedString));
            };
            if c < 0x20 {
                return Err(self.err(Reason::ControlCharacter));
            }
            self.i += 1;
            if c == b'"' {
                return Ok(());
            }
            if c == b'\\' {
                let Some(e @ (b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u')) =
                    self.peek()
                else {
                    return Err(self.err(Reason::BadEscape));
                };
                self.i += 1;
                if e == b'u' {
                    for _ in 0..4 {
                        if !self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                            return Err(self.err(Reason::BadUnicodeEscape));
                        }
                        self.i += 1;
                    }
                }
            }
        }
    }

    fn skip_literal(&mut self, lit: &[u8]) -> Result<(), ScanError> {
        let at = self.err(Reason::BadLiteral);
        for &c in lit {
            if !self.eat(c) {
                return Err(at);
            }
        }
        Ok(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Result<(), ScanError> {
        let at = self.err(Reason::ExpectedDigit);
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == at.offset { Err(at) } else { Ok(()) }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn skip_number(&mut self) -> Result<(), ScanError> {
        self.eat(b'-');
        if !self.eat(b'0') {
            self.digits()?;
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.digits()?;
        }
        Ok(())
    }

    /// Skips one value starting exactly at the cursor; stops right after it. When that value
    /// is an object, its top-level members go to `members` as (key body, raw value): one pass
    /// and one walker serve both skipping and [`Object::scan`].
    fn value(&mut self, members: &mut Vec<(&'a str, &'a str)>) -> Result<(), ScanError> {
        // The closing bracket each open container waits for.
        let mut open: Vec<u8> = Vec::new();
        // The top-level member being read: its key and where its value starts.
        let (mut key, mut start) = ("", 0);
        loop {
            // Whether an element starts here: a container just opened, or a `,` was read.
            let mut element = false;
            match self.peek() {
                // `{` + 2 is `}` and `[` + 2 is `]`.
                Some(o @ (b'{' | b'[')) => {
                    self.i += 1;
                    self.ws();
                    if !self.eat(o + 2) {
                        open.push(o + 2);
                        element = true;
                    }
                }
                Some(b'"') => self.skip_string()?,
                Some(c @ (b't' | b'f' | b'n')) => self.skip_literal(match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                })?,
                Some(b'-' | b'0'..=b'9') => self.skip_number()?,
                _ => return Err(self.err(Reason::ExpectedValue)),
            }
            // A value just ended: close finished containers, or move to the next element.
            while !element {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                if open.len() == 1 && close == b'}' {
                    members.push((key, self.slice(start, self.i)));
                }
                self.ws();
                if self.eat(b',') {
                    self.ws();
                    element = true;
                } else if self.eat(close) {
                    open.pop();
                } else {
                    return Err(self.err(Reason::ExpectedCommaOrClose));
                }
            }
            if open.last() == Some(&b'}') {
                let k = self.key()?;
                if open.len() == 1 {
                    (key, start) = (k, self.i);
                }
            }
        }
    }
}

/// The top-level members of one JSON object, values kept as raw text. The whole input is
/// checked against the grammar, so what is handed on is something `JSON.parse` accepts.
#[derive(Debug)]
pub struct Object<'a> {
    /// (key body with its escapes, raw value), in order.
    members: Vec<(&'a str, &'a str)>,
}

impl<'a> Object<'a> {
    pub fn scan(json: &'a str) -> Result<Self, ScanError> {
        let mut c = Cursor::new(json);
        c.ws();
        if c.peek() != Some(b'{') {
            return Err(c.err(Reason::NotAnObject));
        }
        let mut members = Vec::new();
        c.value(&mut members)?;
        c.ws();
        if c.i != json.len() {
            return Err(c.err(Reason::TrailingCharacters));
        }
        Ok(Self { members })
    }

    /// The raw value of `key`; the last one wins, as with `JSON.parse`.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        let mut found = None;
        for &(k, v) in &self.members {
            if decode_string(k) == key {
                found = Some(v);
            }
        }
        found
    }

    /// `key` as a decoded string; `None` when absent or not a string.
    pub fn string(&self, key: &str) -> Option<Cow<'a, str>> {
        string_value(self.raw(key)?)
    }

    /// `key` as a non-negative integer; `None` for anything else (fractions, exponents,
    /// negatives, numbers beyond u64), which no relay sends for a seq or an id.
    pub fn u64(&self, key: &str) -> Option<u64> {
        // Never empty: the scanner admits no empty value, so the loop below sees a digit.
        let raw = self.raw(key)?;
        // By hand: `str::parse` would add the integer parser to the wasm module. The overflow
        // test divides rather than using `checked_mul`, which wasm does with a 128-bit product.
        let mut n: u64 = 0;
        for b in raw.bytes() {
            let digit = u64::from(b.wrapping_sub(b'0'));
            if digit > 9 || n > (u64::MAX - digit) / 10 {
                return None;
            }
            n = n * 10 + digit;
        }
        Some(n)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        for n in [0, 7, 10, 4502, u64::MAX] {
            assert_eq!(with_number("", n, ""), n.to_string());
        }
        assert_eq!(encode_string("a\u{1}\u{1f}"), r#""a\u0001\u001f""#);
    }

    #[test]
    fn every_reason_has_its_words() {
        let words = |r: Reason| r.to_string();
        assert_eq!(words(Reason::ExpectedName), "expected a member name");
        assert_eq!(words(Reason::BadUnicodeEscape), "bad `\\u` escape");
        assert_eq!(
            words(Reason::ExpectedCommaOrClose),
            "expected `,` or a closing bracket"
        );
        assert_eq!(words(Reason::TypeNotString), "`type` is not a string");
    }

    #[test]
    fn integers_up_to_u64_max() {
        let o = Object::scan(
            r#"{"max":18446744073709551615,"over":18446744073709551616,"big":99999999999999999999,
                "zero":0,"neg":-1,"frac":1.5,"exp":1e3,"text":"1"}"#,
        )
        .expect("object");
        assert_eq!(o.u64("max"), Some(u64::MAX));
        assert_eq!(o.u64("zero"), Some(0));
        for key in ["over", "big", "neg", "frac", "exp", "text", "absent"] {
            assert_eq!(o.u64(key), None, "{key}");
        }
    }

    /// Skips one value and requires it to span the whole input.
    fn value(json: &str) -> Result<(), ScanError> {
        let mut c = Cursor::new(json);
        c.value(&mut Vec::new())?;
        if c.i == json.len() {
            Ok(())
        } else {
            Err(c.err(Reason::TrailingCharacters))
        }
    }

    #[test]
    fn accepts_every_kind_of_value() {
        for json in [
            "0",
            "-0",
            "12",
            "-1.5e+3",
            "2E-7",
            "0.25",
            "true",
            "false",
            "null",
            r#""""#,
            r#""a\"b\\c\/\b\f\n\r\t\u00e9\uD83D\uDE00""#,
            "\"聊天 😀\"",
            "[]",
            "{}",
            r#"[1,"two",{"three":[3]},null]"#,
            r#"{"a":{"b":[{"c":"}]:,{["}]},"d":"x:y","e":[[],{}]}"#,
            " [ 1 , { \"k\" : [ ] } ] ",
        ] {
            let trimmed = json.trim();
            assert_eq!(value(trimmed), Ok(()), "{json}");
        }
    }

    #[test]
    fn rejects_what_json_parse_rejects() {
        for json in [
            "",
            "01",
            "1.",
            "-",
            "1e",
            "+1",
            ".5",
            "tru",
            "nul",
            "undefined",
            "NaN",
            "[1,]",
            "[1",
            "{\"k\":1,}",
            "{\"k\" 1}",
            "{k:1}",
            "{'k':1}",
            "[1}",
            "{\"k\":1]",
            r#""a\x""#,
            r#""a\u12""#,
            "\"a\nb\"",
            r#""unterminated"#,
        ] {
            assert!(value(json).is_err(), "accepted {json:?}");
        }
    }

    #[test]
    fn errors_name_the_reason_and_where_scanning_stopped() {
        for (json, reason, offset) in [
            ("\"a\u{1}\"", Reason::ControlCharacter, 2),
            (r#""a\x""#, Reason::BadEscape, 3),
            (r#""\u12""#, Reason::BadUnicodeEscape, 5),
            ("\"ab", Reason::UnterminatedString, 3),
            ("[1,]", Reason::ExpectedValue, 3),
            ("{\"k\" 1}", Reason::ExpectedColon, 5),
            ("{\"k\":1,}", Reason::ExpectedName, 7),
            ("[1}", Reason::ExpectedCommaOrClose, 2),
            ("1.e", Reason::ExpectedDigit, 2),
            ("-x", Reason::ExpectedDigit, 1),
            ("tru", Reason::BadLiteral, 0),
        ] {
            assert_eq!(value(json), Err(ScanError { reason, offset }), "{json}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 100_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(value(&deep), Ok(()));
        let objects = format!("{}1{}", r#"{"k":"#.repeat(depth), "}".repeat(depth));
        assert_eq!(value(&objects), Ok(()));
        assert!(value(&"[".repeat(depth)).is_err());
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        assert_eq!(decode_string("plain"), "plain");
        assert!(matches!(decode_string("plain"), Cow::Borrowed(_)));
        assert_eq!(decode_string(r#"a\"b\\c\/d"#), "a\"b\\c/d");
        assert_eq!(decode_string(r#"\n\t\r\b\f"#), "\n\t\r\u{8}\u{c}");
        assert_eq!(decode_string(r#"\u00E9\u00e9"#), "éé");
        // A surrogate pair becomes one character; lone halves become U+FFFD.
        assert_eq!(decode_string(r#"\ud83d\ude00"#), "😀");
        assert_eq!(decode_string(r#"\ud83dx"#), "\u{FFFD}x");
        assert_eq!(decode_string(r#"\ude00"#), "\u{FFFD}");
        assert_eq!(decode_string(r#"\ud83d\u0041"#), "\u{FFFD}A");
        assert_eq!(decode_string(r#"\ud83d"#), "\u{FFFD}");
    }

    #[test]
    fn encodes_strings() {
        assert_eq!(encode_string("speak"), r#""speak""#);
        assert_eq!(encode_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(encode_string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(encode_string("\u{1f}"), r#""\u001f""#);
        assert_eq!(encode_string("聊天 😀 /"), "\"聊天 😀 /\"");
    }

    proptest::proptest! {
        /// Encoding and decoding agree with serde_json on any string, and `\u` escapes of
        /// every UTF-16 unit (surrogate pairs included) decode back to it.
        #[test]
        fn strings_agree_with_serde(s in proptest::prelude::any::<String>(), upper: bool) {
            let encoded = encode_string(&s);
            proptest::prop_assert_eq!(serde_json::to_string(&s).ok(), Some(encoded.clone()));
            proptest::prop_assert_eq!(decode_string(&encoded[1..encoded.len() - 1]), s.as_str());
            let mut escaped = String::new();
            for unit in s.encode_utf16() {
                let hex = format!("\\u{unit:04x}");
                escaped.push_str(&if upper { hex.to_uppercase().replace("\\U", "\\u") } else { hex });
            }
            proptest::prop_assert_eq!(decode_string(&escaped), s.as_str());
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for s in [
            "",
            "speak",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}ctl",
            "聊天 😀",
        ] {
            let encoded = encode_string(s);
            let mut c = Cursor::new(&encoded);
            assert_eq!(c.value(&mut Vec::new()), Ok(()));
            let body = &encoded[1..encoded.len() - 1];
            assert_eq!(decode_string(body), s);
        }
    }
}
