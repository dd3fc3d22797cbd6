use super::*;
use base64::Engine;

const NOW: u64 = 1_790_000_000_000;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secrets(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("t0ken-value-123".into()),
        "HMAC" => Some("hmac-secret-456".into()),
        "SW" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        _ => None,
    }
}

fn no_headers(_: &str) -> Option<String> {
    None
}

fn run(
    checks: &AuthChecks,
    ip: Option<&str>,
    params: &[(String, String)],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<AuthPass, Outcome> {
    let request = AuthRequest {
        client_ip: ip.map(|ip| ip.parse().unwrap()),
        params,
        header,
        body,
        now_ms: NOW,
    };
    authenticate(checks, &secrets, &request).map_err(|refusal| refusal.outcome)
}

#[test]
fn standard_webhooks_reference_vector() {
    assert!(verify_standard_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ));
    // Several signatures (rotation): any match passes; none matching fails.
    assert!(verify_standard_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
        "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ));
    for (id, ts, body) in [
        (
            "msg_p5jXN8AQM9LWM0D4loKWxJeK",
            "1614265330",
            &br#"{"test": 2432232314}"#[..],
        ),
        (
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265331",
            br#"{"test": 2432232314}"#,
        ),
        (
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test":2432232314}"#,
        ),
    ] {
        assert!(!verify_standard_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            id,
            ts,
            body,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ));
    }
    assert!(!verify_standard_webhook(
        "whsec_!!notbase64",
        "a",
        "1",
        b"",
        "v1,AAAA"
    ));
}

#[test]
fn ip_rules_parse_and_match() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "203.0.113.0/24",
            &["203.0.113.0", "203.0.113.255", "::ffff:203.0.113.9"],
            &["203.0.114.1", "2001:db8::1"],
        ),
        (
            "198.51.100.7",
            &["198.51.100.7", "::ffff:198.51.100.7"],
            &["198.51.100.8"],
        ),
        (
            "203.0.113.10-20",
            &["203.0.113.10", "203.0.113.15", "203.0.113.20"],
            &["203.0.113.9", "203.0.113.21", "203.0.112.15"],
        ),
        (
            "2001:db8::/32",
            &["2001:db8::1", "2001:db8:ffff::1"],
            &["2001:db9::1", "203.0.113.1"],
        ),
        ("::1", &["::1"], &["::2", "127.0.0.1"]),
        ("10.0.0.0/9", &["10.127.255.255"], &["10.128.0.0"]),
        ("0.0.0.0/0", &["1.2.3.4", "::ffff:1.2.3.4"], &["::1"]),
        ("::ffff:192.0.2.0/120", &["192.0.2.77"], &["192.0.3.1"]),
    ];
    for (rule, inside, outside) in cases {
        let parsed = parse_ip_rule(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        for ip in *inside {
            assert!(
                parsed.matches(ip.parse().unwrap()),
                "{rule} should match {ip}"
            );
        }
        for ip in *outside {
            assert!(
                !parsed.matches(ip.parse().unwrap()),
                "{rule} should not match {ip}"
            );
        }
    }
    for bad in [
        "",
        "300.1.1.1",
        "1.2.3.4/33",
        "2001:db8::/129",
        "1.2.3.9-4",
        "1.2.3.4-300",
        "host.example",
        "1.2.3.4/x",
    ] {
        assert!(parse_ip_rule(bad).is_err(), "{bad}");
    }
}

#[test]
fn checks_run_in_order_and_all_must_pass() {
    let checks = AuthChecks {
        ip_allowlist: Some(vec![parse_ip_rule("203.0.113.0/24").unwrap()]),
        token: Some(TokenCheck {
            secret: "TOKEN".into(),
            param: Some("security_token".into()),
            header: Some("X-Postback-Token".into()),
        }),
        hmac: None,
        standard_webhooks: None,
    };
    let good = pairs(&[("security_token", "t0ken-value-123")]);
    assert!(run(&checks, Some("203.0.113.5"), &good, &no_headers, b"").is_ok());
    // The allowlist is checked before the token.
    assert_eq!(
        run(&checks, Some("198.51.100.1"), &good, &no_headers, b"").unwrap_err(),
        Outcome::IpNotAllowed
    );
    assert_eq!(
        run(&checks, None, &good, &no_headers, b"").unwrap_err(),
        Outcome::IpNotAllowed
    );
    assert_eq!(
        run(&checks, Some("203.0.113.5"), &[], &no_headers, b"").unwrap_err(),
        Outcome::MissingToken
    );
    let wrong = pairs(&[("security_token", "t0ken-value-124")]);
    assert_eq!(
        run(&checks, Some("203.0.113.5"), &wrong, &no_headers, b"").unwrap_err(),
        Outcome::BadToken
    );
    // The header works too, and wins over the parameter.
    let header = |name: &str| (name == "x-postback-token").then(|| "t0ken-value-123".to_string());
    assert!(run(&checks, Some("203.0.113.5"), &wrong, &header, b"").is_ok());
    assert!(checks.secret_params().contains(&"security_token"));
}

#[test]
fn hmac_signatures_with_timestamps() {
    let checks = AuthChecks {
        hmac: Some(HmacCheck {
            secret: "HMAC".into(),
            param: "sig".into(),
            timestamp_param: "ts".into(),
            tolerance_seconds: 300,
        }),
        ..Default::default()
    };
    let signed = |ts: u64, extra: &[(&str, &str)]| {
        let mut params = pairs(&[
            ("clickid", "abc"),
            ("payout", "1.5"),
            ("ts", &ts.to_string()),
        ]);
        params.extend(pairs(extra));
        let sig = sign_params("hmac-secret-456", &params, "sig");
        params.push(("sig".into(), sig));
        params
    };
    let now = NOW / 1000;
    let pass = run(&checks, None, &signed(now, &[]), &no_headers, b"").unwrap();
    assert!(pass.replay_key.is_some());
    assert_eq!(pass.replay_expires_at_ms, NOW + 600_000);
    // Upper-case hex is accepted too.
    let mut upper = signed(now, &[]);
    if let Some(last) = upper.last_mut() {
        last.1 = last.1.to_ascii_uppercase();
    }
    assert!(run(&checks, None, &upper, &no_headers, b"").is_ok());
    // Order of parameters does not matter; their values do.
    let mut shuffled = signed(now, &[]);
    shuffled.swap(0, 2);
    assert!(run(&checks, None, &shuffled, &no_headers, b"").is_ok());
    let mut tampered = signed(now, &[]);
    tampered[1].1 = "150".into();
    assert_eq!(
        run(&checks, None, &tampered, &no_headers, b"").unwrap_err(),
        Outcome::BadSignature
    );
    let mut added = signed(now, &[]);
    added.push(("status".into(), "approved".into()));
    assert_eq!(
        run(&checks, None, &added, &no_headers, b"").unwrap_err(),
        Outcome::BadSignature
    );
    // Timestamps: at the tolerance edge both ways, then past it.
    assert!(run(&checks, None, &signed(now - 300, &[]), &no_headers, b"").is_ok());
    assert!(run(&checks, None, &signed(now + 300, &[]), &no_headers, b"").is_ok());
    assert_eq!(
        run(&checks, None, &signed(now - 301, &[]), &no_headers, b"").unwrap_err(),
        Outcome::StaleTimestamp
    );
    assert_eq!(
        run(&checks, None, &signed(now + 301, &[]), &no_headers, b"").unwrap_err(),
        Outcome::StaleTimestamp
    );
    // No signature, and a signature over a missing timestamp.
    assert_eq!(
        run(
            &checks,
            None,
            &pairs(&[("clickid", "abc")]),
            &no_headers,
            b""
        )
        .unwrap_err(),
        Outcome::MissingSignature
    );
    let mut no_ts = pairs(&[("clickid", "abc")]);
    let sig = sign_params("hmac-secret-456", &no_ts, "sig");
    no_ts.push(("sig".into(), sig));
    assert_eq!(
        run(&checks, None, &no_ts, &no_headers, b"").unwrap_err(),
        Outcome::StaleTimestamp
    );
    // Two different requests never share a replay key; the same one always does.
    let a = run(&checks, None, &signed(now, &[]), &no_headers, b"")
        .unwrap()
        .replay_key;
    let b = run(
        &checks,
        None,
        &signed(now, &[("txid", "2")]),
        &no_headers,
        b"",
    )
    .unwrap()
    .replay_key;
    assert_ne!(a, b);
    assert_eq!(
        a,
        run(&checks, None, &signed(now, &[]), &no_headers, b"")
            .unwrap()
            .replay_key
    );
}

#[test]
fn the_canonical_string_is_encoded_sorted_and_excludes_the_signature() {
    let params = pairs(&[
        ("ts", "1"),
        ("b", "2"),
        ("sig", "x"),
        ("a", "z y"),
        ("a", "a&b"),
    ]);
    assert_eq!(canonical_string(&params, "sig"), "a=a%26b&a=z%20y&b=2&ts=1");
}

/// The test vector published in docs/signing.md: senders check their code against it.
/// Computed independently (Python's `urllib.parse.quote(s, safe="")` and `hmac`).
#[test]
fn the_published_test_vector() {
    let params = pairs(&[
        ("clickid", "11zem0cx3ks4afn00dgnar996m3ghs7m"),
        ("payout", "12,50"),
        ("txid", "A-1/ü"),
        ("note", "a b&c=d+e~"),
        ("tag", "b"),
        ("tag", "a"),
        ("a.b", "1"),
        ("a b", "2"),
        ("ts", "1795290000"),
        ("sig", "ignored"),
    ]);
    assert_eq!(
        canonical_string(&params, "sig"),
        "a%20b=2&a.b=1&clickid=11zem0cx3ks4afn00dgnar996m3ghs7m&note=a%20b%26c%3Dd%2Be~\
         &payout=12%2C50&tag=a&tag=b&ts=1795290000&txid=A-1%2F%C3%BC"
    );
    assert_eq!(
        sign_params("edgeback-test-vector-secret", &params, "sig"),
        "b30c9d0cd520c6892ff7d3e88e45e6bacef219dbced3508072817a96c53c4226"
    );
    let docs = include_str!("../../../docs/signing.md");
    assert!(
        docs.contains("b30c9d0cd520c6892ff7d3e88e45e6bacef219dbced3508072817a96c53c4226"),
        "docs/signing.md publishes the vector"
    );
}

fn hmac_checks() -> AuthChecks {
    AuthChecks {
        hmac: Some(HmacCheck {
            secret: "HMAC".into(),
            param: "sig".into(),
            timestamp_param: "ts".into(),
            tolerance_seconds: 300,
        }),
        ..Default::default()
    }
}

/// Issue 11 item 3: a request signed as `payout=5`, `status=fraud_suspect` re-sent as one
/// parameter named `payout=5&status` (same bytes when joined unencoded) does not verify.
#[test]
fn a_signature_cannot_be_moved_to_a_re_split_parameter_list() {
    let ts = (NOW / 1000).to_string();
    let signed = pairs(&[
        ("clickid", "abc"),
        ("payout", "5"),
        ("status", "fraud_suspect"),
        ("ts", &ts),
    ]);
    let sig = sign_params("hmac-secret-456", &signed, "sig");
    let mut honest = signed.clone();
    honest.push(("sig".into(), sig.clone()));
    assert!(run(&hmac_checks(), None, &honest, &no_headers, b"").is_ok());
    let resplit = pairs(&[
        ("clickid", "abc"),
        ("payout=5&status", "fraud_suspect"),
        ("ts", &ts),
        ("sig", &sig),
    ]);
    assert_eq!(
        run(&hmac_checks(), None, &resplit, &no_headers, b"").unwrap_err(),
        Outcome::BadSignature
    );
    // The same with the separator moved into a value.
    let in_value = pairs(&[
        ("clickid", "abc"),
        ("payout", "5&status=fraud_suspect"),
        ("ts", &ts),
        ("sig", &sig),
    ]);
    assert_eq!(
        run(&hmac_checks(), None, &in_value, &no_headers, b"").unwrap_err(),
        Outcome::BadSignature
    );
}

/// `payout=1&payout=500` and its reordering are the same multiset, so they share a
/// canonical string by design; what stops the reordering attack is the refusal of
/// repeated known fields (`malformed_body`, `postback::repeated_field`). A list that
/// merely looks the same once joined does not share it.
#[test]
fn repeated_names_are_a_multiset() {
    let one_then_500 = pairs(&[("payout", "1"), ("payout", "500")]);
    let five_hundred_then_1 = pairs(&[("payout", "500"), ("payout", "1")]);
    assert_eq!(
        canonical_string(&one_then_500, "sig"),
        canonical_string(&five_hundred_then_1, "sig")
    );
    let merged = pairs(&[("payout", "1&payout=500")]);
    assert_ne!(
        canonical_string(&one_then_500, "sig"),
        canonical_string(&merged, "sig")
    );
}

#[cfg(not(target_arch = "wasm32"))]
/// Splits a canonical string back into its pairs, percent-decoded.
fn decode_canonical(text: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap()
    };
    if text.is_empty() {
        return Vec::new();
    }
    text.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (decode(name), decode(value))
        })
        .collect()
}

// Property tests run natively (proptest is a native dev-dependency).
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Names and values from a small alphabet heavy in separators, so that lists which
    /// join to the same unencoded text are common.
    fn list() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(("[a=&% é+]{0,3}", "[a=&% é+]{0,3}"), 0..4)
    }

    /// The pairs a receiver would read from `list` joined as `name=value&…` unencoded.
    fn split_again(list: &[(String, String)]) -> Vec<(String, String)> {
        let mut sorted = list.to_vec();
        sorted.sort();
        let joined = sorted
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        if joined.is_empty() {
            return Vec::new();
        }
        joined
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => (pair.to_string(), String::new()),
            })
            .collect()
    }

    fn multiset(list: &[(String, String)]) -> Vec<(String, String)> {
        let mut sorted: Vec<_> = list.iter().filter(|(n, _)| n != "sig").cloned().collect();
        sorted.sort();
        sorted
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// design §11: no two different parameter lists share a canonical string. Half
        /// the time `b` is `a` joined unencoded and split again where its `&` and `=`
        /// fall (the re-split attack of issue 11), else an unrelated list.
        #[test]
        fn different_lists_never_share_a_canonical_string(
            a in list(),
            other in list(),
            resplit in any::<bool>(),
        ) {
            let b = if resplit { split_again(&a) } else { other };
            if multiset(&a) != multiset(&b) {
                prop_assert_ne!(canonical_string(&a, "sig"), canonical_string(&b, "sig"));
            } else {
                prop_assert_eq!(canonical_string(&a, "sig"), canonical_string(&b, "sig"));
            }
        }

        /// The canonical string decodes back to exactly the signed pairs (which is why
        /// it is injective).
        #[test]
        fn the_canonical_string_decodes_to_the_multiset(a in list()) {
            let mut decoded = decode_canonical(&canonical_string(&a, "sig"));
            decoded.sort();
            prop_assert_eq!(decoded, multiset(&a));
        }
    }
}

#[test]
fn standard_webhooks_inbound() {
    let checks = AuthChecks {
        standard_webhooks: Some(StandardWebhooksCheck {
            secret: "SW".into(),
            tolerance_seconds: 300,
        }),
        ..Default::default()
    };
    let body = br#"{"clickid":"abc","payout":"2"}"#;
    let ts = (NOW / 1000).to_string();
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(&key, &[b"msg_1.", ts.as_bytes(), b".", body]));
    let headers = |id: &'static str, ts: String, sig: String| {
        move |name: &str| match name {
            "webhook-id" => Some(id.to_string()),
            "webhook-timestamp" => Some(ts.clone()),
            "webhook-signature" => Some(sig.clone()),
            _ => None,
        }
    };
    let good = headers("msg_1", ts.clone(), format!("v1,{sig}"));
    assert!(run(&checks, None, &[], &good, body)
        .unwrap()
        .replay_key
        .is_some());
    let other_id = headers("msg_2", ts.clone(), format!("v1,{sig}"));
    assert_eq!(
        run(&checks, None, &[], &other_id, body).unwrap_err(),
        Outcome::BadSignature
    );
    assert_eq!(
        run(
            &checks,
            None,
            &[],
            &good,
            br#"{"clickid":"abd","payout":"2"}"#
        )
        .unwrap_err(),
        Outcome::BadSignature
    );
    assert_eq!(
        run(&checks, None, &[], &no_headers, body).unwrap_err(),
        Outcome::MissingSignature
    );
    let old_ts = (NOW / 1000 - 301).to_string();
    let old_sig = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        &key,
        &[b"msg_1.", old_ts.as_bytes(), b".", body],
    ));
    let stale = headers("msg_1", old_ts, format!("v1,{old_sig}"));
    assert_eq!(
        run(&checks, None, &[], &stale, body).unwrap_err(),
        Outcome::StaleTimestamp
    );
}

#[test]
fn a_missing_secret_value_never_authenticates() {
    let checks = AuthChecks {
        token: Some(TokenCheck {
            secret: "UNSET".into(),
            param: Some("t".into()),
            header: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        run(&checks, None, &pairs(&[("t", "")]), &no_headers, b"").unwrap_err(),
        Outcome::MissingToken
    );
    assert_eq!(
        run(&checks, None, &pairs(&[("t", "x")]), &no_headers, b"").unwrap_err(),
        Outcome::BadToken
    );
}
