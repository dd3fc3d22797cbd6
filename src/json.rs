//! JSON text of a `serde_json::Value`.

use serde_json::Value;

/// `value` as compact JSON text: what `value.to_string()` gives, through the serializer
/// that writes to a `Vec<u8>` (`serde_json::to_string`, linked anyway) rather than
/// `Value`'s `Display`, which brings a second serializer and a pretty-printing third
/// (~3 KB of wasm; design §13, BENCHMARKS.md "Worker size"). Writing a `Value` cannot
/// fail (its map keys are strings).
pub fn text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_display() {
        let value = serde_json::json!({ "b": [1, -2.5, null, true], "a": "x\"\n\u{1}é", "c": {} });
        assert_eq!(super::text(&value), value.to_string());
    }
}
