//! Reliability (issue 15, design §14, docs/reliability.md): a runtime killed under load
//! loses no answered postback and doubles none; a D1 outage loses no click and no
//! postback a sender retries; a destination down for every retry but the last gets every
//! delivery under one webhook-id, and a 410 ends one; one dead destination's backlog
//! never delays another destination's deliveries.

use crate::harness::{exclusive, isolated_worker, Worker, ADMIN_TOKEN};
use crate::listener::{listener, Behaviour, Received};
use edgeback::postback::outcome::STORAGE_RETRY_AFTER_SECONDS;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `/healthz`, and the destinations it shows failing.
fn failing_destinations(w: &Worker) -> (Value, Vec<Value>) {
    let health = w.get("/healthz", &[]).json();
    let failing = health["failing_destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (health, failing)
}

fn admin(w: &Worker, path: &str) -> Value {
    let reply = w.get(path, &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))]);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

/// What a sender got for one request: a reply, or none (the connection was refused, or
/// broke before the whole reply came).
#[derive(Debug, Clone)]
enum Answer {
    Replied {
        status: u16,
        outcome: String,
        conversion_id: Option<String>,
    },
    NoAnswer {
        refused: bool,
    },
}

/// A sender's own HTTP client: one keep-alive connection per thread, no redirects.
fn sender() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .max_idle_connections_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
}

/// Sends `GET url` and says what came back; a transport error is an answer too.
fn send(agent: &ureq::Agent, url: &str) -> Answer {
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(error)) => {
            return Answer::NoAnswer {
                refused: error.kind() == ureq::ErrorKind::ConnectionFailed,
            }
        }
    };
    let status = response.status();
    // A kill can cut a reply off after its status line: the sender never saw the body,
    // so like any sender it counts that as no answer and re-sends. A body that arrived
    // whole but is not JSON stays a reply (and fails the outcome check).
    let Ok(text) = response.into_string() else {
        return Answer::NoAnswer { refused: false };
    };
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer::Replied {
        status,
        outcome: body["outcome"].as_str().unwrap_or_default().to_string(),
        conversion_id: body["conversion_id"].as_str().map(str::to_string),
    }
}

/// Runs `work(index)` for every index below `count` on `threads` threads, each taking the
/// next index as it finishes one (a sender with that many connections).
fn in_parallel<T: Send>(threads: usize, count: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= count {
                    return;
                }
                let result = work(index);
                results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((index, result));
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

fn count(w: &Worker, sql: &str) -> i64 {
    w.query(sql, &[])
        .first()
        .and_then(|row| row["n"].as_i64())
        .unwrap_or(-1)
}

/// How many postbacks the crash test sends, over how many connections, and after how
/// many answers the runtime is killed.
const CRASH_POSTBACKS: usize = 2_000;
const CRASH_CONNECTIONS: usize = 20;
const CRASH_KILL_AFTER: usize = 800;

#[test]
fn a_runtime_killed_under_load_loses_no_answered_postback_and_doubles_none() {
    let started = Instant::now();
    // A worker of its own: it is killed and restarted, which no other test may see.
    let w = Worker::dedicated();
    let booted = started.elapsed();

    // One click per postback, made before the load (the click rows are written after the
    // redirects; the postbacks must find them so their deliveries are not held).
    let clicks: Vec<String> = in_parallel(CRASH_CONNECTIONS, CRASH_POSTBACKS, |n| {
        w.click_only("crash", &format!("sub1=crash-{n}"), "192.0.2.180")
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        &w,
        "SELECT COUNT(*) AS n FROM clicks WHERE campaign = 'crash'",
    ) < CRASH_POSTBACKS as i64
    {
        assert!(
            Instant::now() < deadline,
            "the click rows never all arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let clicked = started.elapsed();

    // The load: 2,000 distinct postbacks at 20 connections; SIGKILL part-way.
    let path = |n: usize| format!("/postback?clickid={}&txid=crash-{n}", clicks[n]);
    let answered = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    let mut first: Vec<Answer> = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while answered.load(Ordering::SeqCst) < CRASH_KILL_AFTER {
                assert!(Instant::now() < deadline, "the load never got going");
                std::thread::sleep(Duration::from_millis(2));
            }
            w.kill_runtime();
            killed.store(true, Ordering::SeqCst);
        });
        first = in_parallel(CRASH_CONNECTIONS, CRASH_POSTBACKS, |n| {
            thread_local!(static AGENT: ureq::Agent = sender());
            let answer = AGENT.with(|agent| send(agent, &w.url(&path(n))));
            if matches!(answer, Answer::Replied { .. }) {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            answer
        });
    });
    assert!(
        killed.load(Ordering::SeqCst),
        "the runtime was never killed"
    );
    let loaded = started.elapsed();

    let replied_2xx: Vec<usize> = (0..CRASH_POSTBACKS)
        .filter(
            |&n| matches!(&first[n], Answer::Replied { status, .. } if (200..300).contains(status)),
        )
        .collect();
    let other_replies: Vec<(usize, &Answer)> = (0..CRASH_POSTBACKS)
        .filter(|&n| matches!(&first[n], Answer::Replied { status, .. } if !(200..300).contains(status)))
        .map(|n| (n, &first[n]))
        .collect();
    let unanswered: Vec<usize> = (0..CRASH_POSTBACKS)
        .filter(|&n| matches!(first[n], Answer::NoAnswer { .. }))
        .collect();
    let broken = unanswered
        .iter()
        .filter(|&&n| matches!(first[n], Answer::NoAnswer { refused: false }))
        .count();
    assert!(
        other_replies.is_empty(),
        "answers other than 2xx: {other_replies:?}"
    );
    for &n in &replied_2xx {
        assert!(
            matches!(&first[n], Answer::Replied { outcome, .. } if outcome == "accepted"),
            "{n}: {:?}",
            first[n]
        );
    }
    assert!(!unanswered.is_empty(), "the kill came after the load ended");

    // Restart on the same persist directory; the sender re-sends what got no answer.
    let w = w.restart();
    let restarted = started.elapsed();
    let delivered = || {
        count(
            &w,
            "SELECT COUNT(*) AS n FROM deliveries WHERE destination = 'crash-hook' \
             AND state = 'delivered'",
        )
    };
    // What the kill left: conversions stored, and their deliveries not yet delivered.
    let stored_at_restart = count(
        &w,
        "SELECT COUNT(*) AS n FROM conversions WHERE campaign = 'crash'",
    );
    let undelivered_at_restart = stored_at_restart - delivered();
    let resent: Vec<Answer> = in_parallel(CRASH_CONNECTIONS, unanswered.len(), |i| {
        thread_local!(static AGENT: ureq::Agent = sender());
        AGENT.with(|agent| send(agent, &w.url(&path(unanswered[i]))))
    });
    let mut resent_outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for (i, answer) in resent.iter().enumerate() {
        match answer {
            Answer::Replied {
                status: 200,
                outcome,
                ..
            } if outcome == "accepted" || outcome == "duplicate" => {
                *resent_outcomes.entry(outcome.clone()).or_default() += 1;
            }
            other => panic!("re-sent postback {}: {other:?}", unanswered[i]),
        }
    }

    // Stored exactly once: one conversion per transaction ID and per click, each
    // answered 2xx with the ID it was answered with, one history version, one delivery.
    let rows = w.query(
        "SELECT transaction_id, conversion_id, click_id FROM conversions WHERE campaign = 'crash'",
        &[],
    );
    let mut by_tx: HashMap<String, Vec<Value>> = HashMap::new();
    for row in &rows {
        by_tx
            .entry(
                row["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default()
            .push(row.clone());
    }
    assert_eq!(rows.len(), CRASH_POSTBACKS, "conversions stored");
    for n in 0..CRASH_POSTBACKS {
        let stored = by_tx
            .get(&format!("crash-{n}"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(stored.len(), 1, "crash-{n}: {stored:?}");
        assert_eq!(stored[0]["click_id"], clicks[n].as_str());
        let answered_id = match &first[n] {
            Answer::Replied { conversion_id, .. } => conversion_id.clone(),
            Answer::NoAnswer { .. } => {
                unanswered
                    .iter()
                    .position(|&u| u == n)
                    .and_then(|i| match &resent[i] {
                        Answer::Replied { conversion_id, .. } => conversion_id.clone(),
                        Answer::NoAnswer { .. } => None,
                    })
            }
        };
        assert_eq!(
            answered_id.as_deref(),
            stored[0]["conversion_id"].as_str(),
            "crash-{n}: the answered conversion is the stored one"
        );
    }
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) AS n FROM (SELECT click_id FROM conversions WHERE campaign = 'crash' \
             GROUP BY click_id HAVING COUNT(*) > 1)"
        ),
        0,
        "a click converted twice"
    );
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) AS n FROM conversion_history h JOIN conversions c \
             ON c.conversion_id = h.conversion_id WHERE c.campaign = 'crash'"
        ),
        CRASH_POSTBACKS as i64,
        "one history version per conversion"
    );
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) AS n FROM deliveries WHERE destination = 'crash-hook'"
        ),
        CRASH_POSTBACKS as i64,
        "one delivery per conversion"
    );

    // Every delivery is delivered: the cron retries what the kill cut short. Runs are
    // triggered a minute ahead, past the claim lease (60 s) a killed attempt left behind.
    let mut cron_runs = 0;
    while delivered() < CRASH_POSTBACKS as i64 {
        assert!(
            cron_runs < 150,
            "deliveries left after {cron_runs} cron runs"
        );
        let reply = w.trigger_cron_at("* * * * *", Some(now_ms() + 61_000));
        assert_eq!(reply.status, 200, "{}", reply.body);
        cron_runs += 1;
    }
    let ids: HashMap<String, String> = w
        .query(
            "SELECT delivery_id, conversion_id FROM deliveries WHERE destination = 'crash-hook'",
            &[],
        )
        .into_iter()
        .map(|row| {
            (
                format!("msg_{}", row["delivery_id"].as_str().unwrap_or_default()),
                row["conversion_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let received = listener().received("/hooks/crash-hook");
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in &received {
        let id = request.header("webhook-id").unwrap_or_default().to_string();
        let conversion = request.json()["data"]["conversion_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            ids.get(&id),
            Some(&conversion),
            "{id} carries another conversion"
        );
        *per_id.entry(id).or_default() += 1;
    }
    assert_eq!(
        per_id.keys().collect::<BTreeSet<_>>(),
        ids.keys().collect::<BTreeSet<_>>(),
        "every conversion's delivery reached the listener"
    );
    let sent_again = per_id.values().filter(|&&n| n > 1).count();
    println!(
        "crash: {CRASH_POSTBACKS} postbacks at {CRASH_CONNECTIONS} connections, SIGKILL after \
         {CRASH_KILL_AFTER} answers: {} answered 2xx before the kill, {} unanswered ({broken} \
         cut off in flight, {} refused while down), {stored_at_restart} conversions stored at the \
         restart ({undelivered_at_restart} of their deliveries not yet delivered); re-sent \
         after the restart: {resent_outcomes:?}; {} conversions stored, none doubled; every \
         delivery delivered after {cron_runs} cron run(s); listener got \
         {} requests for {} webhook-ids ({sent_again} received more than once, same \
         webhook-id). Times: worker up {:.1?}, clicks in {:.1?}, load and kill {:.1?}, \
         restart {:.1?}, total {:.1?}",
        replied_2xx.len(),
        unanswered.len(),
        unanswered.len() - broken,
        rows.len(),
        received.len(),
        per_id.len(),
        booted,
        clicked - booted,
        loaded - clicked,
        restarted - loaded,
        started.elapsed(),
    );
}

#[test]
fn a_dead_destinations_backlog_of_5000_never_delays_another_destination() {
    let _alone = exclusive();
    let w = isolated_worker();
    listener().behave("/hooks/backlog-dead", Behaviour::Status(503));
    listener().behave("/hooks/backlog-alive", Behaviour::FailTimes(1, 503));
    // 5,000 deliveries due for the dead destination, older than anything else, stored the
    // way the record step stores them (one conversion, its history, its deliveries).
    let click_id = w.click_through("backlog-alive", "", "192.0.2.170");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let conversion = edgeback::postback::new_record_id(now as u64 - 60_000, [7; 14]);
    let mut sql = format!(
        "INSERT INTO conversions (conversion_id, dedup_key, click_id, campaign, network, event, \
         status, payout_micros, currency, last_postback_id, clicked_at, created_at, updated_at, \
         attributed_at) VALUES ('{conversion}', 'backlog-key', '{click_id}', 'backlog-dead', \
         'generic', 'conversion', 'approved', 1, 'USD', 'x', {now}, {now}, {now}, {now}); \
         INSERT INTO conversion_history (conversion_id, version, status, payout_micros, currency, \
         changed_at, postback_id) VALUES ('{conversion}', 1, 'approved', 1, 'USD', {now}, 'x'); \
         WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 4999) \
         INSERT INTO deliveries (delivery_id, postback_id, destination, conversion_id, version, \
         type, state, attempts, max_attempts, next_attempt_at, created_at, updated_at) \
         SELECT 'backlog-' || printf('%05d', k), 'x', 'backlog-dead', '{conversion}', 1, \
         'conversion.created', 'retrying', 1, 8, {due} + k, {due}, {due} FROM n;",
        due = now - 3_600_000,
    );
    sql.push_str("");
    w.execute(&sql);

    // A conversion for the other destination: its first attempt fails (503).
    let reply = w.get(&format!("/postback?clickid={click_id}&txid=backlog-1"), &[]);
    reply.assert_outcome(200, "accepted", 1);
    let conversion_id = reply.json()["conversion_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    listener().wait_for("/hooks/backlog-alive", 1);
    // Its retry is due a second later (the test schedule); the cron, 40 deliveries a run,
    // must reach it although 5,000 older deliveries of the dead destination are due.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut runs = 0;
    loop {
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(w.trigger_cron().status, 200);
        runs += 1;
        let state = w.query(
            "SELECT state FROM deliveries WHERE conversion_id = ?1",
            &[&conversion_id],
        );
        if state.first().is_some_and(|row| row["state"] == "delivered") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not retried after {runs} cron runs: {state:?}"
        );
    }
    println!("the other destination's retry was delivered after {runs} cron run(s)");
    assert!(runs <= 3, "{runs} cron runs");
    let dead_attempted = w.query(
        "SELECT COUNT(*) AS n FROM deliveries WHERE destination = 'backlog-dead' AND attempts > 1",
        &[],
    )[0]["n"]
        .as_i64()
        .unwrap_or(0);
    assert!(
        dead_attempted > 0,
        "the dead destination keeps its turns too"
    );
    // The dead destination is shown failing on /healthz.
    let (health, failing) = failing_destinations(w);
    assert!(
        failing
            .iter()
            .any(|d| d["destination"] == "backlog-dead" && d["paused"] == false),
        "{health}"
    );
    // Leave the isolated worker as found: the backlog goes.
    w.execute("DELETE FROM deliveries WHERE destination = 'backlog-dead'; DELETE FROM destination_health;");
}

/// A D1 write outage injected into the live local database: every insert into the
/// click, conversion and postback-log tables fails (a postback's record step always
/// writes its log row, so every postback's batch fails whole). Ended however the test
/// ends.
struct D1Outage<'a>(&'a Worker);

const OUTAGE_TABLES: [&str; 3] = ["clicks", "conversions", "postback_log"];

impl<'a> D1Outage<'a> {
    fn begin(w: &'a Worker) -> Self {
        let sql: String = OUTAGE_TABLES
            .iter()
            .map(|table| {
                format!(
                    "CREATE TRIGGER e2e_outage_{table} BEFORE INSERT ON {table} \
                     BEGIN SELECT RAISE(ABORT, 'injected D1 outage'); END;"
                )
            })
            .collect();
        w.execute(&sql);
        D1Outage(w)
    }
}

impl Drop for D1Outage<'_> {
    fn drop(&mut self) {
        let sql: String = OUTAGE_TABLES
            .iter()
            .map(|table| format!("DROP TRIGGER IF EXISTS e2e_outage_{table};"))
            .collect();
        self.0.execute(&sql);
    }
}

/// How long the D1 outage lasts: longer than a click write's retries (about 12 s), so
/// the first clicks of the outage are spilled to KV and the later ones land by retry.
const D1_OUTAGE: Duration = Duration::from_secs(15);

#[test]
fn a_d1_outage_loses_no_click_and_no_postback_a_sender_retries() {
    let _alone = exclusive();
    let w = isolated_worker();
    let health = |w: &Worker| w.get("/healthz", &[]).json()["clicks"].clone();
    let before = health(w);
    // Five conversions made before the outage: their status updates arrive during it.
    let existing: Vec<(String, String)> = (0..5)
        .map(|n| {
            let click_id = w.click_through("d1-outage", "", "192.0.2.190");
            let reply = w.get(
                &format!("/postback?clickid={click_id}&txid=d1-before-{n}&status=pending"),
                &[],
            );
            reply.assert_outcome(200, "accepted", 1);
            (click_id, format!("d1-before-{n}"))
        })
        .collect();
    let outage_started = Instant::now();
    let outage = D1Outage::begin(w);

    // Clicks and postbacks flow during the outage: each click is answered with its
    // redirect (its row is written after the response); its postback, sent at once, and
    // the status updates are answered 503 with Retry-After; the sender retries every
    // second (a real sender waits what Retry-After says, 30 s; the test does not).
    struct Pending {
        path: String,
        txid: String,
        expected: &'static str,
        tries: u32,
        answer: Option<String>,
    }
    let mut pending: Vec<Pending> = existing
        .iter()
        .map(|(click_id, txid)| Pending {
            path: format!("/postback?clickid={click_id}&txid={txid}&status=approved"),
            txid: txid.clone(),
            expected: "updated",
            tries: 0,
            answer: None,
        })
        .collect();
    let mut clicks = Vec::new();
    let mut refused_503 = 0;
    let mut n = 0;
    let mut last_round = Instant::now() - Duration::from_secs(1);
    while outage_started.elapsed() < D1_OUTAGE {
        if clicks.len() < 24 && outage_started.elapsed() < D1_OUTAGE - Duration::from_secs(3) {
            // click_only asserts the redirect.
            let click_id = w.click_only("d1-outage", &format!("sub1=d1-{n}"), "192.0.2.191");
            pending.push(Pending {
                path: format!("/postback?clickid={click_id}&txid=d1-during-{n}"),
                txid: format!("d1-during-{n}"),
                expected: "accepted",
                tries: 0,
                answer: None,
            });
            clicks.push(click_id);
            n += 1;
        }
        if last_round.elapsed() >= Duration::from_secs(1) {
            last_round = Instant::now();
            for postback in &mut pending {
                let reply = w.get(&postback.path, &[]);
                postback.tries += 1;
                assert_eq!(
                    (reply.status, reply.outcome().as_str()),
                    (503, "internal_error"),
                    "{}: {}",
                    postback.path,
                    reply.body
                );
                assert_eq!(
                    reply.header("retry-after"),
                    Some(STORAGE_RETRY_AFTER_SECONDS.to_string().as_str()),
                    "{}",
                    postback.path
                );
                refused_503 += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Nothing half-written: no conversion, history version or delivery of a refused
    // postback, and the conversions from before are as they were.
    let txids: Vec<String> = pending.iter().map(|p| p.txid.clone()).collect();
    let list = txids
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        count(
            w,
            &format!("SELECT COUNT(*) AS n FROM conversions WHERE transaction_id IN ({list}) AND transaction_id LIKE 'd1-during-%'")
        ),
        0,
        "half-written"
    );
    assert_eq!(
        count(
            w,
            &format!(
                "SELECT COUNT(*) AS n FROM conversion_history h JOIN conversions c \
                 ON c.conversion_id = h.conversion_id WHERE c.transaction_id IN ({list})"
            )
        ),
        5,
        "an update refused during the outage wrote a version"
    );
    assert_eq!(
        count(
            w,
            &format!(
                "SELECT COUNT(*) AS n FROM conversions WHERE transaction_id IN ({list}) \
                 AND status <> 'pending'"
            )
        ),
        0
    );
    drop(outage);
    let outage_lasted = outage_started.elapsed();
    let missing_at_recovery = clicks
        .iter()
        .filter(|id| {
            w.query("SELECT 1 FROM clicks WHERE click_id = ?1", &[*id])
                .is_empty()
        })
        .count();

    // D1 is back: the sender's retries are accepted, each exactly once.
    let recovered = Instant::now();
    while pending.iter().any(|p| p.answer.is_none()) {
        assert!(
            recovered.elapsed() < Duration::from_secs(30),
            "retries still refused after D1 came back"
        );
        for postback in pending.iter_mut().filter(|p| p.answer.is_none()) {
            let reply = w.get(&postback.path, &[]);
            postback.tries += 1;
            if reply.status == 503 {
                continue;
            }
            reply.assert_outcome(200, postback.expected, 1);
            postback.answer = Some(reply.outcome());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let conversions = w.query(
        &format!(
            "SELECT transaction_id, status, version FROM conversions WHERE transaction_id IN ({list})"
        ),
        &[],
    );
    assert_eq!(conversions.len(), pending.len(), "{conversions:?}");
    for row in &conversions {
        // The new ones take the network's default status; the earlier ones were updated
        // from pending (a second version).
        let updated = row["transaction_id"]
            .as_str()
            .is_some_and(|tx| tx.starts_with("d1-before"));
        assert_eq!(row["status"], "approved", "{row}");
        assert_eq!(row["version"], if updated { 2 } else { 1 }, "{row}");
    }

    // No click answered with a redirect is lost: the rows that failed every retry were
    // spilled to KV and the five-minute cron replays them; the rest land by retry.
    w.click_through("d1-outage", "sub1=after", "192.0.2.192");
    let missing = |w: &Worker| {
        clicks
            .iter()
            .filter(|id| {
                w.query("SELECT 1 FROM clicks WHERE click_id = ?1", &[*id])
                    .is_empty()
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while missing(w) > 0 {
        assert!(Instant::now() < deadline, "{} click rows lost", missing(w));
        assert_eq!(w.trigger_cron_at("*/5 * * * *", None).status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = health(w);
    let grew = |key: &str| after[key].as_i64().unwrap_or(-1) - before[key].as_i64().unwrap_or(0);
    assert_eq!(grew("clicks_lost"), 0, "{after}");
    assert!(
        grew("clicks_spilled") > 0,
        "the outage outlasted every retry: {after}"
    );
    assert_eq!(grew("clicks_spilled"), grew("clicks_recovered"), "{after}");
    let spilled = grew("clicks_spilled");

    // Every conversion is attributed and forwarded once per version (generous: the whole
    // suite runs beside this test and shares the machine).
    let deadline = Instant::now() + Duration::from_secs(90);
    let expected_hooks = pending.len() + existing.len();
    let hooks = loop {
        let hooks: Vec<Received> = listener()
            .received("/hooks/d1-outage-hook")
            .into_iter()
            .filter(|r| {
                let tx = r.json()["data"]["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                txids.contains(&tx)
            })
            .collect();
        if hooks.len() >= expected_hooks || Instant::now() > deadline {
            break hooks;
        }
        assert_eq!(w.trigger_cron().status, 200);
        std::thread::sleep(Duration::from_millis(500));
    };
    let ids: BTreeSet<&str> = hooks
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    let delivered: BTreeSet<String> = hooks
        .iter()
        .filter_map(|r| {
            r.json()["data"]["transaction_id"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let undelivered: Vec<&String> = txids.iter().filter(|tx| !delivered.contains(*tx)).collect();
    assert_eq!(
        ids.len(),
        expected_hooks,
        "one delivery per version; never delivered: {undelivered:?}; deliveries: {}; \
         health: {}",
        serde_json::Value::Array(
            undelivered
                .iter()
                .flat_map(|tx| w.query(
                    "SELECT d.delivery_id, d.state, d.attempts, c.attributed_at FROM deliveries d \
                     JOIN conversions c ON c.conversion_id = d.conversion_id \
                     WHERE c.transaction_id = ?1",
                    &[*tx]
                ))
                .collect()
        ),
        health(w)
    );
    println!(
        "D1 outage: {:.1?} of failing writes; {} clicks answered 302 during it, {} of them \
         not in D1 when it ended ({spilled} spilled to KV and replayed by the five-minute \
         cron, the rest landed by retry; 0 lost); {} \
         postbacks ({} new, 5 status updates) answered 503 with Retry-After {refused_503} \
         times, nothing half-written; after D1 came back every retry was accepted (after \
         {} to {} tries), {} conversions stored once, {expected_hooks} deliveries",
        outage_lasted,
        clicks.len(),
        missing_at_recovery,
        pending.len(),
        pending.len() - 5,
        pending.iter().map(|p| p.tries).min().unwrap_or(0),
        pending.iter().map(|p| p.tries).max().unwrap_or(0),
        conversions.len(),
    );
}

/// Conversions for the destination outage test, one per campaign listed.
const OUTAGE_CONVERSIONS: usize = 5;

#[test]
fn a_destination_down_for_every_retry_but_the_last_gets_every_delivery_and_a_410_ends_one() {
    let _alone = exclusive();
    let w = isolated_worker();
    let since = now_ms();
    let down = "/hooks/dest-outage-hook";
    let gone = "/hooks/dest-gone-hook";
    listener().behave(down, Behaviour::Status(503));
    listener().behave(gone, Behaviour::Status(503));
    let convert = |campaign: &str, n: usize| {
        let click_id = w.click_through(campaign, "", "192.0.2.195");
        let reply = w.get(
            &format!("/postback?clickid={click_id}&txid={campaign}-{n}"),
            &[],
        );
        reply.assert_outcome(200, "accepted", 1);
        reply.json()["conversion_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let outage: Vec<String> = (0..OUTAGE_CONVERSIONS)
        .map(|n| convert("dest-outage", n))
        .collect();
    let ended = convert("dest-gone", 0);
    // The first attempts, right after each response, fail.
    assert_eq!(
        listener().wait_for(down, OUTAGE_CONVERSIONS).len(),
        OUTAGE_CONVERSIONS
    );
    assert_eq!(listener().wait_for(gone, 1).len(), 1);

    // The clock is driven: each cron run is triggered as if 10 s later than the last
    // retry's due time, so every failed delivery is due again (the test schedule's delays
    // are 1 s, then 5 s; in production these 7 failures span 5 s + 5 min + 30 min + 2 h +
    // 5 h + 10 h, about 17.6 hours).
    let mut clock = now_ms();
    let mut run = |w: &Worker| {
        clock = clock.max(now_ms()) + 10_000;
        let reply = w.trigger_cron_at("* * * * *", Some(clock));
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    let max_attempts = 8;
    for round in 2..max_attempts {
        if round == 3 {
            // The second destination answers 410 Gone: that ends its delivery.
            listener().behave(gone, Behaviour::Status(410));
        }
        run(w);
        let got = listener().wait_for(down, OUTAGE_CONVERSIONS * round);
        assert_eq!(got.len(), OUTAGE_CONVERSIONS * round, "round {round}");
        // While down, the destination is shown failing on /healthz.
        if round == 2 {
            let (health, failing) = failing_destinations(w);
            assert!(
                failing
                    .iter()
                    .any(|d| d["destination"] == "dest-outage-hook"),
                "{health}"
            );
        }
    }
    // Seven attempts failed; the destination is back for the last.
    listener().behave(down, Behaviour::Status(200));
    run(w);
    let got = listener().wait_for(down, OUTAGE_CONVERSIONS * max_attempts);
    assert_eq!(got.len(), OUTAGE_CONVERSIONS * max_attempts);
    // Nothing more is sent to either, however many runs follow.
    for _ in 0..3 {
        run(w);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        listener().received(down).len(),
        OUTAGE_CONVERSIONS * max_attempts
    );
    let gone_requests = listener().received(gone);
    assert_eq!(gone_requests.len(), 3, "503, 503, 410, then nothing");

    // Each delivery kept one webhook-id across its attempts, distinct per delivery.
    let mut by_id: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for request in listener().received(down) {
        by_id
            .entry(request.header("webhook-id").unwrap_or_default().to_string())
            .or_default()
            .push(request);
    }
    assert_eq!(by_id.len(), OUTAGE_CONVERSIONS, "{:?}", by_id.keys());
    for (id, requests) in &by_id {
        assert_eq!(requests.len(), max_attempts, "{id}");
        let conversions: BTreeSet<String> = requests
            .iter()
            .map(|r| {
                r.json()["data"]["conversion_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(conversions.len(), 1, "{id} carried several conversions");
    }
    let gone_ids: BTreeSet<&str> = gone_requests
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(gone_ids.len(), 1);

    // The API (which the dashboard's delivery list reads) shows every attempt.
    let statuses = |delivery: &Value| -> Vec<i64> {
        delivery["attempt_log"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap_or(0))
            .collect()
    };
    for conversion_id in &outage {
        let detail = admin(w, &format!("/api/conversions/{conversion_id}"));
        let deliveries = detail["deliveries"].as_array().cloned().unwrap_or_default();
        assert_eq!(deliveries.len(), 1, "{detail}");
        let delivery = &deliveries[0];
        assert_eq!(delivery["state"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], max_attempts as i64);
        assert_eq!(statuses(delivery), [503, 503, 503, 503, 503, 503, 503, 200]);
        let id = format!(
            "msg_{}",
            delivery["delivery_id"].as_str().unwrap_or_default()
        );
        assert!(by_id.contains_key(&id), "{id}");
    }
    let detail = admin(w, &format!("/api/conversions/{ended}"));
    let delivery = detail["deliveries"][0].clone();
    assert_eq!(delivery["state"], "failed", "{delivery}");
    assert_eq!(delivery["last_status"], 410, "{delivery}");
    assert_eq!(statuses(&delivery), [503, 503, 410]);
    let listed = admin(w, &format!("/api/deliveries?since={since}&limit=500"));
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    let ours: Vec<&Value> = items
        .iter()
        .filter(|d| d["destination"] == "dest-outage-hook" || d["destination"] == "dest-gone-hook")
        .collect();
    assert_eq!(ours.len(), OUTAGE_CONVERSIONS + 1, "{listed}");
    assert!(ours.iter().all(|d| !statuses(d).is_empty()), "{ours:?}");
    // Back: no longer failing on /healthz.
    let (health, failing) = failing_destinations(w);
    assert!(
        !failing
            .iter()
            .any(|d| d["destination"] == "dest-outage-hook"),
        "{health}"
    );
    println!(
        "destination outage: {OUTAGE_CONVERSIONS} deliveries failed 7 attempts each (503) and \
         were delivered at the 8th, each under one webhook-id ({} requests in all); a 410 \
         ended the other after 3 attempts; the API shows every attempt",
        OUTAGE_CONVERSIONS * max_attempts
    );
}
