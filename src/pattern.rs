//! A small regular-expression subset for flow filters on click parameters (docs/flows.md),
//! matched in time proportional to text length × pattern length, whatever the input.
//!
//! Why not a regex crate: the worker's size is a budget (design §13), and the parameter
//! filters need only literals, classes, `.`, the quantifiers `*`, `+`, `?`, the anchors
//! `^` and `$`, and top-level alternation `|`. Groups, counted repetition and
//! back-references are refused when the configuration is checked, never met at click
//! time. Matching simulates the pattern as a set of states (Thompson's construction with
//! no groups), so no pattern can backtrack exponentially.

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 256;

/// One position of a pattern: what it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Any,
    Char(char),
    /// A bracket class: inclusive ranges, negated with a leading `^`.
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Any => true,
            Atom::Char(expected) => *expected == c,
            Atom::Class { ranges, negated } => {
                ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
            }
        }
    }
}

/// An atom with its quantifier: `optional` for `*` and `?`, `repeats` for `*` and `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    atom: Atom,
    optional: bool,
    repeats: bool,
}

/// One alternative of a pattern (the parts between top-level `|`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Branch {
    at_start: bool,
    at_end: bool,
    items: Vec<Item>,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    branches: Vec<Branch>,
}

fn class_escape(c: char) -> Option<Vec<(char, char)>> {
    match c {
        'd' => Some(vec![('0', '9')]),
        'w' => Some(vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]),
        's' => Some(vec![(' ', ' '), ('\t', '\r')]),
        _ => None,
    }
}

/// Characters that must be escaped to stand for themselves.
const SPECIAL: &str = ".[]()*+?^$|\\{}";

fn escaped(c: char) -> Result<Atom, String> {
    if let Some(ranges) = class_escape(c) {
        return Ok(Atom::Class {
            ranges,
            negated: false,
        });
    }
    if SPECIAL.contains(c) || c == '/' || c == '-' {
        return Ok(Atom::Char(c));
    }
    Err(format!(
        "\\{c} is not supported (escapes: \\d \\w \\s and punctuation)"
    ))
}

fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Atom, String> {
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or("unclosed [")?;
        if c == ']' && !first {
            break;
        }
        first = false;
        let low = if c == '\\' {
            let next = chars.next().ok_or("pattern ends with \\")?;
            if let Some(more) = class_escape(next) {
                ranges.extend(more);
                continue;
            }
            next
        } else {
            c
        };
        // `a-z` is a range; a `-` before `]` is itself.
        if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            if let Some(&high) = ahead.peek().filter(|&&high| high != ']') {
                chars.next();
                chars.next();
                if high < low {
                    return Err(format!("range {low}-{high} is backwards"));
                }
                ranges.push((low, high));
                continue;
            }
        }
        ranges.push((low, low));
    }
    Ok(Atom::Class { ranges, negated })
}

fn parse_branch(text: &str) -> Result<Branch, String> {
    let mut chars = text.chars().peekable();
    let at_start = chars.next_if_eq(&'^').is_some();
    let mut items: Vec<Item> = Vec::new();
    let mut at_end = false;
    while let Some(c) = chars.next() {
        if at_end {
            return Err("$ must end the pattern (or an alternative)".into());
        }
        let atom = match c {
            '.' => Atom::Any,
            '[' => parse_class(&mut chars)?,
            '\\' => escaped(chars.next().ok_or("pattern ends with \\")?)?,
            '$' => {
                at_end = true;
                continue;
            }
            '(' | ')' => return Err("groups are not supported".into()),
            '{' | '}' => return Err("counted repetition {m,n} is not supported".into()),
            '^' => return Err("^ must start the pattern (or an alternative)".into()),
            '*' | '+' | '?' => return Err(format!("{c} has nothing to repeat")),
            other => Atom::Char(other),
        };
        let (optional, repeats) = match chars.next_if(|next| matches!(next, '*' | '+' | '?')) {
            Some('*') => (true, true),
            Some('+') => (false, true),
            Some('?') => (true, false),
            _ => (false, false),
        };
        if chars
            .peek()
            .is_some_and(|next| matches!(next, '*' | '+' | '?'))
        {
            return Err("a quantifier cannot follow a quantifier".into());
        }
        items.push(Item {
            atom,
            optional,
            repeats,
        });
    }
    Ok(Branch {
        at_start,
        at_end,
        items,
    })
}

impl Pattern {
    /// Compiles `source`, or says what in it is not supported.
    pub fn parse(source: &str) -> Result<Pattern, String> {
        if source.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "is {} bytes; at most {MAX_PATTERN_BYTES}",
                source.len()
            ));
        }
        let branches = source
            .split('|')
            .map(parse_branch)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pattern {
            source: source.to_string(),
            branches,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `text` contains a match (or, anchored, is one).
    pub fn is_match(&self, text: &str) -> bool {
        self.branches.iter().any(|branch| branch.is_match(text))
    }
}

impl Branch {
    /// Adds `state` and every state reachable from it by skipping optional items.
    fn add(&self, states: &mut [bool], state: usize) {
        let mut next = state;
        while let Some(slot) = states.get_mut(next) {
            *slot = true;
            match self.items.get(next) {
                Some(item) if item.optional => next += 1,
                _ => break,
            }
        }
    }

    fn accepts(&self, states: &[bool]) -> bool {
        states.get(self.items.len()).copied().unwrap_or(false)
    }

    fn is_match(&self, text: &str) -> bool {
        let size = self.items.len() + 1;
        let mut current = vec![false; size];
        let mut next = vec![false; size];
        self.add(&mut current, 0);
        for c in text.chars() {
            if self.accepts(&current) && !self.at_end {
                return true;
            }
            next.iter_mut().for_each(|slot| *slot = false);
            for (state, item) in self.items.iter().enumerate() {
                if current.get(state).copied().unwrap_or(false) && item.atom.matches(c) {
                    self.add(&mut next, state + 1);
                    if item.repeats {
                        self.add(&mut next, state);
                    }
                }
            }
            // Unanchored: a match may begin at any character.
            if !self.at_start {
                self.add(&mut next, 0);
            }
            std::mem::swap(&mut current, &mut next);
            if !current.iter().any(|&on| on) {
                return false;
            }
        }
        self.accepts(&current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern).unwrap().is_match(text)
    }

    #[test]
    fn literals_anchors_and_classes() {
        assert!(matches("fb", "src_fb_1"));
        assert!(!matches("^fb", "src_fb_1"));
        assert!(matches("^fb", "fb_1"));
        assert!(matches("_1$", "fb_1"));
        assert!(!matches("_1$", "fb_12"));
        assert!(matches("^$", ""));
        assert!(!matches("^$", "x"));
        assert!(matches("", "anything"));
        assert!(matches("^zone-\\d+$", "zone-123"));
        assert!(!matches("^zone-\\d+$", "zone-"));
        assert!(!matches("^zone-\\d+$", "zone-12a"));
        assert!(matches("^[a-c]x?[^0-9]*$", "bxyz"));
        assert!(!matches("^[a-c]x?[^0-9]*$", "bxy1"));
        assert!(matches("^a.c$", "abc"));
        assert!(matches("^a\\.c$", "a.c"));
        assert!(!matches("^a\\.c$", "abc"));
        assert!(matches("^[-a]+$", "a-a"));
        assert!(matches("^[a-]+$", "a-a"));
        assert!(matches("^ab*c$", "ac"));
        assert!(matches("^ab*c$", "abbbc"));
        assert!(!matches("^ab+c$", "ac"));
        assert!(matches("^é+$", "éé"));
    }

    #[test]
    fn alternation_at_top_level() {
        assert!(matches("^google$|^bing$", "bing"));
        assert!(!matches("^google$|^bing$", "bingo"));
        assert!(matches("tiktok|^fb", "fb_x"));
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for bad in [
            "(a|b)", "a{2}", "a**", "*a", "[abc", "\\", "a\\q", "a$b", "a^b", "[z-a]",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse(&"a".repeat(MAX_PATTERN_BYTES + 1)).is_err());
    }

    #[test]
    fn catastrophic_patterns_stay_linear() {
        // Exponential for a backtracking engine; here one pass over the text.
        let pattern = Pattern::parse(&format!("^{}{}$", "a?".repeat(60), "a".repeat(60))).unwrap();
        let started = std::time::Instant::now();
        assert!(pattern.is_match(&"a".repeat(60)));
        assert!(!pattern.is_match(&format!("{}b", "a".repeat(500))));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
