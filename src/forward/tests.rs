use super::*;
use crate::config::Config;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn row(change_type: &str) -> DeliveryRow {
    DeliveryRow {
        delivery_id: "pb1.crm".into(),
        destination: "crm".into(),
        change_type: ChangeType::parse(change_type).unwrap(),
        attempts: 0,
        attempt_base: 0,
        max_attempts: 8,
        conversion_id: "cv1".into(),
        version: if change_type == "conversion.created" {
            1
        } else {
            2
        },
        click_id: "ck1".into(),
        campaign: Some("summer".into()),
        network: "tune".into(),
        event: "sale".into(),
        status: "approved".into(),
        raw_status: Some("1".into()),
        payout_micros: 12_500_000,
        currency: "USD".into(),
        transaction_id: Some("T 1&2".into()),
        clicked_at: 1_795_280_000_000,
        converted_at: 1_795_287_600_000,
        changed_at: 1_795_287_600_000,
        previous_status: Some("pending".into()),
        previous_payout_micros: Some(10_000_000),
        external_id: Some("ext/9".into()),
        country: Some("DE".into()),
        subs: crate::click::SubIds {
            sub1: Some("zone 1".into()),
            sub3: Some("s3".into()),
            ..Default::default()
        },
        rule: Some("mobile".into()),
        lander: None,
        offer: Some("offer-a".into()),
    }
}

fn destinations() -> Vec<Destination> {
    Config::from_json(json!({
        "networks": { "generic": {} },
        "destinations": [
            { "name": "crm", "kind": "webhook", "url": "https://crm.example/hooks", "secret": "CRM" },
            { "name": "ts", "kind": "postback", "url": "https://ads.example/conv?visitor_id={external_id}&payout={payout}&status={status}&tx={transaction_id}&s1={sub1}" },
            { "name": "form", "kind": "postback", "method": "POST", "url": "https://ads.example/conv?cid={clickid}&p={payout}" }
        ]
    }))
    .unwrap()
    .destinations
}

#[test]
fn the_webhook_body_is_the_spec_shape() {
    let body: serde_json::Value =
        serde_json::from_str(&webhook_body(&row("conversion.created"))).unwrap();
    assert_eq!(
        body,
        json!({
            "type": "conversion.created",
            "timestamp": "2026-11-21T19:00:00Z",
            "data": {
                "conversion_id": "cv1", "version": 1, "click_id": "ck1", "campaign": "summer",
                "network": "tune", "event": "sale", "status": "approved", "raw_status": "1",
                "payout": "12.500000", "currency": "USD", "transaction_id": "T 1&2",
                "external_id": "ext/9", "sub": { "sub1": "zone 1", "sub3": "s3" },
                "country": "DE", "rule": "mobile", "lander": null, "offer": "offer-a",
                "clicked_at": "2026-11-21T16:53:20Z", "converted_at": "2026-11-21T19:00:00Z",
                "previous": null
            }
        })
    );
    // Key order as in design §8.
    assert!(webhook_body(&row("conversion.created"))
        .starts_with(r#"{"type":"conversion.created","timestamp":"#));
}

#[test]
fn updates_carry_the_previous_status_and_payout() {
    let body: serde_json::Value =
        serde_json::from_str(&webhook_body(&row("conversion.updated"))).unwrap();
    assert_eq!(body["type"], "conversion.updated");
    assert_eq!(body["data"]["version"], 2);
    assert_eq!(
        body["data"]["previous"],
        json!({ "status": "pending", "payout": "10.000000" })
    );
}

#[test]
fn signing_matches_the_reference_vector() {
    assert_eq!(
        webhook_signature(
            SECRET,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#
        )
        .as_deref(),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    assert_eq!(
        webhook_signature("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a", 1, "b"),
        None,
        "needs the whsec_ prefix"
    );
    assert_eq!(
        webhook_signature("whsec_c2hvcnQ=", "a", 1, "b"),
        None,
        "a key shorter than 24 bytes"
    );
}

#[test]
fn a_webhook_request_is_signed_and_stable_across_attempts() {
    let destinations = destinations();
    let first = plan_request(
        &destinations[0],
        &row("conversion.created"),
        Some(SECRET),
        1_795_287_601_000,
    )
    .unwrap();
    let later = plan_request(
        &destinations[0],
        &row("conversion.created"),
        Some(SECRET),
        1_795_297_601_000,
    )
    .unwrap();
    assert_eq!(
        (first.method, first.url.as_str()),
        ("POST", "https://crm.example/hooks")
    );
    let header = |request: &OutboundRequest, name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header(&first, "webhook-id"), "msg_pb1.crm");
    assert_eq!(header(&first, "webhook-id"), header(&later, "webhook-id"));
    assert_eq!(first.body, later.body, "the same body on every attempt");
    assert_eq!(header(&first, "webhook-timestamp"), "1795287601");
    let expected = webhook_signature(
        SECRET,
        "msg_pb1.crm",
        1_795_287_601,
        first.body.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(header(&first, "webhook-signature"), expected);
    assert!(plan_request(&destinations[0], &row("conversion.created"), None, 0).is_none());
}

#[test]
fn postback_destinations_fill_encoded_macros() {
    let destinations = destinations();
    let get = plan_request(&destinations[1], &row("conversion.created"), None, 0).unwrap();
    assert_eq!(get.method, "GET");
    assert_eq!(get.url, "https://ads.example/conv?visitor_id=ext%2F9&payout=12.5&status=approved&tx=T%201%262&s1=zone%201");
    assert_eq!(get.body, None);
    let post = plan_request(&destinations[2], &row("conversion.created"), None, 0).unwrap();
    assert_eq!(
        (post.method, post.url.as_str()),
        ("POST", "https://ads.example/conv")
    );
    assert_eq!(post.body.as_deref(), Some("cid=ck1&p=12.5"));
}

#[test]
fn plain_decimals() {
    assert_eq!(plain_decimal(12_500_000), "12.5");
    assert_eq!(plain_decimal(3_000_000), "3");
    assert_eq!(plain_decimal(1), "0.000001");
    assert_eq!(plain_decimal(0), "0");
    assert_eq!(plain_decimal(-2_500_000), "-2.5");
}

#[test]
fn candidates_apply_the_filters_known_before_the_record_step() {
    let destinations = Config::from_json(json!({
        "networks": { "generic": {}, "tune": {} },
        "campaigns": { "summer": { "offer_url": "https://o.example/" } },
        "destinations": [
            { "name": "all", "kind": "postback", "url": "https://a.example/" },
            { "name": "approved", "kind": "postback", "url": "https://a.example/", "statuses": ["approved"] },
            { "name": "tune-ftd", "kind": "postback", "url": "https://a.example/", "networks": ["tune"], "events": ["ftd"] },
            { "name": "summer-updates", "kind": "postback", "url": "https://a.example/", "campaigns": ["summer"], "types": ["conversion.updated"] }
        ]
    }))
    .unwrap()
    .destinations;
    let names = |json: String| -> Vec<String> {
        serde_json::from_str::<Vec<serde_json::Value>>(&json)
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    use crate::config::Status::*;
    assert_eq!(
        names(candidates_json(&destinations, "sale", Pending, "generic")),
        ["all", "summer-updates"]
    );
    assert_eq!(
        names(candidates_json(&destinations, "ftd", Approved, "tune")),
        ["all", "approved", "tune-ftd", "summer-updates"]
    );
}
