//! Typed result rows read by hand from a row's columns (a JSON object, as D1 returns it
//! and as the native tests build it from SQLite). A serde decoder per row type cost the
//! worker about 50 KB of wasm, every row type instantiating serde's visitor machinery
//! anew (design §13; BENCHMARKS.md "Worker size"); reading columns through the few
//! functions below costs a call per column. The rules are serde's: a missing or null
//! column is `None` for an `Option` and an error otherwise, a column of another type is
//! an error, and columns the struct does not name are ignored (the report's rows refuse
//! them: [`Columns::only`]).

use serde_json::{Map, Value};

/// One result row: column name to value.
pub type Row = Map<String, Value>;

/// A row type read from its columns.
pub trait FromRow: Sized {
    /// The row, or which column did not fit.
    fn from_row(row: &Row) -> Result<Self, String>;
}

/// Reads every row (the first that does not fit is the error).
pub fn from_rows<T: FromRow>(rows: &[Row]) -> Result<Vec<T>, String> {
    rows.iter().map(T::from_row).collect()
}

/// Reads `value` as one row (the native tests' JSON rows).
pub fn from_value<T: FromRow>(value: &Value) -> Result<T, String> {
    value
        .as_object()
        .ok_or_else(|| "a row is not an object".to_string())
        .and_then(T::from_row)
}

/// A row of one `delivery_id` column (what replays and releases return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryId(pub String);

impl FromRow for DeliveryId {
    fn from_row(row: &Row) -> Result<Self, String> {
        Columns(row).text("delivery_id").map(Self)
    }
}

/// A column type a row struct declares by type (the report's figures).
pub trait Column: Sized {
    fn read(columns: Columns<'_>, name: &str) -> Result<Self, String>;
}

impl Column for i64 {
    fn read(columns: Columns<'_>, name: &str) -> Result<Self, String> {
        columns.int(name)
    }
}

impl Column for String {
    fn read(columns: Columns<'_>, name: &str) -> Result<Self, String> {
        columns.text(name)
    }
}

/// The columns of one row, read by name.
#[derive(Clone, Copy)]
pub struct Columns<'a>(pub &'a Row);

fn wrong(name: &str) -> String {
    format!("column {name}: missing, null or of another type")
}

impl<'a> Columns<'a> {
    /// The column, `None` when it is missing or null.
    fn get(self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    pub fn opt_text(self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(wrong(name)),
        }
    }

    pub fn text(self, name: &str) -> Result<String, String> {
        self.opt_text(name)?.ok_or_else(|| wrong(name))
    }

    /// An integer column (a JSON number without a fraction, within `i64`).
    pub fn opt_int(self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or_else(|| wrong(name)),
        }
    }

    pub fn int(self, name: &str) -> Result<i64, String> {
        self.opt_int(name)?.ok_or_else(|| wrong(name))
    }

    /// A text column parsed by `parse` (an enum's name); an unknown name is an error.
    pub fn parsed<T>(self, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, String> {
        parse(&self.text(name)?).ok_or_else(|| wrong(name))
    }

    /// The click's sub-IDs, stored as the JSON text of ten slots.
    pub fn subs(self, name: &str) -> Result<crate::click::SubIds, String> {
        crate::click::SubIds::from_json(&self.text(name)?).ok_or_else(|| wrong(name))
    }

    /// Refuses a column not in `known` (a renamed column is an error, never ignored).
    pub fn only(self, known: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|key| !known.contains(&key.as_str())) {
            Some(key) => Err(format!("unknown column {key}")),
            None => Ok(()),
        }
    }
}
