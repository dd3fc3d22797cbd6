//! The soak (issue 15 item 6, docs/reliability.md): `SOAK_SECONDS` (default 600) of mixed
//! traffic at a steady rate on a worker of its own (clicks, postbacks of every outcome a
//! request alone can cause, admin reads, cron runs); workerd's memory is sampled every
//! 10 s and must stay flat, the worker log must hold no error, and every figure must
//! reconcile with what was sent. Ignored by `cargo test`: run it with `make soak`.

use crate::harness::{Reply, Worker, ADMIN_TOKEN, CLICK_SECRET};
use crate::listener::listener;
use edgeback::click_id::ClickSecrets;
use edgeback::postback::auth::sign_params;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One round (a click and its postbacks, one refusal, one admin read) starts every
/// 250 ms: about 6.5 requests per round, 26 requests a second.
const ROUND: Duration = Duration::from_millis(250);
/// workerd's memory is sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A cron run (deliveries, purge) every 10 s of rounds; the five-minute one every minute.
const CRON_EVERY_ROUNDS: u64 = 40;
const SPILL_CRON_EVERY_ROUNDS: u64 = 240;
/// Flat memory, as far as `wrangler dev` allows: its workerd grows under any steady load,
/// a hello-world JavaScript worker's by about 6.4 MiB a minute at this rate
/// (`control_a_hello_world_worker_at_the_soak_rate`, docs/reliability.md). So the
/// verdict is on the last third of the run, once the worker's own caches and the V8 heap
/// have settled: the workerd process that runs the worker may grow at most twice the
/// control's rate there: about 9 KiB per request at this rate, where the runtime's own
/// growth is about 4 KiB, so a leak of more than about 5 KiB per request fails it.
const RSS_SLOPE_ALLOWED_MIB_PER_MIN: f64 = 12.8;

const HMAC_SECRET: &str = "sec-hmac-secret-5b8e0d71";
const DAY_MS: u64 = 86_400_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Memory samples: seconds since the start, and each workerd process (whether it runs
/// the worker, its RSS in KiB).
type Samples = Vec<(u64, Vec<(bool, u64)>)>;

/// What was sent, to reconcile with what the worker says.
#[derive(Default)]
struct Sent {
    clicks: u64,
    conversions: u64,
    /// Conversion versions (a created and an updated one each make a delivery).
    versions: u64,
    outcomes: BTreeMap<String, u64>,
    admin_reads: u64,
    cron_runs: u64,
    requests: u64,
}

impl Sent {
    fn expect(&mut self, reply: &Reply, status: u16, code: &str, what: &str) {
        self.requests += 1;
        assert_eq!(
            (reply.status, reply.outcome().as_str()),
            (status, code),
            "{what}: {}",
            reply.body
        );
        *self.outcomes.entry(code.to_string()).or_default() += 1;
    }
}

/// An address used once: the authentication-failure brake (20 a minute per address)
/// never fires, so every refusal keeps its own code.
fn fresh_ip(n: u64) -> String {
    format!("198.18.{}.{}", (n / 250) % 256, n % 250 + 1)
}

fn signed(params: &[(&str, String)], ts: u64) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    pairs.push(("ts".into(), ts.to_string()));
    let sig = sign_params(HMAC_SECRET, &pairs, "sig");
    pairs.push(("sig".into(), sig));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    format!("/postback/sec-hmac?{query}")
}

/// The refusal of round `n` (and, for the replay, its acceptance first).
fn refusal(w: &Worker, sent: &mut Sent, n: u64, click_id: &str, expired: &str) {
    let ip = fresh_ip(n);
    let from = |path: &str| w.get(path, &[("cf-connecting-ip", ip.as_str())]);
    let now_s = now_ms() / 1000;
    match n % 22 {
        0 => sent.expect(
            &from("/postback?txid=soak-none"),
            400,
            "missing_click_id",
            "no click",
        ),
        1 => sent.expect(
            &from(&format!("/postback?clickid={}", "0".repeat(32))),
            400,
            "invalid_click_id",
            "forged",
        ),
        2 => sent.expect(
            &from(&format!("/postback/nosuch?clickid={click_id}")),
            404,
            "unknown_network",
            "network",
        ),
        3 => sent.expect(
            &from(&format!(
                "/postback?clickid={click_id}&txid=soak-s-{n}&status=maybe"
            )),
            400,
            "unknown_status",
            "status",
        ),
        4 => sent.expect(
            &from(&format!(
                "/postback?clickid={click_id}&txid=soak-e-{n}&event=First%20Deposit!"
            )),
            400,
            "unknown_event",
            "event",
        ),
        5 => sent.expect(
            &from(&format!(
                "/postback?clickid={click_id}&txid=soak-p-{n}&payout=1e3"
            )),
            400,
            "invalid_payout",
            "payout",
        ),
        6 => sent.expect(
            &from(&format!(
                "/postback/strict?clickid={click_id}&txid=soak-r-{n}&payout=100.01"
            )),
            422,
            "payout_out_of_range",
            "range",
        ),
        7 => sent.expect(
            &from(&format!(
                "/postback?clickid={click_id}&txid=soak-c-{n}&currency=DOLLARS"
            )),
            400,
            "invalid_currency",
            "currency",
        ),
        8 => sent.expect(
            &from("/postback?clickid=%7Bsubid%7D"),
            400,
            "unreplaced_macro",
            "macro",
        ),
        9 => sent.expect(
            &from(&format!("/postback?clickid={expired}")),
            410,
            "click_expired",
            "expired",
        ),
        10 => {
            let reply = w.send(
                "PUT",
                "/postback?clickid=x",
                &[("cf-connecting-ip", &ip)],
                Some(b""),
            );
            sent.expect(&reply, 405, "method_not_allowed", "PUT");
        }
        11 => {
            let big = vec![b'a'; 17 * 1024];
            let reply = w.send(
                "POST",
                "/postback",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("cf-connecting-ip", &ip),
                ],
                Some(&big),
            );
            sent.expect(&reply, 413, "body_too_large", "big body");
        }
        12 => {
            let reply = w.send(
                "POST",
                "/postback",
                &[("content-type", "text/plain"), ("cf-connecting-ip", &ip)],
                Some(b"clickid=x"),
            );
            sent.expect(&reply, 415, "unsupported_media_type", "text body");
        }
        13 => {
            let reply = w.send(
                "POST",
                "/postback",
                &[
                    ("content-type", "application/json"),
                    ("cf-connecting-ip", &ip),
                ],
                Some(b"{not json"),
            );
            sent.expect(&reply, 400, "malformed_body", "bad JSON");
        }
        // The previous round's transaction ID with this round's click.
        14 => sent.expect(
            &from(&format!("/postback?clickid={click_id}&txid=soak-{}", n - 1)),
            409,
            "click_mismatch",
            "mismatch",
        ),
        15 => sent.expect(
            &from(&format!(
                "/postback/sec-token?clickid={click_id}&txid=soak-t-{n}"
            )),
            401,
            "missing_token",
            "no token",
        ),
        16 => sent.expect(
            &from(&format!(
                "/postback/sec-token?clickid={click_id}&txid=soak-t-{n}&security_token=wrong"
            )),
            403,
            "bad_token",
            "token",
        ),
        17 => sent.expect(
            &from(&format!(
                "/postback/sec-ip?clickid={click_id}&txid=soak-i-{n}"
            )),
            403,
            "ip_not_allowed",
            "ip",
        ),
        18 => sent.expect(
            &from(&format!(
                "/postback/sec-hmac?clickid={click_id}&txid=soak-h-{n}"
            )),
            401,
            "missing_signature",
            "unsigned",
        ),
        19 => sent.expect(
            &from(&format!(
                "/postback/sec-hmac?clickid={click_id}&txid=soak-h-{n}&ts={now_s}&sig={}",
                "0".repeat(64)
            )),
            403,
            "bad_signature",
            "signature",
        ),
        20 => sent.expect(
            &from(&signed(
                &[
                    ("clickid", click_id.to_string()),
                    ("txid", format!("soak-h-{n}")),
                ],
                now_s - 3600,
            )),
            403,
            "stale_timestamp",
            "stale",
        ),
        // A signed postback (a conversion of its own), then the same request again.
        _ => {
            let path = signed(
                &[
                    ("clickid", click_id.to_string()),
                    ("txid", format!("soak-h-{n}")),
                ],
                now_s,
            );
            sent.expect(&from(&path), 200, "accepted", "signed");
            sent.conversions += 1;
            sent.versions += 1;
            sent.expect(&from(&path), 409, "replayed", "replay");
        }
    }
}

/// The admin read of round `n`: what the dashboard reads, in turn.
fn admin_read(w: &Worker, sent: &mut Sent, n: u64) {
    let path = match n % 6 {
        0 => "/api/report?group_by=campaign".to_string(),
        1 => "/api/conversions?campaign=soak&limit=20".to_string(),
        2 => "/api/postbacks?limit=20".to_string(),
        3 => "/api/clicks?campaign=soak&limit=20".to_string(),
        4 => "/api/deliveries?limit=20".to_string(),
        _ => "/healthz".to_string(),
    };
    let reply = w.get(
        &path,
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    sent.admin_reads += 1;
    sent.requests += 1;
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// `YYYY-MM-DD` (UTC) of a unix-millisecond time.
fn day(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[test]
#[ignore = "minutes long: run with `make soak` (SOAK_SECONDS=600 by default)"]
fn mixed_traffic_for_soak_seconds_keeps_memory_flat_and_every_figure_reconciles() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(600);
    let w = Worker::dedicated();
    let secrets = ClickSecrets::new(CLICK_SECRET, None).expect("secret");
    let expired = secrets
        .mint(now_ms() - 31 * DAY_MS, [9, 1, 2, 3, 4, 5, 9])
        .expect("expired click ID");
    let started = Instant::now();
    let duration = Duration::from_secs(seconds);
    // Memory samples (seconds since start, KiB), every 10 s from the start.
    let samples: Mutex<Samples> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let mut sent = Sent::default();
    let mut late_rounds = 0u64;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut next = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    let rss = w.workerd_rss_each();
                    samples
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((started.elapsed().as_secs(), rss));
                    next += SAMPLE_EVERY;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut n = 0u64;
            while started.elapsed() < duration {
                let due = started + ROUND * u32::try_from(n).unwrap_or(u32::MAX);
                match due.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait),
                    None => late_rounds += 1,
                }
                let click_id = w.click_only(
                    "soak",
                    &format!("zoneid=z{}", n % 7),
                    &fresh_ip(n + 1_000_000),
                );
                sent.clicks += 1;
                sent.requests += 1;
                let base = format!("/postback?clickid={click_id}&txid=soak-{n}");
                sent.expect(
                    &w.get(&format!("{base}&status=pending&payout=1.5"), &[]),
                    200,
                    "accepted",
                    "new",
                );
                sent.conversions += 1;
                sent.versions += 1;
                sent.expect(
                    &w.get(&format!("{base}&status=pending&payout=1.5"), &[]),
                    200,
                    "duplicate",
                    "again",
                );
                if n.is_multiple_of(2) {
                    sent.expect(
                        &w.get(&format!("{base}&status=approved&payout=1.5"), &[]),
                        200,
                        "updated",
                        "approve",
                    );
                    sent.versions += 1;
                    sent.expect(
                        &w.get(&format!("{base}&status=pending&payout=1.5"), &[]),
                        409,
                        "invalid_transition",
                        "back",
                    );
                }
                refusal(&w, &mut sent, n, &click_id, &expired);
                admin_read(&w, &mut sent, n);
                if n % CRON_EVERY_ROUNDS == CRON_EVERY_ROUNDS - 1 {
                    assert_eq!(w.trigger_cron().status, 200);
                    sent.cron_runs += 1;
                }
                if n % SPILL_CRON_EVERY_ROUNDS == SPILL_CRON_EVERY_ROUNDS - 1 {
                    assert_eq!(w.trigger_cron_at("*/5 * * * *", None).status, 200);
                    sent.cron_runs += 1;
                }
                n += 1;
            }
        }));
        done.store(true, Ordering::SeqCst);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    let elapsed = started.elapsed();

    // Every delivery is delivered (the cron takes what the first attempts left).
    let pending = || {
        w.query(
            "SELECT COUNT(*) AS n FROM deliveries WHERE state <> 'delivered'",
            &[],
        )[0]["n"]
            .as_i64()
            .unwrap_or(-1)
    };
    for _ in 0..30 {
        if pending() == 0 {
            break;
        }
        assert_eq!(w.trigger_cron().status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(pending(), 0, "deliveries left");
    // The refusals' log rows are written after their responses.
    std::thread::sleep(Duration::from_secs(2));

    // Every figure reconciles: the report (API) with what was sent, the log with every
    // outcome sent, the deliveries with every version.
    let report = w.get(
        &format!(
            "/api/report?from={}&to={}&tz=UTC&group_by=campaign",
            day(now_ms() - DAY_MS),
            day(now_ms() + DAY_MS)
        ),
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(report.status, 200, "{}", report.body);
    let report = report.json();
    let row: Value = report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["campaign"] == "soak").cloned())
        .unwrap_or_else(|| panic!("no soak row: {report}"));
    assert_eq!(row["clicks"], sent.clicks, "clicks: {row}");
    assert_eq!(row["conversions"], sent.conversions, "conversions: {row}");
    let logged: BTreeMap<String, u64> = w
        .query(
            "SELECT outcome, COUNT(*) AS n FROM postback_log GROUP BY outcome",
            &[],
        )
        .into_iter()
        .map(|row| {
            (
                row["outcome"].as_str().unwrap_or_default().to_string(),
                row["n"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        logged, sent.outcomes,
        "the postback log against what was sent"
    );
    let stored = w.query(
        "SELECT (SELECT COUNT(*) FROM clicks) AS clicks, (SELECT COUNT(*) FROM conversions) AS conversions, \
         (SELECT COUNT(*) FROM deliveries) AS deliveries",
        &[],
    );
    assert_eq!(stored[0]["clicks"], sent.clicks, "{stored:?}");
    assert_eq!(stored[0]["conversions"], sent.conversions, "{stored:?}");
    let hooks: BTreeSet<String> = listener()
        .received("/hooks/soak-hook")
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    // Every conversion is of a soak click, so of the one destination `soak-hook`.
    assert_eq!(
        stored[0]["deliveries"], sent.versions,
        "one delivery per conversion version"
    );
    assert_eq!(
        hooks.len() as u64,
        sent.versions,
        "every delivery reached the listener"
    );

    // No error in the worker log.
    let log = std::fs::read_to_string(&w.log_path).unwrap_or_default();
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| {
            [
                "ERROR",
                "Uncaught",
                "panicked",
                "different request context",
                "✘",
            ]
            .iter()
            .any(|bad| line.contains(bad))
        })
        .collect();
    let requests_logged = log
        .lines()
        .filter(|l| l.contains("[wrangler:info] "))
        .count();

    // Flat memory, judged on the workerd process that runs the worker; wrangler's proxy
    // in front of it is reported beside it.
    let samples = samples
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let warm_up = (seconds / 5).clamp(10, 60);
    let worker = Memory::of(&samples, true, warm_up);
    let proxy = Memory::of(&samples, false, warm_up);
    println!(
        "soak: {:.0?}, {} requests ({:.1}/s; {late_rounds} rounds started late), {} clicks, \
         {} conversions ({} versions), {} admin reads, {} cron runs; outcomes {:?}; \
         {requests_logged} lines of request log, {} error lines",
        elapsed,
        sent.requests,
        sent.requests as f64 / elapsed.as_secs_f64(),
        sent.clicks,
        sent.conversions,
        sent.versions,
        sent.admin_reads,
        sent.cron_runs,
        sent.outcomes,
        errors.len(),
    );
    print_rss(&samples);
    println!("after a {warm_up} s warm-up: worker workerd {worker}; proxy workerd {proxy}");
    assert!(
        errors.is_empty(),
        "errors in the worker log:\n{}",
        errors.join("\n")
    );
    assert!(
        samples
            .iter()
            .all(|(_, each)| each.iter().any(|(runs_worker, _)| *runs_worker)),
        "the worker's workerd was not found: {samples:?}"
    );
    assert!(
        worker.settled >= 3,
        "too few samples after the warm-up for a verdict: run longer (SOAK_SECONDS ≥ 60)"
    );
    assert!(
        worker.late_slope <= RSS_SLOPE_ALLOWED_MIB_PER_MIN,
        "the worker's workerd grew {:.2} MiB/min over the last third of the run (allowed \
         {RSS_SLOPE_ALLOWED_MIB_PER_MIN})",
        worker.late_slope
    );
}

/// How one workerd process's memory moved after the warm-up.
struct Memory {
    settled: usize,
    early_kib: u64,
    late_kib: u64,
    /// `late / early - 1`: what the verdict reads.
    growth: f64,
    /// Least-squares slope of the settled samples, MiB per minute (reported only).
    slope: f64,
    /// Least-squares slope of the last third of the samples, MiB per minute: the verdict.
    late_slope: f64,
}

/// The least-squares slope of (minutes, MiB) points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let count = (points.len() as f64).max(1.0);
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / count;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

impl Memory {
    fn of(samples: &[(u64, Vec<(bool, u64)>)], runs_worker: bool, warm_up: u64) -> Memory {
        let points: Vec<(u64, u64)> = samples
            .iter()
            .filter(|(at, _)| *at >= warm_up)
            .map(|(at, each)| {
                let kib = each
                    .iter()
                    .filter(|(w, _)| *w == runs_worker)
                    .map(|(_, k)| k)
                    .sum();
                (*at, kib)
            })
            .collect();
        let kib: Vec<u64> = points.iter().map(|(_, k)| *k).collect();
        let third = (kib.len() / 3).max(1);
        let early_kib = median(kib.get(..third).unwrap_or_default());
        let late_kib = median(
            kib.get(kib.len().saturating_sub(third)..)
                .unwrap_or_default(),
        );
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|(at, k)| (*at as f64 / 60.0, *k as f64 / 1024.0))
            .collect();
        Memory {
            settled: kib.len(),
            early_kib,
            late_kib,
            growth: late_kib as f64 / early_kib.max(1) as f64 - 1.0,
            slope: slope(&xy),
            late_slope: slope(xy.get(xy.len().saturating_sub(third)..).unwrap_or_default()),
        }
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median of the first third {:.1} MiB, of the last third {:.1} MiB ({:+.1}%), \
             slope {:+.2} MiB/min, over the last third {:+.2} MiB/min",
            self.early_kib as f64 / 1024.0,
            self.late_kib as f64 / 1024.0,
            self.growth * 100.0,
            self.slope,
            self.late_slope
        )
    }
}

/// The same request rate on a hello-world JavaScript worker (a fixed 302, no storage) in
/// the same local runtime: how much workerd's memory grows under `wrangler dev` with no
/// edgeback code at all, the baseline the soak's figures are read against.
#[test]
#[ignore = "minutes long: run with `make soak` (SOAK_SECONDS=600 by default)"]
fn control_a_hello_world_worker_at_the_soak_rate() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(600);
    let dir = std::env::temp_dir().join(format!("edgeback-soak-hello-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("hello-world directory");
    std::fs::write(
        dir.join("index.js"),
        "export default { fetch() { return new Response(null, { status: 302, headers: \
         { location: 'https://offer.example/lp', 'cache-control': 'no-store' } }); } };\n",
    )
    .expect("hello-world worker");
    std::fs::write(
        dir.join("wrangler.toml"),
        "name = \"hello\"\nmain = \"index.js\"\ncompatibility_date = \"2025-09-01\"\n",
    )
    .expect("hello-world configuration");
    let w = Worker::start_plain(&dir.join("wrangler.toml"), "/");
    let started = Instant::now();
    let duration = Duration::from_secs(seconds);
    // 26 requests a second, as the soak sends.
    let every = Duration::from_millis(1000 / 26);
    let mut samples: Samples = Vec::new();
    let mut next_sample = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < duration {
        if Instant::now() >= next_sample {
            samples.push((started.elapsed().as_secs(), w.workerd_rss_each()));
            next_sample += SAMPLE_EVERY;
        }
        if let Some(wait) = (started + every * n).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        assert_eq!(w.get("/", &[]).status, 302);
        n += 1;
    }
    samples.push((started.elapsed().as_secs(), w.workerd_rss_each()));
    println!(
        "hello-world control: {n} requests in {:.0?}",
        started.elapsed()
    );
    print_rss(&samples);
    let warm_up = (seconds / 5).clamp(10, 60);
    println!(
        "after a {warm_up} s warm-up: worker workerd {}; proxy workerd {}",
        Memory::of(&samples, true, warm_up),
        Memory::of(&samples, false, warm_up)
    );
}

/// Prints RSS samples per workerd process (the worker's and wrangler's proxy), in MiB.
fn print_rss(samples: &[(u64, Vec<(bool, u64)>)]) {
    for (label, worker) in [("worker workerd", true), ("proxy workerd", false)] {
        let series: Vec<String> = samples
            .iter()
            .map(|(at, each)| {
                let kib: u64 = each
                    .iter()
                    .filter(|(w, _)| *w == worker)
                    .map(|(_, k)| k)
                    .sum();
                format!("{at}s {:.0}", kib as f64 / 1024.0)
            })
            .collect();
        println!("{label} RSS MiB: [{}]", series.join(", "));
    }
}
