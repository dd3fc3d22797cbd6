//! The URL template renderer (`template`) with hostile templates and values: offer URLs
//! (click macros) and destination postback URLs (click and conversion macros).
//! Invariants: a parsed template prints back as written; each value lands
//! percent-encoded to RFC 3986's unreserved characters and decodes back to itself; and
//! when no macro is in the scheme, host or port (`macro_in_origin`, what the
//! configuration requires of destinations), no value can change the URL's origin.
#![no_main]

use arbitrary::Arbitrary;
use edgeback::config::{CONVERSION_MACROS, OFFER_MACROS};
use edgeback::template::{percent_encode, UrlTemplate};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    template: String,
    values: Vec<Option<String>>,
    offer: bool,
}

/// Scheme, host, port, user name and password: what decides where a request goes.
type Origin = (String, Option<String>, Option<u16>, String, Option<String>);

fn origin(text: &str) -> Option<Origin> {
    let url = url::Url::parse(text).ok()?;
    Some((
        url.scheme().to_string(),
        url.host_str().map(str::to_string),
        url.port_or_known_default(),
        url.username().to_string(),
        url.password().map(str::to_string),
    ))
}

fuzz_target!(|input: Input| {
    for value in input.values.iter().flatten() {
        let encoded = percent_encode(value);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        assert_eq!(edgeback_fuzz::percent_decode(&encoded), value.as_bytes());
    }

    let parsed = if input.offer {
        UrlTemplate::parse(&input.template, OFFER_MACROS)
    } else {
        UrlTemplate::parse_in(&input.template, &[OFFER_MACROS, CONVERSION_MACROS])
    };
    let Ok(template) = parsed else {
        return;
    };
    assert_eq!(template.as_text(), input.template);

    // Each macro gets the next value of the input, in order of appearance.
    let names: Vec<&str> = template.macros().collect();
    let value_of = |name: &str| -> Option<&str> {
        let index = names.iter().position(|n| *n == name)?;
        input.values.get(index)?.as_deref()
    };
    let rendered = template.render(value_of);
    let plain = template.render(|_| Some("x"));
    if template.macro_in_origin().is_none() {
        if let (Some(want), Some(got)) = (origin(&plain), origin(&rendered)) {
            assert_eq!(want, got, "{rendered:?} left the origin of {plain:?}");
        }
    }
});
