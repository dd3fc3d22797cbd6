//! The brake on repeated authentication failures (design §6, §11). The rate limiter counts
//! failures per source address; once it refuses one, the address is *braked* for the
//! limiter's window: every request from it to a network that authenticates is refused
//! `rate_limited`, right credentials included, so guessing stays unobservable.
//!
//! The rate limiter answers only "over the limit or not" and counts every call, so the
//! braked state is kept beside it: in the isolate's memory and in the location's Cache
//! API (the same scope as the limiter, shared by the location's isolates). The Cache API
//! does nothing on `*.workers.dev` deployments: there the brake holds per isolate only
//! (README, "Security").

use crate::crypto::{hex, hmac_sha256};
use crate::map::VecMap;
use std::cell::RefCell;
use worker::{Cache, Response};

/// How long a brake holds: the limiter's period in `wrangler.toml` (`[[ratelimits]]`).
pub const BRAKE_SECONDS: u64 = 60;
/// Addresses remembered per isolate (oldest dropped first past this).
const REMEMBERED: usize = 1024;

thread_local! {
    static BRAKED: RefCell<VecMap<String, u64>> = const { RefCell::new(VecMap::new()) };
}

fn cache_key(host: &str, ip: &str) -> String {
    // The address is not written into the cache key as it is.
    let digest = hmac_sha256(b"edgeback/brake", &[ip.as_bytes()]);
    format!("https://{host}/__edgeback/brake/{}", hex(&digest))
}

/// Whether `ip` is braked at `now_ms`.
pub async fn is_braked(host: &str, ip: &str, now_ms: u64) -> bool {
    let remembered =
        BRAKED.with(|braked| braked.borrow().get(ip).is_some_and(|until| *until > now_ms));
    if remembered {
        return true;
    }
    matches!(
        Cache::default().get(cache_key(host, ip), false).await,
        Ok(Some(_))
    )
}

/// Brakes `ip` from `now_ms` for [`BRAKE_SECONDS`].
pub async fn hold(host: &str, ip: &str, now_ms: u64) {
    let until = now_ms.saturating_add(BRAKE_SECONDS.saturating_mul(1000));
    BRAKED.with(|braked| {
        let mut braked = braked.borrow_mut();
        braked.retain(|_, held_until| *held_until > now_ms);
        if braked.len() >= REMEMBERED {
            braked.pop_first();
        }
        braked.insert(ip.to_string(), until);
    });
    let marker = Response::ok("braked").and_then(|response| {
        response
            .headers()
            .set("cache-control", &format!("max-age={BRAKE_SECONDS}"))?;
        Ok(response)
    });
    let stored = match marker {
        Ok(marker) => Cache::default().put(cache_key(host, ip), marker).await,
        Err(error) => Err(error),
    };
    if let Err(error) = stored {
        worker::console_error!("edgeback: brake not shared through the cache: {error}");
    }
}
