//! Postback outcomes (design §6): one stable code per result, its HTTP status, and the reply.

use crate::config::ResponseFormat;

/// `Retry-After` of a 503 storage failure: D1 incidents seen so far last seconds to a few
/// minutes, and a sender that waits half a minute neither hammers a recovering database
/// nor holds a conversion back for long. Networks that ignore the header retry on their
/// own schedule, which works as well: nothing was written.
pub const STORAGE_RETRY_AFTER_SECONDS: u32 = 30;

/// Every result a postback can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    MethodNotAllowed,
    BodyTooLarge,
    UnsupportedMediaType,
    MalformedBody,
    UnknownNetwork,
    IpNotAllowed,
    MissingToken,
    BadToken,
    MissingSignature,
    BadSignature,
    StaleTimestamp,
    Replayed,
    RateLimited,
    MissingClickId,
    UnreplacedMacro,
    InvalidClickId,
    ClickExpired,
    InvalidPayout,
    PayoutOutOfRange,
    InvalidCurrency,
    UnknownStatus,
    UnknownEvent,
    Accepted,
    Updated,
    Duplicate,
    InvalidTransition,
    /// The dedup key names a conversion of another click (design §11): nothing changes.
    ClickMismatch,
    /// A Standard Webhooks request carried fields outside its signed body (design §11).
    UnsignedParameter,
    InternalError,
}

impl Outcome {
    pub const ALL: [Outcome; 29] = [
        Outcome::MethodNotAllowed,
        Outcome::BodyTooLarge,
        Outcome::UnsupportedMediaType,
        Outcome::MalformedBody,
        Outcome::UnknownNetwork,
        Outcome::IpNotAllowed,
        Outcome::MissingToken,
        Outcome::BadToken,
        Outcome::MissingSignature,
        Outcome::BadSignature,
        Outcome::StaleTimestamp,
        Outcome::Replayed,
        Outcome::RateLimited,
        Outcome::MissingClickId,
        Outcome::UnreplacedMacro,
        Outcome::InvalidClickId,
        Outcome::ClickExpired,
        Outcome::InvalidPayout,
        Outcome::PayoutOutOfRange,
        Outcome::InvalidCurrency,
        Outcome::UnknownStatus,
        Outcome::UnknownEvent,
        Outcome::Accepted,
        Outcome::Updated,
        Outcome::Duplicate,
        Outcome::InvalidTransition,
        Outcome::ClickMismatch,
        Outcome::UnsignedParameter,
        Outcome::InternalError,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::BodyTooLarge => "body_too_large",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::MalformedBody => "malformed_body",
            Outcome::UnknownNetwork => "unknown_network",
            Outcome::IpNotAllowed => "ip_not_allowed",
            Outcome::MissingToken => "missing_token",
            Outcome::BadToken => "bad_token",
            Outcome::MissingSignature => "missing_signature",
            Outcome::BadSignature => "bad_signature",
            Outcome::StaleTimestamp => "stale_timestamp",
            Outcome::Replayed => "replayed",
            Outcome::RateLimited => "rate_limited",
            Outcome::MissingClickId => "missing_click_id",
            Outcome::UnreplacedMacro => "unreplaced_macro",
            Outcome::InvalidClickId => "invalid_click_id",
            Outcome::ClickExpired => "click_expired",
            Outcome::InvalidPayout => "invalid_payout",
            Outcome::PayoutOutOfRange => "payout_out_of_range",
            Outcome::InvalidCurrency => "invalid_currency",
            Outcome::UnknownStatus => "unknown_status",
            Outcome::UnknownEvent => "unknown_event",
            Outcome::Accepted => "accepted",
            Outcome::Updated => "updated",
            Outcome::Duplicate => "duplicate",
            Outcome::InvalidTransition => "invalid_transition",
            Outcome::ClickMismatch => "click_mismatch",
            Outcome::UnsignedParameter => "unsigned_parameter",
            Outcome::InternalError => "internal_error",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.code() == code)
    }

    /// The HTTP status of design §6's table.
    pub fn http_status(self) -> u16 {
        match self {
            Outcome::MethodNotAllowed => 405,
            Outcome::BodyTooLarge => 413,
            Outcome::UnsupportedMediaType => 415,
            Outcome::MalformedBody => 400,
            Outcome::UnknownNetwork => 404,
            Outcome::IpNotAllowed => 403,
            Outcome::MissingToken => 401,
            Outcome::BadToken => 403,
            Outcome::MissingSignature => 401,
            Outcome::BadSignature => 403,
            Outcome::StaleTimestamp => 403,
            Outcome::Replayed => 409,
            Outcome::RateLimited => 429,
            Outcome::ClickExpired => 410,
            Outcome::PayoutOutOfRange => 422,
            Outcome::MissingClickId
            | Outcome::UnreplacedMacro
            | Outcome::InvalidClickId
            | Outcome::InvalidPayout
            | Outcome::InvalidCurrency
            | Outcome::UnknownStatus
            | Outcome::UnknownEvent => 400,
            Outcome::Accepted | Outcome::Updated | Outcome::Duplicate => 200,
            Outcome::InvalidTransition | Outcome::ClickMismatch => 409,
            Outcome::UnsignedParameter => 400,
            Outcome::InternalError => 503,
        }
    }

    /// How long a sender should wait before retrying (the `Retry-After` header, seconds),
    /// for the outcomes a retry can turn into a recorded one: only a storage failure
    /// (503), where nothing was written and the same postback will be accepted once D1
    /// takes writes again. Every other refusal is final for that request, so telling the
    /// sender to retry it would only repeat the refusal.
    pub fn retry_after_seconds(self) -> Option<u32> {
        match self {
            Outcome::InternalError => Some(STORAGE_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// Whether the conversion is recorded (the only outcomes answered 200).
    pub fn is_recorded(self) -> bool {
        matches!(
            self,
            Outcome::Accepted | Outcome::Updated | Outcome::Duplicate
        )
    }
}

/// A reply body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The `Retry-After` header to send, in seconds ([`Outcome::retry_after_seconds`]).
    pub retry_after_seconds: Option<u32>,
    pub content_type: &'static str,
    pub body: String,
}

/// Builds the reply for `outcome` (design §6): JSON by default, `OK …`/`ERROR …` as text.
pub fn reply(
    format: ResponseFormat,
    outcome: Outcome,
    detail: Option<&str>,
    conversion_id: Option<&str>,
    click_id: Option<&str>,
) -> Reply {
    let status = outcome.http_status();
    let retry_after_seconds = outcome.retry_after_seconds();
    match format {
        ResponseFormat::Json => {
            let mut body = serde_json::Map::new();
            body.insert("ok".into(), outcome.is_recorded().into());
            body.insert("outcome".into(), outcome.code().into());
            if let Some(id) = conversion_id {
                body.insert("conversion_id".into(), id.into());
            }
            if let Some(id) = click_id {
                body.insert("click_id".into(), id.into());
            }
            if let Some(detail) = detail {
                body.insert("detail".into(), detail.into());
            }
            Reply {
                status,
                retry_after_seconds,
                content_type: "application/json",
                body: crate::json::text(&serde_json::Value::Object(body)),
            }
        }
        ResponseFormat::Text => {
            let body = match (outcome.is_recorded(), detail) {
                (true, _) => format!("OK {}", outcome.code()),
                (false, Some(detail)) => {
                    format!("ERROR {}: {}", outcome.code(), single_line(detail))
                }
                (false, None) => format!("ERROR {}", outcome.code()),
            };
            Reply {
                status,
                retry_after_seconds,
                content_type: "text/plain; charset=utf-8",
                body,
            }
        }
    }
}

fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_code(outcome.code()), Some(outcome));
        }
        let mut codes: Vec<_> = Outcome::ALL.iter().map(|o| o.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Outcome::ALL.len());
    }

    #[test]
    fn only_recorded_outcomes_answer_200() {
        for outcome in Outcome::ALL {
            assert_eq!(
                outcome.http_status() == 200,
                outcome.is_recorded(),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn only_a_storage_failure_asks_for_a_retry() {
        for outcome in Outcome::ALL {
            let asks = outcome.retry_after_seconds();
            assert_eq!(
                asks.is_some(),
                outcome == Outcome::InternalError,
                "{outcome:?}"
            );
            for format in [ResponseFormat::Json, ResponseFormat::Text] {
                assert_eq!(
                    reply(format, outcome, None, None, None).retry_after_seconds,
                    asks
                );
            }
        }
        assert_eq!(Outcome::InternalError.http_status(), 503);
        assert_eq!(
            Outcome::InternalError.retry_after_seconds(),
            Some(STORAGE_RETRY_AFTER_SECONDS)
        );
    }

    #[test]
    fn replies() {
        let json = reply(
            ResponseFormat::Json,
            Outcome::Accepted,
            None,
            Some("cv"),
            Some("ck"),
        );
        assert_eq!(json.status, 200);
        assert_eq!(
            json.body,
            r#"{"click_id":"ck","conversion_id":"cv","ok":true,"outcome":"accepted"}"#
        );
        let text = reply(
            ResponseFormat::Text,
            Outcome::BadToken,
            Some("wrong\r\ntoken"),
            None,
            None,
        );
        assert_eq!(
            (text.status, text.body.as_str()),
            (403, "ERROR bad_token: wrong  token")
        );
        let ok = reply(
            ResponseFormat::Text,
            Outcome::Duplicate,
            None,
            Some("cv"),
            None,
        );
        assert_eq!(ok.body, "OK duplicate");
    }
}
