//! A postback request as the adapter reads it (method, URL length, query, content type,
//! body) through `parse_request`, then `evaluate` against the fixture networks, with a
//! genuine click ID added when the input asks for one so the checks after the click ID
//! are reached. No input may panic; parsed requests keep design §6's limits.
#![no_main]

use arbitrary::Arbitrary;
use edgeback::postback::params::{parse_request, RawPostback};
use edgeback::postback::{evaluate, MAX_PARAMS, MAX_VALUE_BYTES};
use edgeback_fuzz::{network, secrets, NOW_MS};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum ContentType {
    None,
    Form,
    Json,
    JsonCharset,
    Other(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    url_len: u16,
    query: Option<String>,
    content_type: ContentType,
    body: Vec<u8>,
    /// Above 250, the body is repeated up to 24 times (to reach the 16 KiB limit).
    body_repeat: u8,
    /// 0: no click ID added; 1: unrestricted; 2: restricted to the network; 3: to another.
    click: u8,
    network: u8,
    click_age_ms: u32,
    now_offset_ms: i32,
}

fuzz_target!(|input: Input| {
    let method = match input.method % 4 {
        0 => "GET",
        1 => "POST",
        2 => "PUT",
        _ => "",
    };
    let content_type = match &input.content_type {
        ContentType::None => None,
        ContentType::Form => Some("application/x-www-form-urlencoded"),
        ContentType::Json => Some("application/json"),
        ContentType::JsonCharset => Some("Application/JSON; charset=utf-8"),
        ContentType::Other(text) => Some(text.as_str()),
    };
    let body = input.body.repeat(
        usize::from(input.body_repeat.saturating_sub(249))
            .saturating_mul(4)
            .max(1),
    );
    let request = RawPostback {
        method,
        url_len: usize::from(input.url_len),
        query: input.query.as_deref(),
        content_type,
        body: &body,
    };
    let Ok(parsed) = parse_request(&request) else {
        return;
    };
    assert!(parsed.from_query <= parsed.pairs.len());
    assert!(parsed.pairs.len() <= MAX_PARAMS);
    assert!(parsed.pairs.iter().all(|(_, v)| v.len() <= MAX_VALUE_BYTES));

    let name = ["keitaro", "strict", "signed", "webhooks"][usize::from(input.network % 4)];
    let network = network(name);
    let now = NOW_MS.saturating_add_signed(i64::from(input.now_offset_ms));
    let mut pairs = parsed.pairs;
    let restricted = match input.click % 4 {
        1 => Some(None),
        2 => Some(Some(name)),
        3 => Some(Some("elsewhere")),
        _ => None,
    };
    if let Some(restricted) = restricted {
        let issued = now.saturating_sub(u64::from(input.click_age_ms));
        if let Ok(id) = secrets().mint_for(issued, [7; 7], restricted) {
            let param = network
                .aliases
                .click_id
                .first()
                .cloned()
                .unwrap_or_default();
            pairs.push((param, id));
        }
    }
    let _ = evaluate(network, secrets(), "USD", &pairs, now, "cv".into());
});
