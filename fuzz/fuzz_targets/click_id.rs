//! The click-ID decoder: `base32::decode` and `ClickSecrets::verify_for` on any text, and
//! genuine IDs minted from the input verified at any clock, then with one symbol changed.
//! Invariants: a decoded ID re-encodes to its canonical (lower-case) form; a verified ID
//! is that canonical form; a genuine ID verifies unless its time window or network
//! binding says otherwise; a changed symbol never verifies.
#![no_main]

use arbitrary::Arbitrary;
use edgeback::base32;
use edgeback::click_id::{ClickIdError, EPOCH_MS, MAX_FUTURE_SKEW_MS, TICK_MS};
use edgeback_fuzz::secrets;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    now_ms: u64,
    lookback_ms: u64,
    networks: Vec<String>,
    mint_offset_ms: i64,
    random: [u8; 7],
    restricted: Option<String>,
    change_at: u8,
    change_to: u8,
}

fuzz_target!(|input: Input| {
    let networks: Vec<&str> = input.networks.iter().map(String::as_str).take(4).collect();
    let canonical = input.text.to_ascii_lowercase();

    if let Some(bytes) = base32::decode(&input.text) {
        assert_eq!(base32::encode(&bytes), canonical);
    }
    if let Ok(verified) =
        secrets().verify_for(&input.text, input.now_ms, input.lookback_ms, &networks)
    {
        assert_eq!(verified.id, canonical);
    }

    // A genuine ID, minted near the verifying clock.
    let now = input.now_ms % (EPOCH_MS * 3);
    let minted_at = now.saturating_add_signed(input.mint_offset_ms % (400 * 86_400_000));
    let restricted = input.restricted.as_deref();
    let Ok(id) = secrets().mint_for(minted_at, input.random, restricted) else {
        return;
    };
    assert_eq!(
        base32::decode(&id).map(|b| base32::encode(&b)),
        Some(id.clone())
    );
    let lookback = input.lookback_ms % (400 * 86_400_000);
    let result = secrets().verify_for(&id.to_ascii_uppercase(), now, lookback, &networks);
    let bound = restricted.is_none_or(|name| networks.contains(&name));
    match result {
        Ok(verified) => {
            assert!(bound);
            assert_eq!(verified.id, id);
            assert_eq!(verified.restricted_to.as_deref(), restricted);
            assert!(verified.issued_at_ms <= minted_at);
            assert!(minted_at - verified.issued_at_ms < TICK_MS);
            assert!(verified.issued_at_ms <= now.saturating_add(MAX_FUTURE_SKEW_MS));
            assert!(now.saturating_sub(verified.issued_at_ms) <= lookback);
        }
        Err(ClickIdError::BadTag) => assert!(!bound),
        Err(ClickIdError::IssuedInFuture { issued_at_ms }) => {
            assert!(bound && issued_at_ms > now.saturating_add(MAX_FUTURE_SKEW_MS));
        }
        Err(ClickIdError::Expired { issued_at_ms }) => {
            assert!(bound && now.saturating_sub(issued_at_ms) > lookback);
        }
        Err(other) => panic!("a genuine ID refused as {other:?}"),
    }

    // One symbol changed to another symbol of the alphabet: never accepted.
    let at = usize::from(input.change_at) % id.len();
    let mut changed = id.clone().into_bytes();
    let old = base32::ALPHABET
        .iter()
        .position(|s| *s == changed[at])
        .unwrap_or(0);
    let step = 1 + usize::from(input.change_to) % 31;
    changed[at] = base32::ALPHABET[(old + step) % 32];
    let changed = String::from_utf8(changed).expect("ASCII");
    assert!(secrets()
        .verify_for(&changed, now, u64::MAX, &networks)
        .is_err());
});
