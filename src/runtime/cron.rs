//! The cron triggers. Every minute: retry due deliveries (a bounded batch, design §8),
//! record that it ran, and purge rows past retention in bounded chunks (design §10). Every
//! five minutes ([`SPILL_REPLAY_CRON`]): write the click rows that were spilled to KV
//! because D1 refused them (docs/clicks.md); listing KV that rarely keeps within the free
//! plan's 1,000 list operations a day.

use super::click_databases;
use super::d1::Db;
use crate::config::days_to_ms;
use crate::store::{mark_cron_run, purge_clicks, purge_expired, sum_click_day, waiting_click_ids};
use worker::{Env, Result};

/// The cron expression (in `wrangler.toml`) whose runs replay spilled click rows.
pub const SPILL_REPLAY_CRON: &str = "*/5 * * * *";
/// Spilled KV entries replayed per run (each holds one failed write's rows).
const SPILL_ENTRIES_PER_RUN: u64 = 20;

/// The cron expression and scheduled time of a run. Cloudflare's triggers name the
/// expression alone. Locally, `wrangler dev --test-scheduled` runs one at
/// `/__scheduled?cron=…`, which has no time parameter; its expression may then end in
/// `@<unix ms>` to run as if scheduled then (the tests' clock travel: design §14). The
/// `/cdn-cgi/handler/scheduled` route that takes a time fails in wrangler 4.86 once the
/// worker has static assets (workers-sdk #9882, fixed in a later wrangler).
pub fn scheduled_at(cron: &str, scheduled_ms: u64) -> (&str, u64) {
    match cron.rsplit_once('@') {
        Some((expression, at)) => (expression, at.parse().unwrap_or(scheduled_ms)),
        None => (cron, scheduled_ms),
    }
}

/// One cron run; `scheduled_ms` is the time the run was scheduled for (the purge's "now":
/// in production the same as the clock, and a test can trigger a run in the future).
pub async fn run(env: &Env, cron: &str, scheduled_ms: u64) -> Result<()> {
    if cron == SPILL_REPLAY_CRON {
        let recovered = super::click::replay_spills(env, SPILL_ENTRIES_PER_RUN).await?;
        if recovered > 0 {
            worker::console_log!("edgeback: {recovered} spilled click rows written");
        }
        return Ok(());
    }
    if let Ok(app) = super::app(env) {
        let limit = app.config.delivery.cron_batch;
        // In production a run starts at or after its scheduled time, so this is the
        // clock; a run triggered for a later time (tests) claims what is due by then.
        let due_at = super::now_ms().max(scheduled_ms);
        if let Err(error) = super::forward::deliver_due_at(env, &app, None, limit, due_at).await {
            worker::console_error!("edgeback: cron deliveries failed: {error}");
        }
    }
    let now = super::now_ms();
    let db = Db::for_path(env, "cron")?;
    let mut statements = vec![mark_cron_run(now)];
    if let Ok(app) = super::app(env) {
        let cutoff = scheduled_ms.saturating_sub(days_to_ms(app.config.retention_days));
        statements.extend(purge_expired(cutoff, now));
        let days = ended_click_days(&app, scheduled_ms);
        statements.extend(sum_click_day(&days));
        if click_databases::spread(&app) {
            spread_upkeep(env, &app, cutoff, &days).await;
        }
        complete_left_waiting(env, &app, &db).await;
    }
    db.batch(&statements).await.map(|_| ())
}

/// The local days of the configured zone, within retention, that ended by `at_ms`: each
/// run sums the newest not yet summed into the daily click figures of every database
/// that holds clicks (migrations/0009_click_days.sql, docs/performance.md).
fn ended_click_days(app: &super::App, at_ms: u64) -> Vec<(i64, i64)> {
    let days = app
        .config
        .retention_days
        .saturating_add(1)
        .min(MAX_SUMMED_DAYS);
    crate::zone::ended_days(
        &super::zones::IntlZones::default(),
        &app.config.timezone,
        i64::try_from(at_ms).unwrap_or(i64::MAX),
        days,
    )
}

/// How far back the daily sums reach (days), whatever the retention: older days' reports
/// read the 15-minute figures.
const MAX_SUMMED_DAYS: u32 = 400;

/// Conversions completed per run from their click rows, when neither the click batch nor
/// the read after the record step did it (one of them failed, or the isolate ended first).
const COMPLETIONS_PER_RUN: u32 = 100;

/// With clicks in click databases: purge each and sum its next day's click figures
/// (docs/scale.md). Failures are logged; the next run tries again.
async fn spread_upkeep(env: &Env, app: &super::App, cutoff: u64, days: &[(i64, i64)]) {
    let purges = click_databases::others(env, app, "cron").map(|databases| {
        databases
            .into_iter()
            .map(|database| {
                let mut statements = vec![purge_clicks(cutoff)];
                statements.extend(sum_click_day(days));
                (database, statements)
            })
            .collect::<Vec<_>>()
    });
    let purged = match purges {
        Ok(purges) => click_databases::each(purges).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = purged {
        worker::console_error!("edgeback: click databases not purged: {error}");
    }
}

/// Completes conversions still waiting for a click row that exists, wherever it is stored
/// (docs/clicks.md): a sample of [`COMPLETIONS_PER_RUN`]. Failures are logged; the next
/// run tries again.
async fn complete_left_waiting(env: &Env, app: &super::App, db: &Db) {
    struct Waiting {
        click_id: String,
    }
    impl crate::store::FromRow for Waiting {
        fn from_row(row: &crate::store::Row) -> std::result::Result<Self, String> {
            let c = crate::store::Columns::new(row);
            let click_id = c.text("click_id");
            c.finish(Self { click_id })
        }
    }
    let completed = match db
        .all::<Waiting>(&waiting_click_ids(COMPLETIONS_PER_RUN))
        .await
    {
        Ok(waiting) if !waiting.is_empty() => {
            let ids: Vec<String> = waiting.into_iter().map(|row| row.click_id).collect();
            click_databases::complete_from_clicks(env, app, &ids, "cron").await
        }
        Ok(_) => Ok(Vec::new()),
        Err(error) => Err(error),
    };
    match completed {
        Ok(released) => click_databases::release(env, released).await,
        Err(error) => {
            worker::console_error!("edgeback: waiting conversions not completed: {error}")
        }
    }
}
