//! Configuration tables read by hand from `serde_json::Value` rather than through serde
//! derives: each derived struct adds several KB of visitor code to the worker (design
//! §13, BENCHMARKS.md "Worker size"). The texts are serde's own (`invalid type: …`,
//! `unknown field …`, `missing field …`), built with serde's error constructors, and
//! every problem is recorded with its key path; field values of plain types are still
//! read by their (shared) serde implementations.

use super::{ConfigErrors, Problems};
use crate::map::VecMap;
use serde::de::{DeserializeOwned, Error as _, Unexpected};
use serde_json::{Map, Value};

/// What `value` is, in serde's words (`string "x"`, `integer `5``, `a sequence`, …).
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Unexpected::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Unexpected::Signed(i)
            } else {
                Unexpected::Float(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// serde's "invalid type: …, expected {expected}" for `value`.
pub(crate) fn invalid_type(value: &Value, expected: &str) -> String {
    serde_json::Error::invalid_type(unexpected(value), &expected).to_string()
}

/// A table being read: fields are taken by name; problems go to `problems` with their
/// key paths.
pub(crate) struct Table<'p> {
    path: String,
    map: Map<String, Value>,
    problems: &'p mut Problems,
    before: usize,
}

impl<'p> Table<'p> {
    /// `value` as a table of `fields` (serde's "expected {expecting}" if it is not one);
    /// each unknown key is reported as serde words it, with "did you mean".
    pub(crate) fn read(
        problems: &'p mut Problems,
        path: &str,
        value: Value,
        expecting: &str,
        fields: &'static [&'static str],
    ) -> Option<Self> {
        let before = problems.0.len();
        let map = match value {
            Value::Object(map) => map,
            other => {
                problems.push(path, invalid_type(&other, expecting));
                return None;
            }
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                let reason = serde_json::Error::unknown_field(key, fields).to_string();
                problems.push(
                    format!("{path}.{key}"),
                    format!(
                        "{reason}{}",
                        crate::suggest::hint(key, fields.iter().copied())
                    ),
                );
            }
        }
        Some(Table {
            path: path.to_string(),
            map,
            problems,
            before,
        })
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The field `key` read by `T`'s serde implementation; `None` when absent or wrong.
    pub(crate) fn take<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = self.map.remove(key)?;
        self.parse(key, &value)
    }

    /// `value` (of the field `key`) by `T`'s serde implementation, by reference as every
    /// other configuration value is read: one instance of each in the wasm.
    fn parse<T: DeserializeOwned>(&mut self, key: &str, value: &Value) -> Option<T> {
        match T::deserialize(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let at = self.at(key);
                self.problems.push(at, error.to_string());
                None
            }
        }
    }

    /// The field `key` as it is, not read further (null is none).
    pub(crate) fn raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|value| !value.is_null())
    }

    /// An optional string (null is none).
    #[inline(never)]
    pub(crate) fn text(&mut self, key: &str) -> Option<String> {
        self.take::<Option<String>>(key).flatten()
    }

    /// A field that must be present (serde's "missing field" at the table's path).
    pub(crate) fn required<T: DeserializeOwned>(&mut self, key: &'static str) -> Option<T> {
        if !self.map.contains_key(key) {
            let reason = serde_json::Error::missing_field(key).to_string();
            self.problems.push(self.path.clone(), reason);
            return None;
        }
        self.take::<T>(key)
    }

    /// A [`Table::choice`] that must be present.
    pub(crate) fn required_choice(
        &mut self,
        key: &'static str,
        variants: &'static [&'static str],
    ) -> Option<usize> {
        if !self.map.contains_key(key) {
            let reason = serde_json::Error::missing_field(key).to_string();
            self.problems.push(self.path.clone(), reason);
            return None;
        }
        self.choice(key, variants, false)
    }

    /// A string that must be present.
    #[inline(never)]
    pub(crate) fn required_text(&mut self, key: &'static str) -> Option<String> {
        self.required::<String>(key)
    }

    /// A string, `default` when absent.
    #[inline(never)]
    pub(crate) fn text_or(&mut self, key: &str, default: &str) -> String {
        self.take::<String>(key)
            .unwrap_or_else(|| default.to_string())
    }

    /// A boolean, false when absent.
    #[inline(never)]
    pub(crate) fn flag(&mut self, key: &str) -> bool {
        self.take::<bool>(key).unwrap_or_default()
    }

    /// An optional JSON number (null is none).
    #[inline(never)]
    pub(crate) fn number(&mut self, key: &str) -> Option<serde_json::Number> {
        self.take::<Option<serde_json::Number>>(key).flatten()
    }

    /// A `u32`, `default` when absent.
    #[inline(never)]
    pub(crate) fn u32_or(&mut self, key: &str, default: u32) -> u32 {
        self.take::<u32>(key).unwrap_or(default)
    }

    /// A `u64`, `default` when absent.
    #[inline(never)]
    pub(crate) fn u64_or(&mut self, key: &str, default: u64) -> u64 {
        self.take::<u64>(key).unwrap_or(default)
    }

    /// A unit variant named by one of `variants` (a string, or serde's one-key map
    /// form), as its index, with serde's texts when it is not one; `None` when absent,
    /// wrong, or (with `nullable`) null.
    #[inline(never)]
    pub(crate) fn choice(
        &mut self,
        key: &str,
        variants: &'static [&'static str],
        nullable: bool,
    ) -> Option<usize> {
        let value = self.map.remove(key)?;
        let found = match &value {
            Value::Null if nullable => return None,
            Value::String(name) => variant(name, variants),
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((name, inner)) => variant(name, variants).and_then(|index| match inner {
                    Value::Null => Ok(index),
                    other => Err(invalid_type(other, "unit")),
                }),
                None => Err(String::new()),
            },
            Value::Object(_) => Err(serde_json::Error::invalid_value(
                Unexpected::Map,
                &"map with a single key",
            )
            .to_string()),
            other => Err(invalid_type(other, "string or map")),
        };
        match found {
            Ok(index) => Some(index),
            Err(reason) => {
                let at = self.at(key);
                self.problems.push(at, reason);
                None
            }
        }
    }

    /// A list of values (not read further); `None` when absent, wrong, or (with
    /// `nullable`) null.
    #[inline(never)]
    pub(crate) fn values(&mut self, key: &str, nullable: bool) -> Option<Vec<Value>> {
        let value = self.map.remove(key)?;
        let at = self.at(key);
        sequence(self.problems, &at, value, nullable)
    }

    /// A list whose items are read by `T`'s serde implementation, each problem at its
    /// index; `None` when absent, wrong, or (with `nullable`) null.
    pub(crate) fn list<T: DeserializeOwned>(
        &mut self,
        key: &str,
        nullable: bool,
    ) -> Option<Vec<T>> {
        let items = self.values(key, nullable)?;
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if let Some(parsed) = self.parse(&format!("{key}[{index}]"), item) {
                out.push(parsed);
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// A list of strings, each problem at its index.
    #[inline(never)]
    pub(crate) fn strings(&mut self, key: &str, nullable: bool) -> Option<Vec<String>> {
        let value = self.map.remove(key)?;
        let at = self.at(key);
        strings_at(self.problems, &at, value, nullable)
    }

    /// A table of lists of strings, each problem at its key and index.
    #[inline(never)]
    pub(crate) fn string_lists(&mut self, key: &str) -> VecMap<String, Vec<String>> {
        let mut out = VecMap::new();
        let Some(value) = self.map.remove(key) else {
            return out;
        };
        let at = self.at(key);
        let Value::Object(map) = value else {
            self.problems.push(at, invalid_type(&value, "a map"));
            return out;
        };
        for (name, item) in map {
            if let Some(list) = strings_at(self.problems, &format!("{at}.{name}"), item, false) {
                out.insert(name, list);
            }
        }
        out
    }

    /// The sub-table `key` (`None` when absent, or null if `nullable`: an `Option`
    /// field), read as [`Table::read`] does.
    pub(crate) fn table(
        &mut self,
        key: &str,
        expecting: &str,
        fields: &'static [&'static str],
        nullable: bool,
    ) -> Option<Table<'_>> {
        let value = self.map.remove(key)?;
        if nullable && value.is_null() {
            return None;
        }
        let at = self.at(key);
        Table::read(&mut *self.problems, &at, value, expecting, fields)
    }

    /// A table of values by name (not read further), empty when absent or wrong.
    #[inline(never)]
    pub(crate) fn entries(&mut self, key: &str) -> serde_json::Map<String, Value> {
        match self.map.remove(key) {
            None => serde_json::Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                let at = self.at(key);
                self.problems.push(at, invalid_type(&other, "a map"));
                serde_json::Map::new()
            }
        }
    }

    /// A table of strings, each problem at its key.
    pub(crate) fn string_map(&mut self, key: &str) -> Option<VecMap<String, String>> {
        let at = self.at(key);
        match self.map.remove(key)? {
            Value::Object(map) => {
                let mut out = VecMap::new();
                let mut valid = true;
                for (name, value) in map {
                    match value {
                        Value::String(text) => {
                            out.insert(name, text);
                        }
                        other => {
                            valid = false;
                            self.problems
                                .push(format!("{at}.{name}"), invalid_type(&other, "a string"));
                        }
                    }
                }
                valid.then_some(out)
            }
            other => {
                self.problems.push(at, invalid_type(&other, "a map"));
                None
            }
        }
    }

    /// Whether the table was read without a problem.
    pub(crate) fn finish(self) -> bool {
        self.problems.0.len() == self.before
    }
}

/// The index of `name` in `variants`, or serde's "unknown variant" text.
fn variant(name: &str, variants: &'static [&'static str]) -> Result<usize, String> {
    variants
        .iter()
        .position(|known| *known == name)
        .ok_or_else(|| serde_json::Error::unknown_variant(name, variants).to_string())
}

/// `value` as a list (serde's "expected a sequence" at `at` if it is not one).
fn sequence(problems: &mut Problems, at: &str, value: Value, nullable: bool) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        Value::Null if nullable => None,
        other => {
            problems.push(at, invalid_type(&other, "a sequence"));
            None
        }
    }
}

/// `value` as a list of strings, each problem at its index.
fn strings_at(
    problems: &mut Problems,
    at: &str,
    value: Value,
    nullable: bool,
) -> Option<Vec<String>> {
    let items = sequence(problems, at, value, nullable)?;
    let count = items.len();
    let mut out = Vec::with_capacity(count);
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::String(text) => out.push(text),
            other => problems.push(format!("{at}[{index}]"), invalid_type(&other, "a string")),
        }
    }
    (out.len() == count).then_some(out)
}

/// Reads a whole value with `read`, returning its problems as `ConfigErrors`.
pub(crate) fn read_all<T>(
    read: impl FnOnce(&mut Problems) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let mut problems = Problems::default();
    match read(&mut problems) {
        Some(parsed) if problems.0.is_empty() => Ok(parsed),
        _ => Err(ConfigErrors(problems.0)),
    }
}
