//! Retry decisions (design §8): after an attempt, is the delivery done, failed, or due
//! again, and when.

use crate::config::DeliverySettings;

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The HTTP status, or `None` when no response came (timeout, connection error).
    pub status: Option<u16>,
    /// `Retry-After` in seconds from now, if the reply had a usable one.
    pub retry_after_seconds: Option<u64>,
}

/// The delivery's next state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Failed { reason: String },
    Retry { at_ms: u64 },
}

impl Verdict {
    pub fn state(&self) -> super::DeliveryState {
        match self {
            Verdict::Delivered => super::DeliveryState::Delivered,
            Verdict::Failed { .. } => super::DeliveryState::Failed,
            Verdict::Retry { .. } => super::DeliveryState::Retrying,
        }
    }
}

/// Decides after attempt number `attempt` (1-based, counted since the last replay).
/// `random` spreads the delay by up to ± `jitter_percent`.
pub fn judge(
    settings: &DeliverySettings,
    max_attempts: u32,
    attempt: u32,
    result: &AttemptResult,
    now_ms: u64,
    random: u32,
) -> Verdict {
    match result.status {
        Some(status) if (200..300).contains(&status) => return Verdict::Delivered,
        Some(410) => {
            return Verdict::Failed {
                reason: "the destination answered 410 Gone".into(),
            }
        }
        _ => {}
    }
    if attempt >= max_attempts {
        return Verdict::Failed {
            reason: format!("gave up after {attempt} attempts"),
        };
    }
    let schedule = &settings.retry_schedule_seconds;
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    let base = schedule
        .get(index)
        .or(schedule.last())
        .copied()
        .unwrap_or(60);
    let longest = schedule.iter().copied().max().unwrap_or(base);
    // Retry-After (429/503) is honoured within the schedule: never sooner than the
    // schedule's next step, never later than its longest step.
    let honoured = match (result.status, result.retry_after_seconds) {
        (Some(429 | 503), Some(after)) => base.max(after.min(longest)),
        _ => base,
    };
    let jitter = u64::from(settings.jitter_percent.min(50));
    let delay_ms = honoured.saturating_mul(1000);
    let spread = delay_ms.saturating_mul(jitter) / 100;
    let offset = if spread == 0 {
        0
    } else {
        u64::from(random) % (2 * spread + 1)
    };
    let delay_ms = delay_ms.saturating_sub(spread).saturating_add(offset);
    Verdict::Retry {
        at_ms: now_ms.saturating_add(delay_ms.max(1000)),
    }
}

/// A `Retry-After` header value: delay seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = super::time::parse_http_date(value)?;
    let now = i64::try_from(now_ms / 1000).ok()?;
    u64::try_from(at.saturating_sub(now)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000_000;

    fn spec() -> DeliverySettings {
        DeliverySettings::default()
    }

    fn result(status: Option<u16>, retry_after: Option<u64>) -> AttemptResult {
        AttemptResult {
            status,
            retry_after_seconds: retry_after,
        }
    }

    #[test]
    fn success_is_2xx_only() {
        for status in [200, 201, 204, 299] {
            assert_eq!(
                judge(&spec(), 8, 1, &result(Some(status), None), NOW, 0),
                Verdict::Delivered
            );
        }
        for status in [
            None,
            Some(199),
            Some(301),
            Some(302),
            Some(400),
            Some(404),
            Some(500),
            Some(503),
        ] {
            assert!(
                matches!(
                    judge(&spec(), 8, 1, &result(status, None), NOW, 0),
                    Verdict::Retry { .. }
                ),
                "{status:?}"
            );
        }
    }

    #[test]
    fn gone_fails_at_once_and_the_last_attempt_fails() {
        assert!(matches!(
            judge(&spec(), 8, 1, &result(Some(410), None), NOW, 0),
            Verdict::Failed { .. }
        ));
        assert!(matches!(
            judge(&spec(), 8, 8, &result(Some(500), None), NOW, 0),
            Verdict::Failed { .. }
        ));
        assert!(matches!(
            judge(&spec(), 3, 3, &result(None, None), NOW, 0),
            Verdict::Failed { .. }
        ));
        assert!(matches!(
            judge(&spec(), 3, 2, &result(None, None), NOW, 0),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn the_spec_schedule_without_jitter_is_about_28_hours() {
        let settings = DeliverySettings {
            jitter_percent: 0,
            ..spec()
        };
        let mut at = NOW;
        let mut delays = Vec::new();
        for attempt in 1..8 {
            let Verdict::Retry { at_ms } =
                judge(&settings, 8, attempt, &result(Some(500), None), at, 0)
            else {
                panic!()
            };
            delays.push((at_ms - at) / 1000);
            at = at_ms;
        }
        assert_eq!(delays, [5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        let hours = (at - NOW) as f64 / 3_600_000.0;
        assert!((27.5..28.5).contains(&hours), "{hours}");
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for random in [0, 1, 7, 1000, u32::MAX / 2, u32::MAX] {
            let Verdict::Retry { at_ms } =
                judge(&spec(), 8, 2, &result(Some(500), None), NOW, random)
            else {
                panic!()
            };
            let delay = at_ms - NOW;
            assert!((240_000..=360_000).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_the_schedule() {
        let settings = DeliverySettings {
            jitter_percent: 0,
            ..spec()
        };
        let delay =
            |status, after| match judge(&settings, 8, 1, &result(Some(status), after), NOW, 0) {
                Verdict::Retry { at_ms } => (at_ms - NOW) / 1000,
                other => panic!("{other:?}"),
            };
        assert_eq!(delay(429, Some(120)), 120, "later than the step: honoured");
        assert_eq!(delay(503, Some(1)), 5, "sooner than the step: the step");
        assert_eq!(
            delay(429, Some(999_999)),
            36_000,
            "capped at the longest step"
        );
        assert_eq!(delay(500, Some(120)), 5, "only 429 and 503");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120", NOW), Some(120));
        assert_eq!(parse_retry_after(" 0 ", NOW), Some(0));
        let date = super::super::time::rfc3339(0); // not an HTTP date
        assert_eq!(parse_retry_after(&date, NOW), None);
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 19:00:00 GMT", 1_795_287_000_000),
            Some(600)
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 19:00:00 GMT", 1_795_288_000_000),
            None
        );
        assert_eq!(parse_retry_after("soon", NOW), None);
    }
}
