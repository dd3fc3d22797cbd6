//! Click IDs (design §4, normative): minted without storage, verified without storage.
//!
//! # Layout (version 1)
//!
//! A click ID is 20 bytes written as 32 symbols of Crockford base32 (lower case; decoded
//! case-insensitively, see [`crate::base32`]). Big-endian bit layout:
//!
//! | bits      | bytes  | field                                                          |
//! |-----------|--------|----------------------------------------------------------------|
//! | 0..38     | 0..5   | issue time, 10 ms ticks since 2024-01-01T00:00:00Z (to 2111)   |
//! | 38..40    | 4      | key id: 2 bits derived from the signing secret                 |
//! | 40..96    | 5..12  | 56 random bits                                                 |
//! | 96..160   | 12..20 | tag: first 64 bits of HMAC-SHA256(secret, domain ‖ bytes 0..12 ‖ binding) |
//!
//! The tag's input also binds the click's **network restriction**: a click on a campaign
//! that only network `N` may convert is tagged over `"edgeback/click-id/v1/network"`,
//! the 12 payload bytes and `N`; an unrestricted click over `"edgeback/click-id/v1"` and
//! the payload alone (unchanged from the first layout, so earlier IDs still verify). The
//! restriction costs no bit of the ID, and the record step needs no click row to enforce
//! it: a postback from network `M` verifies the tag as unrestricted, then as restricted to
//! `M`; an ID that passes neither is refused, whether forged or restricted to another
//! network (the verifier then tries the other configured names only to say which).
//!
//! Because the time is the most significant field, IDs sort by issue time (to 10 ms),
//! both as bytes and as text. The key id lets a verifier pick the right secret during a
//! rotation (`CLICK_SECRET_PREVIOUS`) without trying every one; two secrets may share a
//! key id (2 bits), in which case both are tried. A forged, mistyped or truncated ID fails
//! the tag check with probability 1 - 2^-64.

use crate::base32;
use crate::crypto::{constant_time_eq, hmac_sha256};

/// 2024-01-01T00:00:00Z in unix milliseconds: the zero of the time field.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
/// Resolution of the time field.
pub const TICK_MS: u64 = 10;
const TIME_BITS: u32 = 38;
const MAX_TICKS: u64 = (1 << TIME_BITS) - 1;
const KEY_ID_MASK: u8 = 0b11;
const PAYLOAD_LEN: usize = 12;
const TAG_LEN: usize = 8;
/// Random bytes a click ID carries.
pub const RANDOM_LEN: usize = 7;
/// How far in the future an issue time may lie (clock skew between locations).
pub const MAX_FUTURE_SKEW_MS: u64 = 5 * 60 * 1000;
/// The shortest secret accepted for signing click IDs.
pub const MIN_SECRET_LEN: usize = 16;

const TAG_DOMAIN: &[u8] = b"edgeback/click-id/v1";
const RESTRICTED_TAG_DOMAIN: &[u8] = b"edgeback/click-id/v1/network";
const KEY_ID_DOMAIN: &[u8] = b"edgeback/click-key-id";
const LINK_DOMAIN: &[u8] = b"edgeback/lander-link/v1";

/// The tag of a lander's call-to-action link under `secret`: the first 64 bits of
/// HMAC-SHA256(secret, domain ‖ NUL ‖ part ‖ NUL ‖ part …), in hex.
fn link_tag(secret: &[u8], parts: &[&str]) -> String {
    let mut input: Vec<&[u8]> = vec![LINK_DOMAIN];
    for part in parts {
        input.push(b"\0");
        input.push(part.as_bytes());
    }
    crate::crypto::hex(
        hmac_sha256(secret, &input)
            .get(..TAG_LEN)
            .unwrap_or_default(),
    )
}

/// Which configured secret verified an ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSlot {
    Current,
    Previous,
}

#[derive(Clone)]
struct SigningKey {
    secret: Vec<u8>,
    key_id: u8,
    slot: SecretSlot,
}

impl SigningKey {
    fn new(secret: &str, slot: SecretSlot) -> Self {
        let key_id = hmac_sha256(secret.as_bytes(), &[KEY_ID_DOMAIN])[0] & KEY_ID_MASK;
        Self {
            secret: secret.as_bytes().to_vec(),
            key_id,
            slot,
        }
    }

    fn tag(&self, payload: &[u8], restricted_to: Option<&str>) -> [u8; TAG_LEN] {
        let full = match restricted_to {
            None => hmac_sha256(&self.secret, &[TAG_DOMAIN, payload]),
            Some(network) => hmac_sha256(
                &self.secret,
                &[RESTRICTED_TAG_DOMAIN, payload, network.as_bytes()],
            ),
        };
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

/// The secrets that mint (current) and verify (current, then previous) click IDs.
#[derive(Clone)]
pub struct ClickSecrets {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl std::fmt::Debug for ClickSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClickSecrets(<redacted>)")
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    TooShort { name: &'static str },
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::TooShort { name } => {
                write!(f, "{name} must be at least {MIN_SECRET_LEN} bytes")
            }
        }
    }
}

impl ClickSecrets {
    /// `previous` is the secret being rotated out; an empty one counts as absent.
    pub fn new(current: &str, previous: Option<&str>) -> Result<Self, SecretError> {
        if current.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                name: "CLICK_SECRET",
            });
        }
        let previous = match previous.filter(|value| !value.is_empty()) {
            Some(value) if value.len() < MIN_SECRET_LEN => {
                return Err(SecretError::TooShort {
                    name: "CLICK_SECRET_PREVIOUS",
                })
            }
            Some(value) => Some(SigningKey::new(value, SecretSlot::Previous)),
            None => None,
        };
        Ok(Self {
            current: SigningKey::new(current, SecretSlot::Current),
            previous,
        })
    }

    /// The current secret's bytes, for keys derived from it (see [`crate::click::ip_hash`]).
    pub(crate) fn current_secret(&self) -> &[u8] {
        &self.current.secret
    }

    /// The tag that signs a lander's call-to-action link (docs/flows.md, "Landing pages"):
    /// it binds the click ID, the campaign and the flow's choice to this tracker.
    pub fn link_tag(&self, parts: &[&str]) -> String {
        link_tag(&self.current.secret, parts)
    }

    /// Whether `tag` is [`Self::link_tag`] of `parts` under the current or previous secret.
    pub fn link_tag_valid(&self, parts: &[&str], tag: &str) -> bool {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|key| constant_time_eq(link_tag(&key.secret, parts).as_bytes(), tag.as_bytes()))
    }

    /// Mints an unrestricted click ID issued at `now_ms` carrying `random`.
    pub fn mint(&self, now_ms: u64, random: [u8; RANDOM_LEN]) -> Result<String, ClickIdError> {
        self.mint_for(now_ms, random, None)
    }

    /// Mints a click ID whose tag binds `restricted_to`: the one network allowed to convert
    /// the click (the campaign's `network`), or `None` for any network.
    pub fn mint_for(
        &self,
        now_ms: u64,
        random: [u8; RANDOM_LEN],
        restricted_to: Option<&str>,
    ) -> Result<String, ClickIdError> {
        let ticks = now_ms
            .checked_sub(EPOCH_MS)
            .map(|elapsed| elapsed / TICK_MS)
            .filter(|ticks| *ticks <= MAX_TICKS)
            .ok_or(ClickIdError::ClockOutOfRange)?;
        let mut bytes = [0u8; base32::RAW_LEN];
        let head = (ticks << 2) | u64::from(self.current.key_id);
        bytes[..5].copy_from_slice(&head.to_be_bytes()[3..]);
        bytes[5..PAYLOAD_LEN].copy_from_slice(&random);
        let tag = self.current.tag(&bytes[..PAYLOAD_LEN], restricted_to);
        bytes[PAYLOAD_LEN..].copy_from_slice(&tag);
        Ok(base32::encode(&bytes))
    }

    /// Verifies `text` at `now_ms` as an unrestricted click ID: authentic, and issued at
    /// most `lookback_ms` ago.
    pub fn verify(
        &self,
        text: &str,
        now_ms: u64,
        lookback_ms: u64,
    ) -> Result<VerifiedClickId, ClickIdError> {
        self.verify_for(text, now_ms, lookback_ms, &[])
    }

    /// Verifies `text` at `now_ms` as unrestricted or as restricted to one of `networks`
    /// (tried in order: put the converting network first). The answer says which.
    pub fn verify_for(
        &self,
        text: &str,
        now_ms: u64,
        lookback_ms: u64,
        networks: &[&str],
    ) -> Result<VerifiedClickId, ClickIdError> {
        let bytes = base32::decode(text).ok_or(ClickIdError::Malformed)?;
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let head = payload
            .iter()
            .take(5)
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        let key_id = (head & u64::from(KEY_ID_MASK)) as u8;
        let ticks = head >> 2;
        let bindings = std::iter::once(None).chain(networks.iter().map(|name| Some(*name)));
        let (slot, restricted_to) = bindings
            .flat_map(|binding| {
                std::iter::once(&self.current)
                    .chain(self.previous.as_ref())
                    .filter(move |key| key.key_id == key_id)
                    .map(move |key| (key, binding))
            })
            .find(|(key, binding)| constant_time_eq(&key.tag(payload, *binding), tag))
            .map(|(key, binding)| (key.slot, binding.map(str::to_string)))
            .ok_or(ClickIdError::BadTag)?;
        let issued_at_ms = EPOCH_MS.saturating_add(ticks.saturating_mul(TICK_MS));
        if issued_at_ms > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
            return Err(ClickIdError::IssuedInFuture { issued_at_ms });
        }
        if now_ms.saturating_sub(issued_at_ms) > lookback_ms {
            return Err(ClickIdError::Expired { issued_at_ms });
        }
        let mut random = [0u8; RANDOM_LEN];
        for (slot, byte) in random.iter_mut().zip(payload.iter().skip(5)) {
            *slot = *byte;
        }
        Ok(VerifiedClickId {
            id: base32::encode(&bytes),
            random,
            issued_at_ms,
            slot,
            restricted_to,
        })
    }
}

/// The smallest click ID issued at `at_ms` (time bits only, everything else zero): every
/// ID issued earlier sorts below it, every ID issued at or after it at or above. Click IDs
/// are keys, so a time range of clicks is a key range (purges need no time index).
pub fn time_lower_bound(at_ms: u64) -> String {
    let ticks = at_ms.saturating_sub(EPOCH_MS) / TICK_MS;
    let head = ticks.min(MAX_TICKS) << 2;
    let mut bytes = [0u8; base32::RAW_LEN];
    bytes[..5].copy_from_slice(&head.to_be_bytes()[3..]);
    base32::encode(&bytes)
}

/// A click ID that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClickId {
    /// The canonical (lower-case) form, as stored.
    pub id: String,
    /// Its 56 random bits (a flow's draw for the click: docs/flows.md).
    pub random: [u8; RANDOM_LEN],
    pub issued_at_ms: u64,
    pub slot: SecretSlot,
    /// The network the click's campaign was restricted to when the click was made.
    pub restricted_to: Option<String>,
}

/// Why a click ID was refused, or could not be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickIdError {
    /// Not 32 symbols of the alphabet.
    Malformed,
    /// Well-formed, but no configured secret made its tag.
    BadTag,
    /// Authentic, issued further in the future than clock skew explains.
    IssuedInFuture { issued_at_ms: u64 },
    /// Authentic, but older than the lookback window.
    Expired { issued_at_ms: u64 },
    /// The clock is before 2024 or after 2111: nothing can be minted.
    ClockOutOfRange,
}

impl ClickIdError {
    /// The design §6 outcome this error maps to on the postback path.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            ClickIdError::Expired { .. } => "click_expired",
            _ => "invalid_click_id",
        }
    }

    /// Human-readable detail for responses and the postback log.
    pub fn detail(&self) -> String {
        match self {
            ClickIdError::Malformed => {
                "click ID must be 32 characters of 0-9 and a-z (without i, l, o, u)".into()
            }
            ClickIdError::BadTag => "click ID was not issued by this tracker".into(),
            ClickIdError::IssuedInFuture { .. } => "click ID is dated in the future".into(),
            ClickIdError::Expired { issued_at_ms } => {
                format!("click issued at {issued_at_ms} ms is older than the lookback window")
            }
            ClickIdError::ClockOutOfRange => "clock out of range".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000_000; // 2026-09-21
    const DAY: u64 = 86_400_000;
    const LOOKBACK: u64 = 30 * DAY;

    fn secrets() -> ClickSecrets {
        ClickSecrets::new("test-click-secret-0123456789", None).unwrap()
    }

    #[test]
    fn round_trip() {
        let keys = secrets();
        let id = keys.mint(NOW, [1, 2, 3, 4, 5, 6, 7]).unwrap();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        let verified = keys.verify(&id, NOW, LOOKBACK).unwrap();
        assert_eq!(verified.id, id);
        assert_eq!(verified.issued_at_ms, NOW);
        assert_eq!(verified.slot, SecretSlot::Current);
    }

    #[test]
    fn time_lower_bounds_split_ids_by_issue_time() {
        let keys = secrets();
        let bound = time_lower_bound(NOW);
        for (at, random) in [(NOW - 10, [0xff; 7]), (NOW - 86_400_000, [0; 7])] {
            assert!(keys.mint(at, random).unwrap() < bound);
        }
        for (at, random) in [(NOW, [0; 7]), (NOW, [0xff; 7]), (NOW + 10, [0; 7])] {
            assert!(keys.mint(at, random).unwrap() >= bound);
        }
        assert!(keys.mint_for(NOW - 10, [0xff; 7], Some("tune")).unwrap() < bound);
        assert_eq!(time_lower_bound(0).len(), 32);
        assert_eq!(time_lower_bound(u64::MAX).len(), 32);
    }

    #[test]
    fn a_network_restriction_is_bound_into_the_tag() {
        let keys = secrets();
        let id = keys.mint_for(NOW, [9; 7], Some("tune")).unwrap();
        assert_eq!(id.len(), 32);
        // Unrestricted verification fails: the tag binds the network.
        assert_eq!(keys.verify(&id, NOW, LOOKBACK), Err(ClickIdError::BadTag));
        assert_eq!(
            keys.verify_for(&id, NOW, LOOKBACK, &["everflow"]),
            Err(ClickIdError::BadTag)
        );
        let verified = keys
            .verify_for(&id, NOW, LOOKBACK, &["everflow", "tune"])
            .unwrap();
        assert_eq!(verified.restricted_to.as_deref(), Some("tune"));
        // A name that merely extends another never verifies as it.
        assert!(keys
            .verify_for(&id, NOW, LOOKBACK, &["tun", "tunee"])
            .is_err());
        // Unrestricted IDs verify with or without candidate networks, as unrestricted.
        let open = keys.mint(NOW, [9; 7]).unwrap();
        assert_ne!(open, id);
        let verified = keys.verify_for(&open, NOW, LOOKBACK, &["tune"]).unwrap();
        assert_eq!(verified.restricted_to, None);
        // The previous secret verifies restricted IDs during a rotation.
        let rotated = ClickSecrets::new(
            "another-click-secret-99",
            Some("test-click-secret-0123456789"),
        )
        .unwrap();
        let verified = rotated.verify_for(&id, NOW, LOOKBACK, &["tune"]).unwrap();
        assert_eq!(verified.slot, SecretSlot::Previous);
        assert_eq!(verified.restricted_to.as_deref(), Some("tune"));
    }

    #[test]
    fn upper_and_mixed_case_verify_to_the_canonical_id() {
        let keys = secrets();
        let id = keys.mint(NOW, [9; 7]).unwrap();
        let upper = id.to_ascii_uppercase();
        let mixed: String = id
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(keys.verify(&upper, NOW, LOOKBACK).unwrap().id, id);
        assert_eq!(keys.verify(&mixed, NOW, LOOKBACK).unwrap().id, id);
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let keys = secrets();
        let id = keys.mint(NOW, [0xab; 7]).unwrap();
        let mut tried = 0;
        for position in 0..id.len() {
            for replacement in "0123456789abcdefghijklmnopqrstuvwxyz".chars() {
                let original = id.as_bytes()[position] as char;
                if replacement == original {
                    continue;
                }
                let mut changed = id.clone();
                changed.replace_range(position..=position, &replacement.to_string());
                let upper_changed = changed.to_ascii_uppercase();
                for candidate in [changed, upper_changed] {
                    let result = keys.verify(&candidate, NOW, LOOKBACK);
                    assert!(
                        matches!(result, Err(ClickIdError::Malformed | ClickIdError::BadTag)),
                        "{candidate} gave {result:?}"
                    );
                    tried += 1;
                }
            }
        }
        assert_eq!(tried, 32 * 35 * 2);
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let keys = secrets();
        let id = keys.mint(NOW, [7; 7]).unwrap();
        for len in 0..id.len() {
            assert_eq!(
                keys.verify(&id[..len], NOW, LOOKBACK),
                Err(ClickIdError::Malformed)
            );
            assert_eq!(
                keys.verify(&id[id.len() - len..], NOW, LOOKBACK),
                Err(ClickIdError::Malformed)
            );
        }
        assert_eq!(
            keys.verify(&format!("{id}0"), NOW, LOOKBACK),
            Err(ClickIdError::Malformed)
        );
    }

    #[test]
    fn an_id_from_another_secret_is_rejected() {
        let other = ClickSecrets::new("another-secret-abcdefghijkl", None).unwrap();
        for n in 0..64u8 {
            let id = other.mint(NOW, [n; 7]).unwrap();
            assert_eq!(
                secrets().verify(&id, NOW, LOOKBACK),
                Err(ClickIdError::BadTag)
            );
        }
    }

    #[test]
    fn expiry_at_the_lookback_boundary() {
        let keys = secrets();
        let id = keys.mint(NOW, [3; 7]).unwrap();
        // Exactly the lookback old: still valid. One tick older: expired.
        assert!(keys.verify(&id, NOW + LOOKBACK, LOOKBACK).is_ok());
        assert_eq!(
            keys.verify(&id, NOW + LOOKBACK + 1, LOOKBACK),
            Err(ClickIdError::Expired { issued_at_ms: NOW })
        );
        assert_eq!(
            keys.verify(&id, NOW + LOOKBACK + 1, LOOKBACK)
                .unwrap_err()
                .outcome_code(),
            "click_expired"
        );
    }

    #[test]
    fn future_ids_beyond_clock_skew_are_rejected() {
        let keys = secrets();
        let id = keys.mint(NOW + MAX_FUTURE_SKEW_MS, [3; 7]).unwrap();
        assert!(keys.verify(&id, NOW, LOOKBACK).is_ok());
        let id = keys
            .mint(NOW + MAX_FUTURE_SKEW_MS + TICK_MS, [3; 7])
            .unwrap();
        assert!(matches!(
            keys.verify(&id, NOW, LOOKBACK),
            Err(ClickIdError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn rotation_keeps_verifying_with_the_previous_secret() {
        let old = ClickSecrets::new("old-secret-0123456789abcdef", None).unwrap();
        let rotated = ClickSecrets::new(
            "new-secret-0123456789abcdef",
            Some("old-secret-0123456789abcdef"),
        )
        .unwrap();
        let new_only = ClickSecrets::new("new-secret-0123456789abcdef", None).unwrap();
        for n in 0..32u8 {
            let old_id = old.mint(NOW, [n; 7]).unwrap();
            let new_id = rotated.mint(NOW, [n; 7]).unwrap();
            assert_eq!(
                rotated.verify(&old_id, NOW, LOOKBACK).unwrap().slot,
                SecretSlot::Previous
            );
            assert_eq!(
                rotated.verify(&new_id, NOW, LOOKBACK).unwrap().slot,
                SecretSlot::Current
            );
            // Once the previous secret is dropped, its IDs stop verifying.
            assert_eq!(
                new_only.verify(&old_id, NOW, LOOKBACK),
                Err(ClickIdError::BadTag)
            );
        }
    }

    #[test]
    fn ids_sort_by_issue_time() {
        let keys = secrets();
        let mut previous = keys.mint(NOW, [0xff; 7]).unwrap();
        for step in 1..200u64 {
            let id = keys.mint(NOW + step * TICK_MS, [0; 7]).unwrap();
            assert!(id > previous, "{id} <= {previous}");
            previous = id;
        }
    }

    #[test]
    fn minting_outside_the_time_range_fails() {
        let keys = secrets();
        assert_eq!(
            keys.mint(EPOCH_MS - 1, [0; 7]),
            Err(ClickIdError::ClockOutOfRange)
        );
        assert!(keys.mint(EPOCH_MS, [0; 7]).is_ok());
        assert_eq!(
            keys.mint(EPOCH_MS + (MAX_TICKS + 1) * TICK_MS, [0; 7]),
            Err(ClickIdError::ClockOutOfRange)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(ClickSecrets::new("short", None).is_err());
        assert!(ClickSecrets::new("long-enough-secret-1234", Some("short")).is_err());
        assert!(ClickSecrets::new("long-enough-secret-1234", Some("")).is_ok());
    }

    // Property tests run natively (proptest is a native dev-dependency).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn verify_never_panics_on_arbitrary_strings(text in "\\PC{0,64}", now in any::<u64>()) {
                let _ = secrets().verify(&text, now, LOOKBACK);
            }

            #[test]
            fn verify_never_panics_on_alphabet_strings(text in "[0-9a-zA-Z]{28,36}", now in any::<u64>()) {
                let result = secrets().verify(&text, now, LOOKBACK);
                prop_assert!(result.is_err());
            }

            #[test]
            fn round_trip_for_any_time_and_randomness(offset in 0u64..(MAX_TICKS * TICK_MS), random in any::<[u8; 7]>()) {
                let keys = secrets();
                let now = EPOCH_MS + offset;
                let id = keys.mint(now, random).unwrap();
                let verified = keys.verify(&id, now, LOOKBACK).unwrap();
                prop_assert_eq!(verified.issued_at_ms, now - now % TICK_MS + EPOCH_MS % TICK_MS);
            }
        }
    }
}
