//! D1 glue: sends the core's [`Statement`]s and counts round trips, so responses can
//! report the SPEC §10 budget (`x-edgeback-d1-queries`) and tests can hold us to it.

use crate::store::{SqlValue, Statement};
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::rc::Rc;
use worker::wasm_bindgen::JsValue;
use worker::{Context, D1Database, D1PreparedStatement, D1Result, Env, Result};

/// Runs `statements` as one batch after the response (`ctx.wait_until`), on its own D1
/// handle so it is not counted against the request's budget; a failure is logged as
/// `what` not stored.
pub fn run_after_response(
    ctx: &Context,
    env: &Env,
    statements: Vec<Statement>,
    what: &'static str,
) {
    let env = env.clone();
    ctx.wait_until(async move {
        let stored = match Db::from_env(&env) {
            Ok(db) => db.batch(&statements).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = stored {
            worker::console_error!("edgeback: {what} not stored: {error}");
        }
    });
}

/// The D1 binding's name in `wrangler.toml`.
pub const BINDING: &str = "DB";

/// A D1 handle that counts its round trips (one per statement run or batch).
#[derive(Clone)]
pub struct Db {
    database: Rc<D1Database>,
    round_trips: Rc<Cell<u32>>,
}

fn to_js(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        // Within ±2^53 by construction (see `SqlValue`), so exact as a JS number.
        SqlValue::Integer(number) => JsValue::from_f64(*number as f64),
        SqlValue::Text(text) => JsValue::from_str(text),
    }
}

impl Db {
    pub fn from_env(env: &Env) -> Result<Self> {
        Ok(Self {
            database: Rc::new(env.d1(BINDING)?),
            round_trips: Rc::new(Cell::new(0)),
        })
    }

    /// Round trips made so far through this handle and its clones.
    pub fn round_trips(&self) -> u32 {
        self.round_trips.get()
    }

    fn count(&self) {
        self.round_trips
            .set(self.round_trips.get().saturating_add(1));
    }

    fn prepare(&self, statement: &Statement) -> Result<D1PreparedStatement> {
        let values: Vec<JsValue> = statement.params.iter().map(to_js).collect();
        self.database.prepare(statement.sql).bind(&values)
    }

    /// Runs one statement and returns its rows.
    pub async fn all<T: DeserializeOwned>(&self, statement: &Statement) -> Result<Vec<T>> {
        let prepared = self.prepare(statement)?;
        self.count();
        prepared.all().await?.results()
    }

    /// Runs statements as one batch: one round trip, one transaction.
    pub async fn batch(&self, statements: &[Statement]) -> Result<Vec<D1Result>> {
        let prepared = statements
            .iter()
            .map(|statement| self.prepare(statement))
            .collect::<Result<Vec<_>>>()?;
        self.count();
        self.database.batch(prepared).await
    }
}

/// Runs the record step's batch and reads its one result row (the last statement's): the
/// postback path and the tester read it the same way. An error when the batch fails or
/// returns no such row (nothing was written: D1 batches are transactions).
pub async fn record(db: &Db, statements: &[Statement]) -> Result<crate::store::RecordedConversion> {
    let results = db.batch(statements).await?;
    let rows: Vec<serde_json::Value> = rows_of(&results, results.len().saturating_sub(1))?;
    rows.first()
        .and_then(crate::store::RecordedConversion::from_row)
        .ok_or_else(|| worker::Error::RustError("the record step returned no row".into()))
}

/// The rows of the `index`-th statement of a batch's results, typed (none when the batch
/// has no such statement; an error when a row does not match `T`).
pub fn rows_of<T: DeserializeOwned>(results: &[D1Result], index: usize) -> Result<Vec<T>> {
    results
        .get(index)
        .map_or(Ok(Vec::new()), |result| result.results())
}
