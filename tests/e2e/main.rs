//! End-to-end tests: the real worker in workerd (`wrangler dev`), real local D1 and KV,
//! driven over HTTP. One worker is shared by all tests of this binary; each test uses
//! its own campaigns, click IDs and transaction IDs so they can run in parallel.
#![cfg(not(target_arch = "wasm32"))]

mod admin;
mod attribution;
mod browser;
mod capacity;
mod clicks;
mod costs;
mod flows;
mod forwarding;
mod groupby;
mod harness;
mod landers;
mod listener;
mod lists;
mod postbacks;
mod reliability;
mod security;
mod size;
mod slice;
mod soak;
mod spread;
mod zones;
