//! Unreplaced macros (design §6): a value that is still a template placeholder.
//!
//! The most common real failure is a postback whose click ID is the literal macro
//! (`subid={subacc4}`), which many trackers answer 200 and then drop. We name it instead.

/// Placeholder words networks document as "overwrite me" (BeMob: `REPLACE`, `OPTIONAL`).
const PLACEHOLDER_WORDS: &[&str] = &["replace", "optional"];

/// Delimiter pairs of the common template syntaxes, longest first.
const WRAPPERS: &[(&str, &str)] = &[
    ("{{", "}}"),
    ("${", "}"),
    ("{", "}"),
    ("#", "#"),
    ("[", "]"),
    ("<", ">"),
    ("%", "%"),
];

fn is_macro_name(inner: &str) -> bool {
    !inner.is_empty()
        && inner.len() <= 64
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b' '))
        && inner.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Empty placeholders some templates use (Voluum documents `cid={}`).
const EMPTY_PLACEHOLDERS: &[&str] = &["{}", "{{}}", "${}"];

fn wrapped(value: &str) -> bool {
    if EMPTY_PLACEHOLDERS.contains(&value) {
        return true;
    }
    WRAPPERS.iter().any(|(open, close)| {
        value
            .strip_prefix(open)
            .and_then(|rest| rest.strip_suffix(close))
            .is_some_and(|inner| is_macro_name(inner.trim()))
    })
}

/// Decodes `%XX` sequences once; `None` if nothing was decoded or the result is not UTF-8.
fn percent_decode_once(value: &str) -> Option<String> {
    if !value.contains('%') {
        return None;
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    let mut decoded_any = false;
    while let Some(&byte) = bytes.get(index) {
        let hex = |offset: usize| {
            bytes
                .get(index + offset)
                .and_then(|b| (*b as char).to_digit(16))
        };
        match (byte, hex(1), hex(2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                index += 3;
                decoded_any = true;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    if !decoded_any {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Whether `value` is an unreplaced placeholder, in any common syntax, also when it
/// arrives percent-encoded once or twice (`%7Bsubid%7D`, `%257Bsubid%257D`).
pub fn is_placeholder(value: &str) -> bool {
    let mut current = value.trim().to_string();
    for _ in 0..3 {
        if wrapped(&current)
            || PLACEHOLDER_WORDS
                .iter()
                .any(|w| current.eq_ignore_ascii_case(w))
        {
            return true;
        }
        match percent_decode_once(&current) {
            Some(decoded) => current = decoded.trim().to_string(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_in_every_common_syntax() {
        for value in [
            "{subid}",
            "{{clickid}}",
            "#s2#",
            "[subid]",
            "${SUBID}",
            "{click_id}",
            "{}",
            "{{}}",
            "%7B%7D",
            "{adv-macro-for-action-id}",
            "<clickid>",
            "%subid%",
            "%7Bsubid%7D",
            "%7bsubid%7d",
            "%257Bsubid%257D",
            "%7B%7Bclickid%7D%7D",
            "%23s2%23",
            "%5Bsubid%5D",
            "%24%7BSUBID%7D",
            "REPLACE",
            "OPTIONAL",
            "optional",
            " {subacc4} ",
        ] {
            assert!(is_placeholder(value), "{value}");
        }
    }

    #[test]
    fn real_values_are_not_placeholders() {
        for value in [
            "51ts6sgr1cbkdhljnrv",
            "12.5",
            "approved",
            "#1",
            "[]",
            "[123]",
            "%",
            "100%",
            "a{b}c",
            "06dc936301df4e96aa3f3ad25f982bfe",
            "REPLACED",
            "",
        ] {
            assert!(!is_placeholder(value), "{value}");
        }
    }
}
