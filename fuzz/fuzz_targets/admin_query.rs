//! The admin API's request parsers: route matching (`admin::match_route`,
//! `path_exists`), page limits (`admin::page_limit`) and the report query
//! (`report::parse_query`, then `day_windows`), with the query string decoded as the
//! adapter decodes it. Invariants: a matched route has the method asked for and one
//! value per `{…}` segment; a page limit is 1-500; a parsed report runs from `from` to
//! `to`, one window per local day, each window starting where the last ended.
#![no_main]

use arbitrary::Arbitrary;
use edgeback::admin::{match_route, page_limit, path_exists, Format};
use edgeback::report::{day_windows, parse_query};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    path: String,
    query: String,
    default_tz: u8,
    now_ms: i64,
}

fuzz_target!(|input: Input| {
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "get"][usize::from(input.method % 6)];
    if let Some((route, values)) = match_route(method, &input.path) {
        assert_eq!(route.method, method);
        assert_eq!(values.len(), route.path.matches('{').count());
        assert!(path_exists(&input.path));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(input.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let limit = pairs
        .iter()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.as_str());
    if let Ok(limit) = page_limit(limit, Format::Json) {
        assert!((1..=500).contains(&limit));
    }
    if let Ok(limit) = page_limit(limit, Format::Csv) {
        assert!((1..=10_000).contains(&limit));
    }
    let default_tz = [
        "UTC",
        "Europe/Berlin",
        "America/St_Johns",
        "Pacific/Kiritimati",
        "Nope/Zone",
    ][usize::from(input.default_tz % 5)];
    if let Ok(query) = parse_query(&pairs, default_tz, input.now_ms) {
        assert!(query.from <= query.to);
        assert!(!query.group_by.is_empty());
        let windows = day_windows(&query);
        let days = query.to.days_after(query.from) + 1;
        assert!(windows.len() as i64 <= days);
        if query.from.ymd().0 > 0 && query.to.ymd().0 < 10_000 {
            // Only a day its zone skipped has no window (Samoa's 2011-12-30), and a
            // report spans at most one such change.
            assert!(windows.len() as i64 >= days - 1, "{query:?} {windows:?}");
        }
        for pair in windows.windows(2) {
            assert_eq!(pair[0].2, pair[1].1);
        }
        for (_, start, end) in &windows {
            assert!(start < end);
        }
    }
});
