//! D1 glue: sends the core's [`Statement`]s and counts round trips, so responses can
//! report the design §10 budget (`x-edgeback-d1-queries`) and tests can hold us to it.

use crate::store::{FromRow, SqlValue, Statement};
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
        let stored = match Db::for_path(&env, what) {
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

/// A D1 handle that counts its round trips (one per statement run or batch) and the rows
/// D1 reports writing and reading, and files those rows in the isolate's ledger under
/// its path (what the work is for) and each statement's table.
#[derive(Clone)]
pub struct Db {
    database: Rc<D1Database>,
    round_trips: Rc<Cell<u32>>,
    rows: Rc<Cell<(u64, u64)>>,
    path: &'static str,
}

/// Rows written and read, and statements run, per (path, table), since the isolate
/// started or the ledger was reset: `GET /api/diagnostics/d1` when diagnostics are on.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LedgerEntry {
    pub rows_written: u64,
    pub rows_read: u64,
    pub statements: u64,
}

thread_local! {
    static LEDGER: std::cell::RefCell<crate::map::VecMap<(&'static str, &'static str), LedgerEntry>> =
        const { std::cell::RefCell::new(crate::map::VecMap::new()) };
}

/// The ledger as JSON rows; emptied when `reset`.
pub fn ledger(reset: bool) -> serde_json::Value {
    LEDGER.with(|ledger| {
        let mut ledger = ledger.borrow_mut();
        let rows: Vec<serde_json::Value> = ledger
            .iter()
            .map(|((path, table), entry)| {
                serde_json::json!({ "path": path, "table": table, "rows_written": entry.rows_written,
                                    "rows_read": entry.rows_read, "statements": entry.statements })
            })
            .collect();
        if reset {
            ledger.clear();
        }
        serde_json::Value::Array(rows)
    })
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
    /// A handle for the request being answered (path `request`).
    pub fn from_env(env: &Env) -> Result<Self> {
        Self::for_path(env, "request")
    }

    /// A handle whose rows the ledger files under `path` (`click`, `refusal`, …).
    pub fn for_path(env: &Env, path: &'static str) -> Result<Self> {
        Self::for_binding(env, BINDING, path)
    }

    /// A handle on the database bound as `binding` (a click database, docs/scale.md).
    pub fn for_binding(env: &Env, binding: &str, path: &'static str) -> Result<Self> {
        Ok(Self {
            database: Rc::new(env.d1(binding)?),
            round_trips: Rc::new(Cell::new(0)),
            rows: Rc::new(Cell::new((0, 0))),
            path,
        })
    }

    /// Rows D1 reported writing and reading through this handle and its clones.
    pub fn rows(&self) -> (u64, u64) {
        self.rows.get()
    }

    fn account(&self, sql: &'static str, result: &D1Result) {
        let Ok(Some(meta)) = result.meta() else {
            return;
        };
        let written = u64::try_from(meta.rows_written.unwrap_or(0)).unwrap_or(u64::MAX);
        let read = u64::try_from(meta.rows_read.unwrap_or(0)).unwrap_or(u64::MAX);
        let (total_written, total_read) = self.rows.get();
        self.rows.set((
            total_written.saturating_add(written),
            total_read.saturating_add(read),
        ));
        let table = crate::store::statement_table(sql);
        LEDGER.with(|ledger| {
            let mut ledger = ledger.borrow_mut();
            let entry = ledger.entry((self.path, table)).or_default();
            entry.rows_written = entry.rows_written.saturating_add(written);
            entry.rows_read = entry.rows_read.saturating_add(read);
            entry.statements = entry.statements.saturating_add(1);
        });
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
    pub async fn all<T: FromRow>(&self, statement: &Statement) -> Result<Vec<T>> {
        decode(&self.run(statement).await?)
    }

    /// [`Db::all`]'s query, apart from the generic decoding: one copy of it in the wasm
    /// rather than one per row type (design §13).
    async fn run(&self, statement: &Statement) -> Result<D1Result> {
        let prepared = self.prepare(statement)?;
        self.count();
        let result = prepared.all().await?;
        self.account(statement.sql, &result);
        Ok(result)
    }

    /// Runs statements as one batch: one round trip, one transaction.
    pub async fn batch(&self, statements: &[Statement]) -> Result<Vec<D1Result>> {
        let prepared = statements
            .iter()
            .map(|statement| self.prepare(statement))
            .collect::<Result<Vec<_>>>()?;
        self.count();
        let results = self.database.batch(prepared).await?;
        for (statement, result) in statements.iter().zip(&results) {
            self.account(statement.sql, result);
        }
        Ok(results)
    }
}

/// Runs the record step's batch and reads its one result row (the last statement's): the
/// postback path and the tester read it the same way. An error when the batch fails or
/// returns no such row (nothing was written: D1 batches are transactions).
pub async fn record(db: &Db, statements: &[Statement]) -> Result<crate::store::RecordedConversion> {
    let results = db.batch(statements).await?;
    let rows = results.last().map_or(Ok(Vec::new()), |result| {
        result.results::<serde_json::Value>()
    })?;
    rows.first()
        .and_then(crate::store::RecordedConversion::from_row)
        .ok_or_else(|| worker::Error::RustError("the record step returned no row".into()))
}

/// The rows of the `index`-th statement of a batch's results, typed (none when the batch
/// has no such statement; an error when a row does not match `T`).
pub fn rows_of<T: FromRow>(results: &[D1Result], index: usize) -> Result<Vec<T>> {
    match results.get(index) {
        Some(result) => decode(result),
        None => Ok(Vec::new()),
    }
}

/// A result's rows, typed. They cross from JS as JSON values (one decoder for every
/// statement) and are read column by column (`store::FromRow`), not by a serde decoder
/// per row type (design §13; BENCHMARKS.md "Worker size"). A row that does not match
/// `T` is an error. A plain loop, with the non-generic steps in functions of their own:
/// this body is instantiated once per row type, and iterator adapters (`collect` into a
/// `Result`) cost about 1 KB of wasm per instance.
pub fn decode<T: FromRow>(result: &D1Result) -> Result<Vec<T>> {
    let values = values(result)?;
    let mut rows = Vec::with_capacity(values.len());
    for value in &values {
        match crate::store::as_row(value).and_then(T::from_row) {
            Ok(row) => rows.push(row),
            Err(error) => return Err(worker::Error::RustError(error)),
        }
    }
    Ok(rows)
}

/// A result's rows as JSON values.
#[inline(never)]
fn values(result: &D1Result) -> Result<Vec<serde_json::Value>> {
    result.results::<serde_json::Value>()
}
