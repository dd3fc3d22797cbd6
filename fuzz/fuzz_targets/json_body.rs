//! A JSON postback body through `flat_json_pairs`, checked against serde_json's own
//! reading of the same bytes: whatever is accepted is a JSON object, and each key's last
//! value is the one serde_json keeps (repeated keys are all kept, in order).
#![no_main]

use edgeback::postback::params::flat_json_pairs;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let Ok(pairs) = flat_json_pairs(body) else {
        return;
    };
    let value: Value = serde_json::from_slice(body).expect("accepted bodies are JSON");
    let object = value.as_object().expect("accepted bodies are objects");
    for (key, value) in object {
        let last = pairs.iter().rev().find(|(name, _)| name == key);
        let expected = match value {
            // `null` is absent, so an earlier value of a repeated key may stand.
            Value::Null => continue,
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Array(_) | Value::Object(_) => panic!("a nested value was accepted"),
        };
        assert_eq!(last.map(|(_, v)| v.clone()), expected, "member {key:?}");
    }
    assert!(pairs.iter().all(|(name, _)| object.contains_key(name)));
});
