//! The nesting depth of a JSON text, checked before any parser sees it.
//!
//! A recursive parser (serde_json's tree, a browser's `JSON.parse`, most back ends') needs
//! stack per level, and serde_json gives up at 128. Refusing deep input at the door keeps
//! every stored payload readable by every parser downstream, whatever the relay wraps it in.
//! The scan is one pass over the bytes with no allocation and never recurses; it does not
//! validate the JSON (the parser that follows does), it only counts `[`/`{` outside strings.

/// A JSON text nests deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub max: usize,
}

impl core::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "JSON nested deeper than {} levels", self.max)
    }
}

impl std::error::Error for TooDeep {}

/// `Err` when arrays and objects in `json` nest more than `max` levels deep.
pub fn check(json: &[u8], max: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn counts_arrays_and_objects() {
        assert!(check(b"1", 0).is_ok());
        assert!(check(b"[]", 0).is_err());
        assert!(check(nested(32).as_bytes(), 32).is_ok());
        assert_eq!(check(nested(33).as_bytes(), 32), Err(TooDeep { max: 32 }));
        assert!(check(br#"{"a":{"b":[{"c":1}]}}"#, 4).is_ok());
        assert!(check(br#"{"a":{"b":[{"c":1}]}}"#, 3).is_err());
        // Siblings do not add up.
        assert!(check(b"[[1],[2],[3],{}]", 2).is_ok());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert!(check(br#"{"a":"[[[[{{{{"}"#, 1).is_ok());
        assert!(check(br#"{"a":"\"[[[["}"#, 1).is_ok());
        assert!(
            check(br#"["\\",[[1]]]"#, 2).is_err(),
            "an escaped backslash ends"
        );
    }

    #[test]
    fn unbalanced_input_does_not_underflow() {
        assert!(check(b"]]]]}}}[1]", 1).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_serde_json(levels in 0usize..200, max in 0usize..200) {
            let text = nested(levels);
            proptest::prop_assert_eq!(check(text.as_bytes(), max).is_ok(), levels <= max);
            // serde_json's own limit is 128: anything the check lets through at 100 parses.
            if levels <= 100 {
                proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
            }
        }
    }
}
