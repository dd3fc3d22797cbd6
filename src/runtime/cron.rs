//! The cron triggers. Every minute: retry due deliveries (a bounded batch, design §8),
//! record that it ran, and purge rows past retention in bounded chunks (design §10). Every
//! five minutes ([`SPILL_REPLAY_CRON`]): write the click rows that were spilled to KV
//! because D1 refused them (docs/clicks.md); listing KV that rarely keeps within the free
//! plan's 1,000 list operations a day.

use super::d1::Db;
use crate::config::days_to_ms;
use crate::store::{mark_cron_run, purge_expired};
use worker::{Env, Result};

/// The cron expression (in `wrangler.toml`) whose runs replay spilled click rows.
pub const SPILL_REPLAY_CRON: &str = "*/5 * * * *";
/// Spilled KV entries replayed per run (each holds one failed write's rows).
const SPILL_ENTRIES_PER_RUN: u64 = 20;

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
    }
    db.batch(&statements).await.map(|_| ())
}
