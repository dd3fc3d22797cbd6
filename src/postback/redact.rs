//! Redaction of the postback log (design §6, §11; issue 11 item 7): parameters whose names
//! look like personal data or credentials are stored as `[redacted]`, never their value.
//!
//! A name is split into words at `_`, `-`, `.`, any other non-alphanumeric character, a
//! lower-to-upper case change (`userEmail`), the end of an acronym (`APIKey`) and a
//! letter/digit change (`phone2`); a word on [`SENSITIVE_WORDS`] redacts it. Whole words,
//! not substrings, so `network`, `campaign`, `subid` or `keyword` stay readable. Names
//! glued without separators (`useremail`, `firstname`) are caught by
//! [`SENSITIVE_FRAGMENTS`], chosen so that no tracking field contains one. `name` alone
//! is too common in tracking fields (`offer_name`, `campaign_name`, `goal_name`), so it
//! redacts only on its own or after a word that makes it a person's (`first_name`).
//!
//! Redacting too much costs a readable log entry; too little stores someone's e-mail or
//! a credential, so the lists lean to the first.

use super::MAX_PARAMS;

/// The marker stored instead of a redacted value.
pub const REDACTED: &str = "[redacted]";

/// Words that mark a parameter as personal data or a credential.
pub const SENSITIVE_WORDS: &[&str] = &[
    // contact details
    "email",
    "mail",
    "phone",
    "tel",
    "telephone",
    "mobile",
    "msisdn",
    "fax",
    // postal address and location of a person
    "address",
    "addr",
    "street",
    "zip",
    "zipcode",
    "postcode",
    "postal",
    "ip",
    // identity
    "dob",
    "birth",
    "birthday",
    "birthdate",
    "ssn",
    "passport",
    "surname",
    "firstname",
    "lastname",
    "fullname",
    "username",
    "login",
    // payment
    "card",
    "cc",
    "cvv",
    "cvc",
    "iban",
    "creditcard",
    "cardnumber",
    // credentials and signatures
    "password",
    "pass",
    "passwd",
    "passcode",
    "pwd",
    "secret",
    "key",
    "apikey",
    "token",
    "auth",
    "authorization",
    "bearer",
    "credential",
    "credentials",
    "session",
    "sessionid",
    "sig",
    "signature",
    "secure",
];

/// Substrings that redact a name however it is written (`useremail`, `customerphone`):
/// none of them occurs in a tracking field's name.
pub const SENSITIVE_FRAGMENTS: &[&str] = &[
    "email",
    "phone",
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "username",
    "birth",
    "creditcard",
    "cardnumber",
];

/// Words before `name` that make it a person's name (`first_name`, `customerName`).
const PERSON_WORDS: &[&str] = &[
    "first", "last", "full", "middle", "given", "family", "sur", "user", "customer", "client",
    "contact", "buyer", "holder", "card", "nick", "display", "real", "legal", "maiden", "account",
    "billing", "shipping",
];

/// Splits a parameter name into lower-case words (see the module documentation).
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let previous = index.checked_sub(1).and_then(|i| chars.get(i)).copied();
        let next = chars.get(index + 1).copied();
        let boundary = previous.is_some_and(|p| {
            (c.is_uppercase() && (p.is_lowercase() || p.is_numeric()))
                || (c.is_uppercase() && p.is_uppercase() && next.is_some_and(char::is_lowercase))
                || (c.is_numeric() != p.is_numeric() && p.is_alphanumeric())
        });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Whether a parameter named `name` looks like personal data or a credential.
pub fn looks_sensitive(name: &str) -> bool {
    let words = name_words(name);
    let glued: String = words.concat();
    if SENSITIVE_FRAGMENTS
        .iter()
        .any(|fragment| glued.contains(fragment))
    {
        return true;
    }
    words.iter().enumerate().any(|(index, word)| {
        SENSITIVE_WORDS.contains(&word.as_str())
            || (word == "name"
                && match index.checked_sub(1).and_then(|i| words.get(i)) {
                    None => words.len() == 1,
                    Some(before) => PERSON_WORDS.contains(&before.as_str()),
                })
    })
}

/// The parameters as stored in the postback log: names that look sensitive, and the
/// `extra` names (the networks' token and signature parameters and the configured
/// `redact` list, case-insensitively), get [`REDACTED`]; other values are clipped.
pub fn redacted_params(params: &[(String, String)], extra: &[&str]) -> serde_json::Value {
    let pairs = params
        .iter()
        .take(MAX_PARAMS)
        .map(|(name, value)| {
            let hidden =
                looks_sensitive(name) || extra.iter().any(|n| n.eq_ignore_ascii_case(name));
            let shown = if hidden {
                REDACTED.to_string()
            } else {
                crate::click::clip(value, super::MAX_VALUE_BYTES)
            };
            serde_json::json!([name, shown])
        })
        .collect();
    serde_json::Value::Array(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        for (name, words) in [
            ("user_email", &["user", "email"][..]),
            ("customerPhone", &["customer", "phone"]),
            ("APIKey", &["api", "key"]),
            ("access-token", &["access", "token"]),
            ("x.auth", &["x", "auth"]),
            ("phone2", &["phone", "2"]),
            ("sub10", &["sub", "10"]),
            ("ÉMail", &["é", "mail"]),
            ("__", &[]),
        ] {
            assert_eq!(name_words(name), words, "{name}");
        }
    }

    /// Issue 11 item 7: the names the attack run saw stored in clear.
    #[test]
    fn personal_data_and_credentials_are_redacted() {
        for name in [
            "user_email",
            "customer_phone",
            "api_key",
            "password",
            "access_token",
            "email",
            "Email",
            "EMAIL_ADDRESS",
            "userEmail",
            "useremail",
            "customerphone",
            "apikey",
            "ApiKey",
            "x-api-key",
            "phone",
            "tel",
            "mobile",
            "first_name",
            "lastName",
            "fullname",
            "name",
            "customer_name",
            "address",
            "billing_addr",
            "street",
            "zip",
            "postcode",
            "pass",
            "passwd",
            "pwd",
            "secret",
            "client_secret",
            "token",
            "security_token",
            "auth",
            "authorization",
            "session_id",
            "sessionId",
            "card_number",
            "cc",
            "cvv",
            "iban",
            "ssn",
            "dob",
            "date_of_birth",
            "birthdate",
            "sig",
            "signature",
            "secure",
            "user_ip",
        ] {
            assert!(looks_sensitive(name), "{name} should be redacted");
        }
    }

    #[test]
    fn tracking_fields_stay_readable() {
        let mut names: Vec<String> = (1..=10).map(|n| format!("sub{n}")).collect();
        names.extend((1..=5).map(|n| format!("aff_sub{n}")));
        names.extend(
            [
                "clickid",
                "click_id",
                "subid",
                "sub_id",
                "cid",
                "aff_sub",
                "txid",
                "transaction_id",
                "tid",
                "order_id",
                "payout",
                "amount",
                "sum",
                "revenue",
                "status",
                "sale_status",
                "lead_status",
                "rejected_status",
                "event",
                "goal",
                "goal_name",
                "currency",
                "offer_id",
                "offer_name",
                "campaign",
                "campaign_id",
                "campaign_name",
                "network",
                "adv_sub",
                "external_id",
                "visitor_id",
                "zoneid",
                "keyword",
                "country",
                "ts",
                "timestamp",
                "conversion_id",
                "source",
                "device",
                "os",
                "browser",
                "user_id",
                "tracking_id",
            ]
            .map(String::from),
        );
        for name in &names {
            assert!(!looks_sensitive(name), "{name} should stay readable");
        }
    }

    /// The README's Redaction section lists the rule as the code has it.
    #[test]
    fn the_readme_lists_every_word() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Redaction")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap();
        for word in SENSITIVE_WORDS.iter().chain(SENSITIVE_FRAGMENTS) {
            assert!(section.contains(&format!("`{word}`")), "{word}");
        }
    }

    #[test]
    fn redacted_values_are_never_stored_and_extra_names_count() {
        let params: Vec<(String, String)> = [
            ("clickid", "c-1"),
            ("user_email", "a@b.example"),
            ("customer_phone", "+15550100"),
            ("api_key", "k-123"),
            ("password", "hunter2"),
            ("access_token", "at-456"),
            ("my_field", "private-789"),
            ("payout", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let stored = redacted_params(&params, &["MY_FIELD"]).to_string();
        for secret in [
            "a@b.example",
            "+15550100",
            "k-123",
            "hunter2",
            "at-456",
            "private-789",
        ] {
            assert!(!stored.contains(secret), "{secret} in {stored}");
        }
        assert!(stored.contains(r#"["clickid","c-1"]"#), "{stored}");
        assert!(stored.contains(r#"["payout","5"]"#), "{stored}");
        assert!(
            stored.contains(r#"["user_email","[redacted]"]"#),
            "{stored}"
        );
    }
}
