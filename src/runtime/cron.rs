//! The cron trigger (every minute): retries due deliveries (a bounded batch, SPEC §8),
//! records that it ran, and purges rows past retention in bounded chunks (SPEC §10).

use super::d1::Db;
use crate::config::days_to_ms;
use crate::store::{mark_cron_run, purge_expired};
use worker::{Env, Result};

pub async fn run(env: &Env) -> Result<()> {
    if let Ok(app) = super::app(env) {
        let limit = app.config.delivery.cron_batch;
        if let Err(error) = super::forward::deliver(env, &app, None, limit).await {
            worker::console_error!("edgeback: cron deliveries failed: {error}");
        }
    }
    let now = super::now_ms();
    let db = Db::from_env(env)?;
    let mut statements = vec![mark_cron_run(now)];
    if let Ok(app) = super::app(env) {
        let cutoff = now.saturating_sub(days_to_ms(app.config.retention_days));
        statements.extend(purge_expired(cutoff, now));
    }
    db.batch(&statements).await.map(|_| ())
}
