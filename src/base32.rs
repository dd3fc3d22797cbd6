//! Crockford base32 for fixed 20-byte values (click IDs, conversion IDs).
//!
//! Output is lower case. Input is decoded case-insensitively, but strictly: only the 32
//! symbols of the alphabet are accepted. Crockford's optional aliases (`i`/`l` for `1`,
//! `o` for `0`) are refused on purpose, so that a mistyped character can never decode to
//! the same bytes as the original and every single-character change is detected.

/// The 32 symbols, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Bytes in an encoded value; 20 bytes are exactly 160 bits, 32 symbols, no padding.
pub const RAW_LEN: usize = 20;
/// Symbols in an encoded value.
pub const TEXT_LEN: usize = 32;

/// Encodes 20 bytes as 32 lower-case symbols. Five bytes make eight symbols.
pub fn encode(bytes: &[u8; RAW_LEN]) -> String {
    let mut out = String::with_capacity(TEXT_LEN);
    for chunk in bytes.chunks_exact(5) {
        let group = chunk
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        for shift in (0..8).rev() {
            let index = ((group >> (shift * 5)) & 0x1f) as usize;
            out.push(char::from(ALPHABET[index]));
        }
    }
    out
}

/// The value of one symbol, case-insensitively; `None` for anything else.
fn symbol_value(symbol: u8) -> Option<u8> {
    let lower = symbol.to_ascii_lowercase();
    ALPHABET
        .iter()
        .position(|candidate| *candidate == lower)
        .and_then(|position| u8::try_from(position).ok())
}

/// Decodes exactly 32 symbols into 20 bytes; `None` for any other length or symbol.
pub fn decode(text: &str) -> Option<[u8; RAW_LEN]> {
    let symbols = text.as_bytes();
    if symbols.len() != TEXT_LEN {
        return None;
    }
    let mut out = [0u8; RAW_LEN];
    for (group_symbols, group_bytes) in symbols.chunks_exact(8).zip(out.chunks_exact_mut(5)) {
        let mut group = 0u64;
        for symbol in group_symbols {
            group = (group << 5) | u64::from(symbol_value(*symbol)?);
        }
        for (index, byte) in group_bytes.iter_mut().enumerate() {
            let shift = 8 * (4 - index as u64);
            *byte = ((group >> shift) & 0xff) as u8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_case_insensitive() {
        let bytes: [u8; RAW_LEN] = core::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let text = encode(&bytes);
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(decode(&text), Some(bytes));
        assert_eq!(decode(&text.to_ascii_uppercase()), Some(bytes));
    }

    #[test]
    fn all_zero_and_all_ones() {
        assert_eq!(encode(&[0u8; RAW_LEN]), "0".repeat(32));
        assert_eq!(encode(&[0xffu8; RAW_LEN]), "z".repeat(32));
    }

    #[test]
    fn refuses_aliases_other_symbols_and_lengths() {
        let base = "0".repeat(32);
        for bad in ['i', 'l', 'o', 'u', 'I', 'L', 'O', 'U', '-', ' ', 'é'] {
            let candidate = format!("{bad}{}", &base[1..]);
            assert_eq!(decode(&candidate), None, "{candidate}");
        }
        assert_eq!(decode(&base[1..]), None);
        assert_eq!(decode(&format!("{base}0")), None);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn encoding_preserves_byte_order() {
        let mut low = [0u8; RAW_LEN];
        let mut high = [0u8; RAW_LEN];
        low[4] = 1;
        high[3] = 1;
        assert!(encode(&low) < encode(&high));
    }
}
