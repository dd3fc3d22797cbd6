//! Network presets (design §5): each platform's postback parameter names and status words,
//! taken from that platform's own postback documentation (cited per preset). A network
//! profile starts from its preset; the keys in `wrangler.toml` override it. The table in
//! `docs/networks.md` is checked against this file by a unit test.
//!
//! Every preset also understands the canonical words (`pending`, `approved`, `rejected`,
//! `reversed`) and the common ones listed in [`COMMON_STATUS_WORDS`], so that a network
//! that sends `confirmed` or `declined` is understood without configuration.

use super::Status;

/// One preset: parameter aliases per canonical field, and status/event words.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// Where the facts come from.
    pub source: &'static str,
    pub click_id: &'static [&'static str],
    pub payout: &'static [&'static str],
    pub transaction_id: &'static [&'static str],
    pub status: &'static [&'static str],
    pub event: &'static [&'static str],
    pub currency: &'static [&'static str],
    /// Network status words → canonical status (matched case-insensitively).
    pub statuses: &'static [(&'static str, Status)],
    /// Network event words → canonical event.
    pub events: &'static [(&'static str, &'static str)],
    /// Status when the postback carries none.
    pub default_status: Status,
    /// Keitaro-style per-request status words: `(parameter, status)`; the parameter holds a
    /// comma-separated list of network words that mean `status` for this request
    /// (`&lead_status=hold&sale_status=lead&rejected_status=reject,trash`).
    pub status_word_params: &'static [(&'static str, Status)],
}

use Status::{Approved, Pending, Rejected, Reversed};

/// Words most platforms use, understood by every preset (a preset's own words win).
pub const COMMON_STATUS_WORDS: &[(&str, Status)] = &[
    ("approved", Approved),
    ("approve", Approved),
    ("confirmed", Approved),
    ("confirm", Approved),
    ("accepted", Approved),
    ("paid", Approved),
    ("sale", Approved),
    ("pending", Pending),
    ("hold", Pending),
    ("on_hold", Pending),
    ("lead", Pending),
    ("new", Pending),
    ("processing", Pending),
    ("rejected", Rejected),
    ("reject", Rejected),
    ("declined", Rejected),
    ("decline", Rejected),
    ("denied", Rejected),
    ("cancelled", Rejected),
    ("canceled", Rejected),
    ("trash", Rejected),
    ("fraud", Rejected),
    ("invalid", Rejected),
    ("reversed", Reversed),
    ("reversal", Reversed),
    ("chargeback", Reversed),
    ("refund", Reversed),
    ("refunded", Reversed),
];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "generic",
        source: "edgeback's own: the names most trackers and networks use",
        click_id: &["clickid", "click_id", "subid", "cid"],
        payout: &["payout", "amount", "sum", "revenue"],
        transaction_id: &["txid", "transaction_id", "tid", "order_id"],
        status: &["status"],
        event: &["event", "goal", "et"],
        currency: &["currency"],
        statuses: &[],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // TUNE (HasOffers): affiliates get their own click ID back through the {aff_sub}
    // macro; TUNE's own click ID is `transaction_id`; advertiser references are
    // `adv_sub`…`adv_sub5`. Sources: TUNE/HasOffers "Postback URL" and "Affiliate
    // postback macros" help articles; design §5's example; the URL examples of docs/networks.md.
    Preset {
        name: "tune",
        source: "TUNE (HasOffers) help center: affiliate postback macros ({aff_sub}, {transaction_id}, {adv_sub}, {payout}, {goal_id}); design §5",
        click_id: &["aff_sub", "aff_click_id", "transaction_id"],
        payout: &["payout", "amount", "sale_amount"],
        transaction_id: &["adv_sub", "adv_sub2", "order_id", "adv_unique1"],
        status: &["status"],
        event: &["goal", "goal_id", "goal_name"],
        currency: &["currency"],
        statuses: &[("1", Approved), ("2", Pending), ("3", Rejected)],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // Everflow: its click ID is `transaction_id` (32 hex); amounts may use a decimal
    // comma (`12,34`); advertiser references `order_id`, `adv_event_id`; the event is
    // chosen with `event_id`. Source: Everflow help center, "Server Postback (S2S)"
    // and "Postback parameters"; the URL examples of docs/networks.md.
    Preset {
        name: "everflow",
        source: "Everflow help center: server postback parameters (transaction_id, amount, order_id, adv_event_id, event_id, currency)",
        click_id: &["transaction_id", "sub1", "click_id"],
        payout: &["amount", "payout", "sale_amount"],
        transaction_id: &["order_id", "adv_event_id", "adv1"],
        status: &["status"],
        event: &["event_id", "event"],
        currency: &["currency"],
        statuses: &[],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // CAKE: the click is identified by the Request (Session) ID, passed back in `r`
    // (`p.ashx?o=…&e=…&r=#reqid#`); `amount` for percentage-of-sale offers; `t` the
    // advertiser's transaction; `e` the event; statuses approved / pending / rejected /
    // ignored. Sources: support.getcake.com articles 5000546059 ("How do I implement
    // server to server tracking"), 13000103758 ("How to integrate with CAKE"),
    // 13000118716 ("CAKE API, Tracking & Conversions").
    Preset {
        name: "cake",
        source: "support.getcake.com: server-to-server tracking (r = request ID), integration guide, Tracking & Conversions API (statuses)",
        click_id: &["r", "reqid", "click_id", "s2"],
        payout: &["amount", "price", "payout"],
        transaction_id: &["t", "transaction_id", "order_id"],
        status: &["status"],
        event: &["e", "event_id"],
        currency: &["currency"],
        statuses: &[("ignored", Rejected)],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // Affise: `clickid` / `click_id`, payout `sum`, transaction `action_id`, event
    // `goal`; statuses 1 approved, 2 pending, 3 declined, 5 hold. Sources: Affise help
    // center, "Postback URL" / "Postback statuses"; the URL examples of docs/networks.md.
    Preset {
        name: "affise",
        source: "Affise help center: postback parameters (clickid, sum, action_id, goal) and status codes (1 approved, 2 pending, 3 declined, 5 hold)",
        click_id: &["clickid", "click_id"],
        payout: &["sum", "payout"],
        transaction_id: &["action_id", "transaction_id"],
        status: &["status"],
        event: &["goal"],
        currency: &["currency"],
        statuses: &[("1", Approved), ("2", Pending), ("3", Rejected), ("5", Pending)],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // Keitaro: `subid` (required), `tid`, `payout` or `revenue`, `status` (default
    // `sale`), `currency`; statuses lead (unconfirmed), sale (confirmed), rejected,
    // rebill (an upsell, confirmed); the sender may teach its own words per request with
    // `lead_status=`, `sale_status=`, `rejected_status=` (comma-separated). Source:
    // docs.keitaro.io/en/conversions/postback.html.
    Preset {
        name: "keitaro",
        source: "docs.keitaro.io/en/conversions/postback.html: subid, tid, payout/revenue, status (lead, sale, rejected, rebill), lead_status/sale_status/rejected_status",
        click_id: &["subid", "sub_id"],
        payout: &["payout", "revenue"],
        transaction_id: &["tid"],
        status: &["status"],
        event: &["event"],
        currency: &["currency"],
        statuses: &[("lead", Pending), ("sale", Approved), ("rejected", Rejected), ("rebill", Approved)],
        events: &[],
        default_status: Approved,
        status_word_params: &[
            ("lead_status", Pending),
            ("sale_status", Approved),
            ("rejected_status", Rejected),
        ],
    },
    // Voluum: `cid` (required), `payout`, `txid` (tells upsells apart), `currency`, `et`
    // (custom conversion type). Source: doc.voluum.com, "Parameters in Postback URLs" and
    // "Track Conversions Using S2S Postback URL".
    Preset {
        name: "voluum",
        source: "doc.voluum.com: parameters in postback URLs (cid, payout, txid, currency, et)",
        click_id: &["cid"],
        payout: &["payout"],
        transaction_id: &["txid"],
        status: &["status"],
        event: &["et"],
        currency: &["currency"],
        statuses: &[],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // Binom: `cnv_id` (v1) or `clickid` (Binom 2), `payout`, `cnv_status` (free words
    // such as Hold, approve, reject), `cnv_currency`. Source: docs.binom.org/postback-url.php
    // and payout-tracking-v2.php.
    Preset {
        name: "binom",
        source: "docs.binom.org/postback-url.php: cnv_id / clickid, payout, cnv_status, cnv_currency",
        click_id: &["cnv_id", "clickid"],
        payout: &["payout"],
        transaction_id: &["txid", "tid"],
        status: &["cnv_status"],
        event: &["event", "goal"],
        currency: &["cnv_currency", "currency"],
        statuses: &[],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
    // RedTrack: `clickid`, `sum` or `payout`, `rdtk_event_id` (the conversion's own ID),
    // `type` (event), `status` (Approved, Pending, Declined, Other), `currency`. Source:
    // RedTrack help center, "Postback URL parameters"; the URL examples of docs/networks.md.
    Preset {
        name: "redtrack",
        source: "RedTrack help center: postback parameters (clickid, sum/payout, type, status Approved/Pending/Declined/Other, currency)",
        click_id: &["clickid"],
        payout: &["sum", "payout"],
        transaction_id: &["rdtk_event_id", "txid"],
        status: &["status"],
        event: &["type"],
        currency: &["currency"],
        statuses: &[("other", Pending)],
        events: &[],
        default_status: Approved,
        status_word_params: &[],
    },
];

/// The preset named `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}

/// Preset names, for error messages.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|preset| preset.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_preset_exists_once() {
        for name in [
            "generic", "tune", "everflow", "cake", "affise", "keitaro", "voluum", "binom",
            "redtrack",
        ] {
            assert_eq!(
                PRESETS.iter().filter(|p| p.name == name).count(),
                1,
                "{name}"
            );
        }
    }

    #[test]
    fn presets_are_well_formed() {
        for preset in PRESETS {
            assert!(
                !preset.click_id.is_empty() && !preset.payout.is_empty(),
                "{}",
                preset.name
            );
            for (word, _) in preset.statuses {
                assert_eq!(
                    *word,
                    word.to_lowercase(),
                    "{}: status words are lower case",
                    preset.name
                );
            }
            // A parameter name feeds one field only.
            let mut all: Vec<&str> = [
                preset.click_id,
                preset.payout,
                preset.transaction_id,
                preset.status,
                preset.event,
                preset.currency,
            ]
            .concat();
            all.sort_unstable();
            let before = all.len();
            all.dedup();
            assert_eq!(
                all.len(),
                before,
                "{}: a parameter name is used twice",
                preset.name
            );
        }
    }

    #[test]
    fn docs_table_matches_the_presets() {
        let doc = include_str!("../../docs/networks.md");
        for preset in PRESETS {
            let row = format!(
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                preset.name,
                code_list(preset.click_id),
                code_list(preset.payout),
                code_list(preset.transaction_id),
                code_list(preset.status),
                code_list(preset.event),
                code_list(preset.currency),
            );
            assert!(doc.contains(&row), "docs/networks.md lacks the row\n{row}");
        }
    }

    fn code_list(names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
