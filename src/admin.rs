//! The admin API's route table (design §9). The adapter's router matches requests against
//! this table and dispatches on [`RouteId`] exhaustively, and `/api/openapi.json` is
//! generated from the same table: a route cannot exist undocumented.

/// Every admin route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    OpenApi,
    ListPostbacks,
    ListConversions,
    GetConversion,
    ListClicks,
    GetClick,
    ListDeliveries,
    ReplayDelivery,
    ReplayDeliveries,
    Report,
    TestPostback,
    ListCampaigns,
    GetCampaign,
    PutCampaign,
    DeleteCampaign,
    ListCosts,
    PutCost,
    DeleteCost,
    D1Ledger,
}

/// A query parameter of a route: name, JSON-schema type, description.
pub type QueryParam = (&'static str, &'static str, &'static str);

/// One route: method, path pattern (`{name}` segments), summary, query parameters.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub query: &'static [QueryParam],
    /// Whether it pages with `limit` and `cursor`.
    pub paged: bool,
    /// The CSV export (`format=csv`) of its list or report, with these columns (JSON
    /// pointers into the items it answers with; empty for the report, whose columns
    /// depend on its grouping, currencies and outcomes: `csv::report`).
    pub csv: Option<&'static [crate::csv::Column]>,
}

const SINCE: QueryParam = (
    "since",
    "integer",
    "only rows at or after this time (unix ms)",
);

// A route's query parameters with the ten exact sub-ID filters in the middle.
macro_rules! with_subs {
    ([$($before:expr),* $(,)?], [$($after:expr),* $(,)?]) => {
        &[
            $($before,)*
            ("sub1", "string", "exact sub1"), ("sub2", "string", "exact sub2"),
            ("sub3", "string", "exact sub3"), ("sub4", "string", "exact sub4"),
            ("sub5", "string", "exact sub5"), ("sub6", "string", "exact sub6"),
            ("sub7", "string", "exact sub7"), ("sub8", "string", "exact sub8"),
            ("sub9", "string", "exact sub9"), ("sub10", "string", "exact sub10"),
            $($after,)*
        ]
    };
}

/// Largest CSV page: a spreadsheet-sized export per request, bounded so one request's
/// rows read and memory stay small; the next page's cursor is the `x-next-cursor`
/// response header.
pub const MAX_CSV_ROWS: u32 = 10_000;

/// The report's CSV columns are computed from the answer (`csv::report`).
const REPORT_CSV: &[crate::csv::Column] = &[];

const POSTBACK_CSV: &[crate::csv::Column] = &[
    ("postback_id", "/postback_id"),
    ("received_at", "/received_at"),
    ("network", "/network"),
    ("method", "/method"),
    ("outcome", "/outcome"),
    ("detail", "/detail"),
    ("click_id", "/click_id"),
    ("conversion_id", "/conversion_id"),
    ("source_ip", "/source_ip"),
    ("is_test", "/is_test"),
    ("params", "/params"),
];

const CONVERSION_CSV: &[crate::csv::Column] = &[
    ("conversion_id", "/conversion_id"),
    ("created_at", "/created_at"),
    ("updated_at", "/updated_at"),
    ("click_id", "/click_id"),
    ("clicked_at", "/clicked_at"),
    ("campaign", "/campaign"),
    ("network", "/network"),
    ("event", "/event"),
    ("status", "/status"),
    ("raw_status", "/raw_status"),
    ("payout", "/payout"),
    ("currency", "/currency"),
    ("payout_source", "/payout_source"),
    ("transaction_id", "/transaction_id"),
    ("version", "/version"),
    ("external_id", "/external_id"),
    ("country", "/country"),
    ("sub1", "/sub/sub1"),
    ("sub2", "/sub/sub2"),
    ("sub3", "/sub/sub3"),
    ("sub4", "/sub/sub4"),
    ("sub5", "/sub/sub5"),
    ("sub6", "/sub/sub6"),
    ("sub7", "/sub/sub7"),
    ("sub8", "/sub/sub8"),
    ("sub9", "/sub/sub9"),
    ("sub10", "/sub/sub10"),
    ("attributed", "/attributed"),
];

const CLICK_CSV: &[crate::csv::Column] = &[
    ("click_id", "/click_id"),
    ("created_at", "/created_at"),
    ("campaign", "/campaign"),
    ("external_id", "/external_id"),
    ("country", "/country"),
    ("sub1", "/sub1"),
    ("sub2", "/sub2"),
    ("sub3", "/sub3"),
    ("sub4", "/sub4"),
    ("sub5", "/sub5"),
    ("sub6", "/sub6"),
    ("sub7", "/sub7"),
    ("sub8", "/sub8"),
    ("sub9", "/sub9"),
    ("sub10", "/sub10"),
    ("is_bot", "/is_bot"),
    ("bot_reason", "/bot_reason"),
    ("asn", "/asn"),
    ("colo", "/colo"),
    ("user_agent", "/user_agent"),
    ("ip_hash", "/ip_hash"),
];

const DELIVERY_CSV: &[crate::csv::Column] = &[
    ("delivery_id", "/delivery_id"),
    ("created_at", "/created_at"),
    ("updated_at", "/updated_at"),
    ("destination", "/destination"),
    ("conversion_id", "/conversion_id"),
    ("version", "/version"),
    ("type", "/type"),
    ("state", "/state"),
    ("attempts", "/attempts"),
    ("max_attempts", "/max_attempts"),
    ("next_attempt_at", "/next_attempt_at"),
    ("last_status", "/last_status"),
    ("last_error", "/last_error"),
    ("attempt_log", "/attempt_log"),
];

pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::D1Ledger,
        method: "GET",
        path: "/api/diagnostics/d1",
        summary: "Rows D1 reported writing and reading in this isolate, by path and table \
                  (only with [vars.EDGEBACK.diagnostics] d1_query_header = true)",
        query: &[("reset", "boolean", "empty the ledger after reading it")],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::OpenApi,
        method: "GET",
        path: "/api/openapi.json",
        summary: "This description",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ListPostbacks,
        method: "GET",
        path: "/api/postbacks",
        summary: "The postback log: every postback, accepted or not, newest first \
                  (tester runs only with include_test=true)",
        query: &[
            ("outcome", "string", "an outcome code"),
            ("network", "string", "a network name"),
            SINCE,
            (
                "include_test",
                "boolean",
                "also the postback tester's runs (left out by default)",
            ),
        ],
        paged: true,
        csv: Some(POSTBACK_CSV),
    },
    Route {
        id: RouteId::ListConversions,
        method: "GET",
        path: "/api/conversions",
        summary: "Conversions with their attribution (campaign, sub-IDs, external_id, \
                  country), newest first",
        query: with_subs!(
            [
                (
                    "status",
                    "string",
                    "pending, approved, rejected or reversed",
                ),
                ("campaign", "string", "a campaign id"),
                ("network", "string", "a network name"),
                ("event", "string", "an event name"),
            ],
            [SINCE]
        ),
        paged: true,
        csv: Some(CONVERSION_CSV),
    },
    Route {
        id: RouteId::GetConversion,
        method: "GET",
        path: "/api/conversions/{id}",
        summary: "One conversion with its history and deliveries",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ListClicks,
        method: "GET",
        path: "/api/clicks",
        summary: "Clicks, newest first. Clicks have no index but their time-ordered ID: \
                  the list reads the clicks made since `since` (default: the last 24 hours) \
                  newest first and stops at `limit` matches, so filters are cheap over a day \
                  and cost one row read per click over a long range",
        query: with_subs!(
            [
                ("campaign", "string", "a campaign id"),
                (
                    "country",
                    "string",
                    "two-letter country code, as Cloudflare gives it"
                ),
            ],
            [
                (
                    "since",
                    "integer",
                    "only clicks at or after this time (unix ms); default 24 hours ago",
                ),
                (
                    "bot",
                    "boolean",
                    "true: only bot clicks; false: only human ones"
                ),
            ]
        ),
        paged: true,
        csv: Some(CLICK_CSV),
    },
    Route {
        id: RouteId::GetClick,
        method: "GET",
        path: "/api/clicks/{click_id}",
        summary: "One click",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ListDeliveries,
        method: "GET",
        path: "/api/deliveries",
        summary: "Deliveries with their attempts, newest first",
        query: &[
            ("state", "string", "pending, retrying, delivered or failed"),
            SINCE,
        ],
        paged: true,
        csv: Some(DELIVERY_CSV),
    },
    Route {
        id: RouteId::ReplayDelivery,
        method: "POST",
        path: "/api/deliveries/{id}/replay",
        summary: "Replay one delivery now (same webhook-id)",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ReplayDeliveries,
        method: "POST",
        path: "/api/deliveries/replay",
        summary: "Replay every delivery in a state (up to 500 per call)",
        query: &[("state", "string", "default failed"), SINCE],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::Report,
        method: "GET",
        path: "/api/report",
        summary: "Clicks, conversions, revenue and rates by local day and other keys",
        query: &[
            ("from", "string", "first local day, YYYY-MM-DD"),
            (
                "to",
                "string",
                "last local day, YYYY-MM-DD (at most 366 days)",
            ),
            ("tz", "string", "IANA time zone, default the configured one"),
            (
                "group_by",
                "string",
                "comma-separated: day, campaign, network, country, event, sub1 … sub10 \
                 (grouped by day alone, every day of the range is a row)",
            ),
        ],
        paged: false,
        csv: Some(REPORT_CSV),
    },
    Route {
        id: RouteId::TestPostback,
        method: "POST",
        path: "/api/test-postback",
        summary:
            "The postback tester: a test click and a simulated postback through the whole pipeline",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ListCampaigns,
        method: "GET",
        path: "/api/campaigns",
        summary: "All campaigns: static (wrangler.toml) and run-time (KV)",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::GetCampaign,
        method: "GET",
        path: "/api/campaigns/{id}",
        summary: "One campaign, and where it comes from",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::PutCampaign,
        method: "PUT",
        path: "/api/campaigns/{id}",
        summary: "Create or replace a run-time campaign (validated; stored in KV)",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::DeleteCampaign,
        method: "DELETE",
        path: "/api/campaigns/{id}",
        summary: "Delete a run-time campaign",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::ListCosts,
        method: "GET",
        path: "/api/costs",
        summary: "Manual cost entries (docs/costs.md), oldest first",
        query: &[("campaign", "string", "only this campaign's entries")],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::PutCost,
        method: "PUT",
        path: "/api/costs",
        summary: "Enter a campaign's cost for whole local days ({campaign, from, to, tz, amount, \
                  currency}): it replaces the tracked costs of the period; the same period \
                  replaces its entry, an overlapping one is refused (409)",
        query: &[],
        paged: false,
        csv: None,
    },
    Route {
        id: RouteId::DeleteCost,
        method: "DELETE",
        path: "/api/costs",
        summary: "Delete the manual cost entry of exactly this period: the tracked costs are back",
        query: &[
            ("campaign", "string", "the entry's campaign"),
            ("from", "string", "its first local day, YYYY-MM-DD"),
            ("to", "string", "its last local day, YYYY-MM-DD"),
            (
                "tz",
                "string",
                "its IANA time zone, default the configured one",
            ),
        ],
        paged: false,
        csv: None,
    },
];

/// Matches `method` and `path` against the table; returns the route and its path values.
pub fn match_route<'a>(method: &str, path: &'a str) -> Option<(&'static Route, Vec<&'a str>)> {
    let segments: Vec<&str> = path.strip_suffix('/').unwrap_or(path).split('/').collect();
    // Literal routes win over patterns (`/api/deliveries/replay` over `/{id}`).
    let mut best: Option<(&'static Route, Vec<&'a str>, usize)> = None;
    for route in ROUTES.iter().filter(|route| route.method == method) {
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut values = Vec::new();
        let mut literals = 0;
        let matched = pattern.iter().zip(&segments).all(|(want, got)| {
            if want.starts_with('{') {
                values.push(*got);
                !got.is_empty()
            } else {
                literals += 1;
                want == got
            }
        });
        if matched
            && best
                .as_ref()
                .is_none_or(|(_, _, best_literals)| literals > *best_literals)
        {
            best = Some((route, values, literals));
        }
    }
    best.map(|(route, values, _)| (route, values))
}

/// Whether some route has this path under another method (for 405 rather than 404).
pub fn path_exists(path: &str) -> bool {
    ["GET", "POST", "PUT", "DELETE"]
        .iter()
        .any(|method| match_route(method, path).is_some())
}

/// The OpenAPI 3.1 description of every route.
pub fn openapi(version: &str) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let mut parameters: Vec<serde_json::Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| serde_json::json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        parameters.extend(route.query.iter().map(|(name, kind, description)| {
            serde_json::json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": kind } })
        }));
        if route.paged {
            parameters.push(serde_json::json!({ "name": "limit", "in": "query", "description": "page size: 1-500 (default 50) for JSON, 1-10000 (default 10000) for CSV", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_CSV_ROWS, "default": 50 } }));
            parameters.push(serde_json::json!({ "name": "cursor", "in": "query", "description": "next_cursor of the previous page (JSON body, or the x-next-cursor header of a CSV page)", "schema": { "type": "string" } }));
        }
        if route.csv.is_some() {
            parameters.push(serde_json::json!({ "name": "format", "in": "query", "description": "json (default) or csv: a header row and one row per item, the same filters, as an attachment", "schema": { "type": "string", "enum": ["json", "csv"] } }));
        }
        let operation = serde_json::json!({
            "summary": route.summary,
            "operationId": format!("{:?}", route.id),
            "parameters": parameters,
            "security": [{ "bearer": [] }],
            "responses": {
                "200": { "description": if route.csv.is_some() { "OK (JSON, or text/csv with format=csv)" } else { "OK (JSON)" } },
                "400": { "description": "bad_request: a bad or unknown query parameter, named in detail" },
                "401": { "description": "missing or wrong admin token" }
            }
        });
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| serde_json::json!({}));
        if let Some(object) = entry.as_object_mut() {
            object.insert(route.method.to_ascii_lowercase(), operation);
        }
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "edgeback admin API", "version": version },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": paths,
    })
}

/// Page size from `limit`: 1-500 (default 50) for JSON pages, 1-10000 (default 10000)
/// for CSV ones.
pub fn page_limit(text: Option<&str>, format: Format) -> Result<u32, &'static str> {
    let (default, max, error) = match format {
        Format::Json => (50, 500, "limit must be 1-500"),
        Format::Csv => (MAX_CSV_ROWS, MAX_CSV_ROWS, "limit must be 1-10000 for CSV"),
    };
    match text.map(str::parse::<u32>) {
        None => Ok(default),
        Some(Ok(limit)) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(error),
    }
}

/// The answer's format (`format=json|csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// The format a request asks for; `csv` only where the route has an export.
pub fn format(route: &Route, text: Option<&str>) -> Result<Format, String> {
    match text {
        None | Some("") | Some("json") => Ok(Format::Json),
        Some("csv") if route.csv.is_some() => Ok(Format::Csv),
        Some("csv") => Err(format!("{} {} has no CSV export", route.method, route.path)),
        Some(other) => Err(format!("format {other:?} must be json or csv")),
    }
}

/// The query parameters `route` takes: its own, `limit` and `cursor` when it pages, and
/// `format` when it exports CSV.
pub fn known_params(route: &Route) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = route.query.iter().map(|(name, _, _)| *name).collect();
    if route.paged {
        names.extend(["limit", "cursor"]);
    }
    if route.csv.is_some() {
        names.push("format");
    }
    names
}

/// A parameter the route does not take is an error naming it, never ignored: a filter
/// silently dropped would answer with everything (`/api/conversions?sub_1=x`).
pub fn check_params<'a>(
    route: &Route,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let known = known_params(route);
    for name in names {
        if !known.contains(&name) {
            let takes = if known.is_empty() {
                "no query parameters".to_string()
            } else {
                known.join(", ")
            };
            return Err(format!(
                "unknown query parameter {name:?}{}; {} {} takes {takes}",
                crate::suggest::hint(name, known.iter().copied()),
                route.method,
                route.path
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let document = openapi("test");
        for route in ROUTES {
            let operation = &document["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(
                operation.is_object(),
                "{} {} is missing",
                route.method,
                route.path
            );
        }
        // And the design §9 routes are all in the table.
        for (method, path) in [
            ("GET", "/api/postbacks"),
            ("GET", "/api/conversions"),
            ("GET", "/api/conversions/x"),
            ("GET", "/api/clicks"),
            ("GET", "/api/clicks/x"),
            ("GET", "/api/deliveries"),
            ("POST", "/api/deliveries/x/replay"),
            ("POST", "/api/deliveries/replay"),
            ("GET", "/api/report"),
            ("POST", "/api/test-postback"),
            ("GET", "/api/campaigns/x"),
            ("PUT", "/api/campaigns/x"),
            ("DELETE", "/api/campaigns/x"),
            ("GET", "/api/costs"),
            ("PUT", "/api/costs"),
            ("DELETE", "/api/costs"),
            ("GET", "/api/openapi.json"),
        ] {
            assert!(match_route(method, path).is_some(), "{method} {path}");
        }
    }

    #[test]
    fn matching_prefers_literals_and_extracts_values() {
        let (route, values) = match_route("POST", "/api/deliveries/replay").unwrap();
        assert_eq!(route.id, RouteId::ReplayDeliveries);
        assert!(values.is_empty());
        let (route, values) = match_route("POST", "/api/deliveries/abc.def/replay").unwrap();
        assert_eq!(
            (route.id, values),
            (RouteId::ReplayDelivery, vec!["abc.def"])
        );
        assert_eq!(
            match_route("GET", "/api/conversions/").map(|(r, _)| r.id),
            Some(RouteId::ListConversions)
        );
        assert!(match_route("GET", "/api/conversions//").is_none());
        assert!(match_route("PATCH", "/api/conversions").is_none());
        assert!(path_exists("/api/campaigns/x"));
        assert!(!path_exists("/api/nothing"));
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None, Format::Json), Ok(50));
        assert_eq!(page_limit(Some("500"), Format::Json), Ok(500));
        assert!(page_limit(Some("0"), Format::Json).is_err());
        assert!(page_limit(Some("501"), Format::Json).is_err());
        assert!(page_limit(Some("x"), Format::Json).is_err());
        assert_eq!(page_limit(None, Format::Csv), Ok(10_000));
        assert_eq!(page_limit(Some("501"), Format::Csv), Ok(501));
        assert!(page_limit(Some("10001"), Format::Csv).is_err());
    }

    fn route(id: RouteId) -> &'static Route {
        ROUTES.iter().find(|route| route.id == id).unwrap()
    }

    #[test]
    fn unknown_query_parameters_are_named() {
        let conversions = route(RouteId::ListConversions);
        assert_eq!(
            check_params(
                conversions,
                ["status", "sub1", "sub10", "limit", "cursor", "format", "since"]
            ),
            Ok(())
        );
        let error = check_params(conversions, ["status", "sub_1"]).unwrap_err();
        assert!(
            error.starts_with("unknown query parameter \"sub_1\" (did you mean \"sub1\"?)"),
            "{error}"
        );
        assert!(
            error.contains("GET /api/conversions takes status, campaign"),
            "{error}"
        );
        let error = check_params(route(RouteId::OpenApi), ["limit"]).unwrap_err();
        assert!(error.contains("takes no query parameters"), "{error}");
        // Paging and CSV only where the route has them.
        assert!(check_params(route(RouteId::Report), ["cursor"]).is_err());
        assert!(check_params(route(RouteId::Report), ["format", "tz"]).is_ok());
        assert!(check_params(route(RouteId::GetConversion), ["format"]).is_err());
        assert!(check_params(route(RouteId::ListClicks), ["bot", "country", "sub3"]).is_ok());
        assert!(check_params(route(RouteId::ListPostbacks), ["include_test"]).is_ok());
    }

    #[test]
    fn the_dashboards_outcome_dropdown_lists_every_outcome() {
        let script = include_str!("../assets/admin/app.js");
        let start = script.find("const OUTCOMES = [").unwrap();
        let end = start + script[start..].find("];").unwrap();
        let listed: Vec<&str> = script[start..end].split('"').skip(1).step_by(2).collect();
        let mut expected: Vec<&str> = crate::postback::Outcome::ALL
            .iter()
            .map(|outcome| outcome.code())
            .collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn formats() {
        let report = route(RouteId::Report);
        assert_eq!(format(report, None), Ok(Format::Json));
        assert_eq!(format(report, Some("json")), Ok(Format::Json));
        assert_eq!(format(report, Some("csv")), Ok(Format::Csv));
        assert!(format(report, Some("xlsx")).is_err());
        assert!(format(route(RouteId::ListCampaigns), Some("csv")).is_err());
        // Every list that pages exports CSV.
        for route in ROUTES.iter().filter(|route| route.paged) {
            assert!(
                route.csv.is_some_and(|columns| !columns.is_empty()),
                "{}",
                route.path
            );
        }
    }
}
