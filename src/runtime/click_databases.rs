//! Where clicks live (design §10 "Past one database", docs/scale.md): in the main
//! database, or spread over the click databases `[vars.EDGEBACK.storage]` lists, each
//! click in the one its ID picks. Conversions, deliveries and the log stay in the main
//! database, so a conversion whose click is elsewhere is recorded unattributed (the
//! record step is one batch on one database) and completed from its click's row by
//! whichever comes second: the click batch, or the read that follows the record step.

use super::d1::{Db, BINDING};
use super::App;
use crate::store::{
    answer_indexes, any_waiting, click_database_index, click_rows_from_json, complete_waiting,
    select_click_rows, store_click_rows, ClickRow, Statement,
};
use worker::{Env, Result};

/// The D1 bindings that hold clicks: the configured list, or the main database alone.
pub fn bindings(app: &App) -> Vec<&str> {
    let listed = &app.config.storage.click_databases;
    if listed.is_empty() {
        vec![BINDING]
    } else {
        listed.iter().map(String::as_str).collect()
    }
}

/// The binding that holds `click_id`.
pub fn binding_for<'a>(app: &'a App, click_id: &str) -> &'a str {
    let listed = &app.config.storage.click_databases;
    listed
        .get(click_database_index(click_id, listed.len()))
        .map_or(BINDING, String::as_str)
}

/// Whether some clicks live outside the main database (then conversions may need
/// completing after their record step).
pub fn spread(app: &App) -> bool {
    bindings(app).iter().any(|binding| *binding != BINDING)
}

/// The click databases besides the main one, each with a handle filed under `path`.
pub fn others(env: &Env, app: &App, path: &'static str) -> Result<Vec<Db>> {
    bindings(app)
        .into_iter()
        .filter(|binding| *binding != BINDING)
        .map(|binding| Db::for_binding(env, binding, path))
        .collect()
}

/// Stores `rows` in their databases and completes, in the main database, the conversions
/// that were waiting for them; `main_first` runs first in the main batch (counters).
/// Returns the deliveries released. With every click in the main database this is the
/// one batch it always was; otherwise one batch per click database (in parallel), then
/// the main one. Idempotent, so a failed attempt is simply repeated.
pub async fn store(
    env: &Env,
    app: &App,
    rows: &[ClickRow],
    main_first: Vec<Statement>,
    path: &'static str,
) -> Result<Vec<String>> {
    let mut main = main_first;
    let mut writes = Vec::new();
    for binding in bindings(app) {
        let own: Vec<ClickRow> = rows
            .iter()
            .filter(|row| binding_for(app, &row.click_id) == binding)
            .cloned()
            .collect();
        if own.is_empty() {
            continue;
        }
        if binding == BINDING {
            main.extend(store_click_rows(&own));
        } else {
            writes.push((Db::for_binding(env, binding, path)?, store_click_rows(&own)));
        }
    }
    each(writes).await?;
    // The main batch ends by asking, in its transaction, whether a conversion that may be
    // one of these clicks' waits for its click row. Nearly always none does, and the window is this one batch: the rows'
    // JSON is not carried to D1 four more times for the completion (docs/performance.md).
    // A conversion recorded after this batch finds its click row itself; one recorded
    // before it is seen here and completed by the second batch. If that batch never runs
    // (the isolate ends in between), the cron's sweep completes it ([`complete_from_clicks`]).
    main.push(any_waiting(rows));
    // No completion in this batch: its only answer is whether a conversion waits.
    if run_main(env, &main, path).await?.is_empty() {
        return Ok(Vec::new());
    }
    run_main(env, &complete_waiting(rows, super::now_ms()), path).await
}

/// Completes the conversions waiting for `click_ids` from their rows, wherever they are
/// stored (the cron's sweep, and a postback whose click lives in a click database).
/// Returns the deliveries released; none when no row is found (the click batch that
/// writes it later completes them).
pub async fn complete_from_clicks(
    env: &Env,
    app: &App,
    click_ids: &[String],
    path: &'static str,
) -> Result<Vec<String>> {
    let mut reads = Vec::new();
    for binding in bindings(app) {
        let ids: Vec<&str> = click_ids
            .iter()
            .map(String::as_str)
            .filter(|id| binding_for(app, id) == binding)
            .collect();
        if !ids.is_empty() {
            reads.push((
                Db::for_binding(env, binding, path)?,
                vec![select_click_rows(&ids)],
            ));
        }
    }
    let mut rows: Vec<ClickRow> = Vec::new();
    for results in each(reads).await? {
        rows.extend(found_rows(&results)?);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    run_main(env, &complete_waiting(&rows, super::now_ms()), path).await
}

/// The rows of `click_ids` stored in the database bound as `binding`.
pub async fn read_rows(
    env: &Env,
    binding: &str,
    click_ids: &[&str],
    path: &'static str,
) -> Result<Vec<ClickRow>> {
    let results = Db::for_binding(env, binding, path)?
        .batch(&[select_click_rows(click_ids)])
        .await?;
    found_rows(&results)
}

/// The click rows a [`select_click_rows`] batch found.
fn found_rows(results: &[worker::D1Result]) -> Result<Vec<ClickRow>> {
    struct Found {
        rows: String,
    }
    impl crate::store::FromRow for Found {
        fn from_row(row: &crate::store::Row) -> std::result::Result<Self, String> {
            let c = crate::store::Columns::new(row);
            let rows = c.text("rows");
            c.finish(Self { rows })
        }
    }
    let found: Vec<Found> = super::d1::rows_of(results, 0)?;
    Ok(found
        .iter()
        .flat_map(|found| click_rows_from_json(&found.rows))
        .collect())
}

/// Runs each database's batch, one after the other: the one place that works on several
/// databases. Not joined in parallel: joining machinery costs the wasm about 5 KB gzip
/// (design §13), and the work is after a response or on an admin read, where a few ms per
/// click database are acceptable.
pub async fn each(jobs: Vec<(Db, Vec<Statement>)>) -> Result<Vec<Vec<worker::D1Result>>> {
    let mut all = Vec::with_capacity(jobs.len());
    for (db, statements) in &jobs {
        all.push(db.batch(statements).await?);
    }
    Ok(all)
}

/// Runs `statements` on the main database; what their answers return
/// ([`answer_indexes`]): the delivery IDs their release reads, or `waiting`.
async fn run_main(env: &Env, statements: &[Statement], path: &'static str) -> Result<Vec<String>> {
    let results = Db::for_path(env, path)?.batch(statements).await?;
    let mut ids = Vec::new();
    for index in answer_indexes(statements) {
        let rows: Vec<crate::store::DeliveryId> = super::d1::rows_of(&results, index)?;
        ids.extend(rows.into_iter().map(|row| row.0));
    }
    Ok(ids)
}

/// Attempts deliveries that were held waiting for their click and are now released.
pub async fn release(env: &Env, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let Ok(app) = super::app(env) else { return };
    let limit = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    if let Err(error) = super::forward::deliver(env, &app, Some(&ids), limit).await {
        worker::console_error!("edgeback: released deliveries not attempted: {error}");
    }
}
