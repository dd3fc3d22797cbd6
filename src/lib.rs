//! edgeback: an S2S postback receiver for Cloudflare Workers.
//!
//! The crate is a pure core (every module but `runtime`) and a thin adapter (`runtime`,
//! compiled only for `wasm32`). The core decides: click IDs, configuration, parsing,
//! outcome codes, SQL statements. It holds no `worker` type, reads no clock and no random
//! source (they are passed in) and performs no I/O, so it tests natively in milliseconds.
//! Layout and rules: ARCHITECTURE.md; the product contract: docs/design.md.

// A panic in wasm resets the instance and every request in flight: outside tests, no
// unwrap, expect or panic (errors are values with a stable code).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod base32;
pub mod base64;
pub mod click;
pub mod click_id;
pub mod config;
pub mod cost;
pub mod crypto;
pub mod csv;
pub mod flow;
pub mod forward;
pub mod impression;
pub mod json;
pub mod map;
pub mod money;
pub mod pattern;
pub mod postback;
pub mod report;
pub mod secrets;
pub mod store;
pub mod suggest;
pub mod template;
pub mod tester;
pub mod user_agent;
pub mod zone;

#[cfg(target_arch = "wasm32")]
mod runtime;

/// The version reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
