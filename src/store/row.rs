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

/// Reads `value` as one row (the native tests' JSON rows).
pub fn from_value<T: FromRow>(value: &Value) -> Result<T, String> {
    as_row(value).and_then(T::from_row)
}

/// `value` as a row: an error unless it is an object. Not generic, so not repeated per
/// row type.
#[inline(never)]
pub fn as_row(value: &Value) -> Result<&Row, String> {
    value
        .as_object()
        .ok_or_else(|| "a row is not an object".to_string())
}

/// A row of one `delivery_id` column (what replays and releases return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryId(pub String);

impl FromRow for DeliveryId {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        let id = c.text("delivery_id");
        c.finish(Self(id))
    }
}

/// A column type a row struct declares by type (the report's figures).
pub trait Column: Sized {
    fn read(columns: &Columns<'_>, name: &str) -> Self;
}

impl Column for i64 {
    fn read(columns: &Columns<'_>, name: &str) -> Self {
        columns.int(name)
    }
}

impl Column for Option<i64> {
    fn read(columns: &Columns<'_>, name: &str) -> Self {
        columns.opt_int(name)
    }
}

impl Column for Option<String> {
    fn read(columns: &Columns<'_>, name: &str) -> Self {
        columns.opt_text(name)
    }
}

impl Column for String {
    fn read(columns: &Columns<'_>, name: &str) -> Self {
        columns.text(name)
    }
}

fn wrong(name: &str) -> String {
    format!("column {name}: missing, null or of another type")
}

/// The columns of one row, read by name. A column that does not fit is noted (the
/// first one) and read as a placeholder, and [`Columns::finish`] turns the row into that
/// error: a row type then costs a call per column, without an early return (and the
/// drops it needs) after each one.
pub struct Columns<'a> {
    row: &'a Row,
    error: std::cell::Cell<Option<String>>,
}

impl<'a> Columns<'a> {
    pub fn new(row: &'a Row) -> Self {
        Self {
            row,
            error: std::cell::Cell::new(None),
        }
    }

    /// `value`, or the first column that did not fit.
    pub fn finish<T>(&self, value: T) -> Result<T, String> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    #[inline(never)]
    fn fail(&self, error: String) {
        let first = self.error.take().unwrap_or(error);
        self.error.set(Some(first));
    }

    /// The column, `None` when it is missing or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.row.get(name).filter(|value| !value.is_null())
    }

    #[inline(never)]
    pub fn opt_text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.fail(wrong(name));
                None
            }
        }
    }

    #[inline(never)]
    pub fn text(&self, name: &str) -> String {
        self.opt_text(name).unwrap_or_else(|| {
            self.fail(wrong(name));
            String::new()
        })
    }

    /// An integer column (a JSON number without a fraction, within `i64`).
    #[inline(never)]
    pub fn opt_int(&self, name: &str) -> Option<i64> {
        let value = self.get(name)?;
        let int = value.as_i64();
        if int.is_none() {
            self.fail(wrong(name));
        }
        int
    }

    #[inline(never)]
    pub fn int(&self, name: &str) -> i64 {
        self.opt_int(name).unwrap_or_else(|| {
            self.fail(wrong(name));
            0
        })
    }

    /// An unsigned integer column that fits `T` (`u8`, `u32`, `u64`).
    pub fn opt_uint<T: TryFrom<u64>>(&self, name: &str) -> Option<T> {
        let value = self.get(name)?;
        let fitted = value.as_u64().and_then(|number| T::try_from(number).ok());
        if fitted.is_none() {
            self.fail(wrong(name));
        }
        fitted
    }

    pub fn uint<T: TryFrom<u64> + Default>(&self, name: &str) -> T {
        self.opt_uint(name).unwrap_or_else(|| {
            self.fail(wrong(name));
            T::default()
        })
    }

    /// A text column parsed by `parse` (an enum's name); an unknown name is an error
    /// (`placeholder` stands in for it until [`Columns::finish`] reports it).
    pub fn parsed<T>(&self, name: &str, parse: fn(&str) -> Option<T>, placeholder: T) -> T {
        parse(&self.text(name)).unwrap_or_else(|| {
            self.fail(wrong(name));
            placeholder
        })
    }

    /// The click's sub-IDs, stored as the JSON text of ten slots.
    #[inline(never)]
    pub fn subs(&self, name: &str) -> crate::click::SubIds {
        crate::click::SubIds::from_json(&self.text(name)).unwrap_or_else(|| {
            self.fail(wrong(name));
            crate::click::SubIds::default()
        })
    }

    /// Refuses a column not in `known` (a renamed column is an error, never ignored).
    pub fn only(&self, known: &[&str]) {
        if let Some(key) = self.row.keys().find(|key| !known.contains(&key.as_str())) {
            self.fail(format!("unknown column {key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq)]
    struct Sample {
        name: String,
        note: Option<String>,
        count: i64,
        limit: Option<i64>,
    }

    impl FromRow for Sample {
        fn from_row(row: &Row) -> Result<Self, String> {
            let c = Columns::new(row);
            c.finish(Self {
                name: c.text("name"),
                note: c.opt_text("note"),
                count: c.int("count"),
                limit: c.opt_int("limit"),
            })
        }
    }

    #[test]
    fn columns_follow_serdes_rules() {
        let read = |value| from_value::<Sample>(&value);
        assert_eq!(
            read(json!({"name": "a", "note": null, "count": 3, "other": true})),
            Ok(Sample {
                name: "a".into(),
                note: None,
                count: 3,
                limit: None
            })
        );
        assert_eq!(
            read(json!({"name": "a", "note": "n", "count": -1, "limit": 7})).map(|s| s.limit),
            Ok(Some(7))
        );
        // Missing or null where required, another type, a fraction: errors naming the
        // first column that did not fit.
        let error = read(json!({"note": "n", "count": 1})).unwrap_err();
        assert!(error.contains("name"), "{error}");
        assert!(read(json!({"name": null, "count": 1})).is_err());
        let error = read(json!({"name": "a", "note": 5, "count": 1})).unwrap_err();
        assert!(error.contains("note"), "{error}");
        assert!(read(json!({"name": "a", "count": 1.5})).is_err());
        assert!(read(json!({"name": "a", "count": "1"})).is_err());
        assert!(read(json!({"name": "a", "count": 1, "limit": "x"})).is_err());
        assert!(read(json!([1, 2])).is_err());
    }

    #[test]
    fn a_spilled_click_row_reads_back_as_it_was_written() {
        let mut subs: [Option<String>; 10] = Default::default();
        subs[0] = Some("s1".into());
        subs[9] = Some("s10".into());
        let row = crate::store::ClickRow {
            click_id: "c1".into(),
            campaign: "summer".into(),
            created_at: 1_700_000_000_123,
            subs: crate::click::SubIds::from_array(subs),
            external_id: None,
            country: Some("DE".into()),
            asn: Some(3320),
            colo: None,
            user_agent: Some("ua".into()),
            ip_hash: None,
            is_bot: 1,
            bot_reason: Some("ua".into()),
            payout_micros: Some(-5),
            currency: None,
            is_test: 0,
            rule: Some("r1".into()),
            offer: None,
            lander: Some("lp".into()),
            landed_at: Some(7),
            cost_micros: Some(50_000),
            cost_currency: Some("USD".into()),
            cpa_micros: None,
            revshare_ppm: Some(400_000),
            region: Some("TX".into()),
            device: Some("mobile".into()),
            os: None,
            browser: Some("safari".into()),
        };
        let text = serde_json::to_string(&[&row]).unwrap();
        let values: Vec<Value> = serde_json::from_str(&text).unwrap();
        let read: crate::store::ClickRow = from_value(&values[0]).unwrap();
        assert_eq!(read, row);
        // Out of range for its type: an error, as serde's was.
        let mut value = values[0].clone();
        value["is_bot"] = json!(256);
        assert!(from_value::<crate::store::ClickRow>(&value).is_err());
        value["is_bot"] = json!(-1);
        assert!(from_value::<crate::store::ClickRow>(&value).is_err());
    }
}
