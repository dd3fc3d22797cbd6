//! "Did you mean …?" for names a person typed: configuration keys, URL macros, network
//! and campaign names (`edgeback-cli check-config`, design §5) and admin API query
//! parameters (design §9). A near miss is a candidate within a small edit distance.

/// Levenshtein distance between `a` and `b`, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a typo: at most one
/// edit for short words, about a third of the word's length for longer ones (so `sub11`
/// suggests `sub1`, `clikcid` suggests `clickid`, and `colour` suggests nothing). Ties
/// go to the first candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = word.chars().count();
    let allowed = (length / 3).max(1);
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if candidates.contains(&word) {
        return None;
    }
    candidates
        .into_iter()
        .map(|candidate| {
            // Case-only differences are the nearest miss of all.
            let distance = if candidate.eq_ignore_ascii_case(word) {
                0
            } else {
                edit_distance(&word.to_ascii_lowercase(), &candidate.to_ascii_lowercase())
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= allowed && *distance < length)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `" (did you mean \"x\"?)"`, or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|found| format!(" (did you mean \"{found}\"?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("clikcid", "clickid"), 2);
        assert_eq!(edit_distance("über", "uber"), 1);
    }

    #[test]
    fn near_misses_are_suggested_and_far_ones_are_not() {
        let macros = [
            "clickid",
            "click_id",
            "campaign",
            "sub1",
            "sub10",
            "external_id",
        ];
        assert_eq!(did_you_mean("clikcid", macros), Some("clickid"));
        assert_eq!(did_you_mean("sub11", macros), Some("sub1"));
        assert_eq!(did_you_mean("externalid", macros), Some("external_id"));
        assert_eq!(did_you_mean("Campaign", macros), Some("campaign"));
        assert_eq!(did_you_mean("colour", macros), None);
        assert_eq!(
            did_you_mean("x", ["y"]),
            None,
            "a one-letter word is never a typo"
        );
        assert_eq!(
            did_you_mean("sub1", macros),
            None,
            "an exact match needs no hint"
        );
        assert_eq!(
            hint("ofer_url", ["offer_url", "payout"]),
            " (did you mean \"offer_url\"?)"
        );
        assert_eq!(hint("zzz", ["offer_url"]), "");
    }
}
