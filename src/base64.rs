//! Standard base64 (RFC 4648 §4: `A-Z a-z 0-9 + /`, `=` padding), for webhook secrets
//! and signatures: what the `base64` crate's `STANDARD` engine does (padded output;
//! input accepted only in its canonical padded form, trailing bits zero, no whitespace),
//! in a fraction of its wasm (5 KB; design §13, BENCHMARKS.md "Worker size"). The tests
//! hold it to the crate on any input.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as padded standard base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        for (slot, byte) in group.iter_mut().zip(chunk) {
            *slot = *byte;
        }
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        // A chunk of n bytes makes n + 1 symbols, padded to four.
        for index in 0..4 {
            if index <= chunk.len() {
                let value = (bits >> (18 - 6 * index)) & 0x3f;
                out.push(char::from(ALPHABET[value as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of one symbol; `None` for anything else (`=` included).
fn symbol_value(symbol: u8) -> Option<u32> {
    let value = match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// The bytes of canonical padded standard base64; `None` for anything else: a length
/// that is not a multiple of four, a symbol outside the alphabet, padding anywhere but
/// the last one or two places of the last group, or non-zero bits after the last byte.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (number, group) in text.chunks_exact(4).enumerate() {
        let last = number + 1 == groups;
        // Symbols before the padding: four, or two or three in the last group.
        let padding = group
            .iter()
            .rev()
            .take_while(|symbol| **symbol == b'=')
            .count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut bits = 0u32;
        for symbol in &group[..4 - padding] {
            bits = bits << 6 | symbol_value(*symbol)?;
        }
        bits <<= 6 * padding;
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        let kept = 3 - padding;
        // The bits after the last byte must be zero (one canonical text per value).
        if bytes[kept..].iter().any(|byte| *byte != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..kept]);
    }
    Some(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use ::base64::Engine;
    use proptest::prelude::*;

    fn crate_decode(text: &str) -> Option<Vec<u8>> {
        ::base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
    }

    #[test]
    fn known_values() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff, 0xbf], "+/+/"),
        ] {
            assert_eq!(super::encode(bytes), text);
            assert_eq!(super::decode(text).as_deref(), Some(bytes));
        }
        for bad in [
            "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-v",
            "Zm_v", "=Zm9", "Zg=a",
        ] {
            assert_eq!(super::decode(bad), None, "{bad:?}");
            assert_eq!(crate_decode(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn encodes_as_the_crate(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let text = ::base64::engine::general_purpose::STANDARD.encode(&bytes);
            prop_assert_eq!(super::encode(&bytes), text.clone());
            prop_assert_eq!(super::decode(&text), Some(bytes));
        }

        #[test]
        fn decodes_as_the_crate(text in "[A-Za-z0-9+/=_ -]{0,24}") {
            prop_assert_eq!(super::decode(&text), crate_decode(&text));
        }

        #[test]
        fn decodes_near_misses_as_the_crate(
            bytes in proptest::collection::vec(any::<u8>(), 1..40),
            at in any::<usize>(),
            symbol in prop::sample::select(b"AQgw+/=Zz09_ -".to_vec()),
        ) {
            // A valid text with one symbol changed, dropped, or added.
            let text = ::base64::engine::general_purpose::STANDARD.encode(&bytes).into_bytes();
            let at = at % text.len();
            let mut changed = text.clone();
            changed[at] = symbol;
            let mut dropped = text.clone();
            dropped.remove(at);
            let mut added = text.clone();
            added.insert(at, symbol);
            for candidate in [changed, dropped, added] {
                let candidate = String::from_utf8(candidate).unwrap();
                prop_assert_eq!(super::decode(&candidate), crate_decode(&candidate), "{:?}", candidate);
            }
        }
    }
}
