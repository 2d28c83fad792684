//! The hand-written message scanner agrees with a real JSON parser on every object of the
//! `{"type","content"}` shape, and never panics on anything else.

use cometa_client::message::scan;
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn agrees_with_serde(event in any::<String>(), content in json_value(), type_first in any::<bool>()) {
        let (t, c) = (serde_json::to_string(&event).unwrap_or_default(), content.to_string());
        let text = if type_first {
            format!("{{\"type\":{t},\"content\":{c}}}")
        } else {
            format!("{{ \"content\" : {c} , \"type\" : {t} }}")
        };
        let m = scan(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(m.event.as_ref(), event.as_str());
        let back: Value = serde_json::from_str(m.content_json)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, content);
    }

    #[test]
    fn never_panics(text in any::<String>()) {
        let _ = scan(&text);
    }
}
