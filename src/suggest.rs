//! "Did you mean …?" for names a person typed: configuration keys, URL macros, network
//! and campaign names (`edgeback-cli check-config`, design §5) and admin API query
//! parameters (design §9). A near miss is a candidate within a small edit distance.

/// Edit distance between `a` and `b` in characters: insertions, deletions,
/// substitutions and swaps of two neighbours (optimal string alignment), since swapped
/// letters are the commonest typo (`tnue`, `clikcid`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
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
        assert_eq!(edit_distance("clikcid", "clickid"), 1, "a swap is one edit");
        assert_eq!(edit_distance("tnue", "tune"), 1);
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
