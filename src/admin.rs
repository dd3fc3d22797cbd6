//! The admin API's route table (SPEC §9). The adapter's router matches requests against
//! this table and dispatches on [`RouteId`] exhaustively, and `/api/openapi.json` is
//! generated from the same table: a route cannot exist undocumented.

/// Every admin route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    OpenApi,
    ListPostbacks,
    ListConversions,
    GetConversion,
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
}

const SINCE: QueryParam = (
    "since",
    "integer",
    "only rows at or after this time (unix ms)",
);

pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::D1Ledger,
        method: "GET",
        path: "/api/diagnostics/d1",
        summary: "Rows D1 reported writing and reading in this isolate, by path and table \
                  (only with [vars.EDGEBACK.diagnostics] d1_query_header = true)",
        query: &[("reset", "boolean", "empty the ledger after reading it")],
        paged: false,
    },
    Route {
        id: RouteId::OpenApi,
        method: "GET",
        path: "/api/openapi.json",
        summary: "This description",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::ListPostbacks,
        method: "GET",
        path: "/api/postbacks",
        summary: "The postback log: every postback, accepted or not, newest first",
        query: &[
            ("outcome", "string", "an outcome code"),
            ("network", "string", "a network name"),
            SINCE,
        ],
        paged: true,
    },
    Route {
        id: RouteId::ListConversions,
        method: "GET",
        path: "/api/conversions",
        summary: "Conversions, newest first",
        query: &[
            (
                "status",
                "string",
                "pending, approved, rejected or reversed",
            ),
            ("campaign", "string", "a campaign id"),
            SINCE,
        ],
        paged: true,
    },
    Route {
        id: RouteId::GetConversion,
        method: "GET",
        path: "/api/conversions/{id}",
        summary: "One conversion with its history and deliveries",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::GetClick,
        method: "GET",
        path: "/api/clicks/{click_id}",
        summary: "One click",
        query: &[],
        paged: false,
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
    },
    Route {
        id: RouteId::ReplayDelivery,
        method: "POST",
        path: "/api/deliveries/{id}/replay",
        summary: "Replay one delivery now (same webhook-id)",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::ReplayDeliveries,
        method: "POST",
        path: "/api/deliveries/replay",
        summary: "Replay every delivery in a state (up to 500 per call)",
        query: &[("state", "string", "default failed"), SINCE],
        paged: false,
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
                "comma-separated: day, campaign, network, event, sub1 … sub10",
            ),
        ],
        paged: false,
    },
    Route {
        id: RouteId::TestPostback,
        method: "POST",
        path: "/api/test-postback",
        summary:
            "The postback tester: a test click and a simulated postback through the whole pipeline",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::ListCampaigns,
        method: "GET",
        path: "/api/campaigns",
        summary: "All campaigns: static (wrangler.toml) and run-time (KV)",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::GetCampaign,
        method: "GET",
        path: "/api/campaigns/{id}",
        summary: "One campaign, and where it comes from",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::PutCampaign,
        method: "PUT",
        path: "/api/campaigns/{id}",
        summary: "Create or replace a run-time campaign (validated; stored in KV)",
        query: &[],
        paged: false,
    },
    Route {
        id: RouteId::DeleteCampaign,
        method: "DELETE",
        path: "/api/campaigns/{id}",
        summary: "Delete a run-time campaign",
        query: &[],
        paged: false,
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
            parameters.push(serde_json::json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }));
            parameters.push(serde_json::json!({ "name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": { "type": "string" } }));
        }
        let operation = serde_json::json!({
            "summary": route.summary,
            "operationId": format!("{:?}", route.id),
            "parameters": parameters,
            "security": [{ "bearer": [] }],
            "responses": {
                "200": { "description": "OK (JSON)" },
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

/// Page size from `limit` (1-500, default 50).
pub fn page_limit(text: Option<&str>) -> Result<u32, &'static str> {
    match text.map(str::parse::<u32>) {
        None => Ok(50),
        Some(Ok(limit)) if (1..=500).contains(&limit) => Ok(limit),
        Some(_) => Err("limit must be 1-500"),
    }
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
        // And the SPEC §9 routes are all in the table.
        for (method, path) in [
            ("GET", "/api/postbacks"),
            ("GET", "/api/conversions"),
            ("GET", "/api/conversions/x"),
            ("GET", "/api/clicks/x"),
            ("GET", "/api/deliveries"),
            ("POST", "/api/deliveries/x/replay"),
            ("POST", "/api/deliveries/replay"),
            ("GET", "/api/report"),
            ("POST", "/api/test-postback"),
            ("GET", "/api/campaigns/x"),
            ("PUT", "/api/campaigns/x"),
            ("DELETE", "/api/campaigns/x"),
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
        assert_eq!(page_limit(None), Ok(50));
        assert_eq!(page_limit(Some("500")), Ok(500));
        assert!(page_limit(Some("0")).is_err());
        assert!(page_limit(Some("501")).is_err());
        assert!(page_limit(Some("x")).is_err());
    }
}
