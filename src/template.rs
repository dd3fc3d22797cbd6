//! URL templates with `{macro}` placeholders: offer URLs (design §4) and traffic-source
//! postback URLs of destinations (design §8). A template is parsed once, when the configuration is validated,
//! so unknown macros are configuration errors and rendering cannot fail.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Macro(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    segments: Vec<Segment>,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Every unknown macro of the template, in order, each with the known macro it is
    /// probably a typo of (all of them at once: fixing one to meet the next is slow).
    UnknownMacros(Vec<(String, Option<&'static str>)>),
    UnclosedBrace,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::UnknownMacros(names) => {
                for (index, (name, near)) in names.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "unknown macro {{{name}}}")?;
                    if let Some(near) = near {
                        write!(f, " (did you mean {{{near}}}?)")?;
                    }
                }
                Ok(())
            }
            TemplateError::UnclosedBrace => f.write_str("'{' without a closing '}'"),
        }
    }
}

impl UrlTemplate {
    /// Parses `text`, accepting only the macro names in `known`.
    pub fn parse(text: &str, known: &[&'static str]) -> Result<Self, TemplateError> {
        Self::parse_in(text, &[known])
    }

    /// Parses `text`, accepting the macro names of any of the `known` lists.
    pub fn parse_in(text: &str, known: &[&[&'static str]]) -> Result<Self, TemplateError> {
        let all = || known.iter().flat_map(|list| list.iter().copied());
        let mut unknown = Vec::new();
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, after_open) = rest.split_at(open);
            if !literal.is_empty() {
                segments.push(Segment::Literal(literal.to_string()));
            }
            let inner = &after_open[1..];
            let close = inner.find('}').ok_or(TemplateError::UnclosedBrace)?;
            let name = &inner[..close];
            if !all().any(|known| known == name) {
                unknown.push((name.to_string(), crate::suggest::did_you_mean(name, all())));
            }
            segments.push(Segment::Macro(name.to_string()));
            rest = &inner[close + 1..];
        }
        if !unknown.is_empty() {
            return Err(TemplateError::UnknownMacros(unknown));
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(Self { segments })
    }

    /// The macro names the template uses, in order (the fuzz target checks rendering
    /// value by value with it).
    pub fn macros(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Macro(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The first macro that falls in the URL's scheme, user-info, host or port, if any:
    /// one that comes before the `/`, `?` or `#` ending the authority after `://`. A
    /// value there would let a visitor or a sender choose where a request goes (issue 11
    /// item 6). Judged on the template text, conservatively: a template with no `://`
    /// before its first macro counts as having it in the origin.
    ///
    /// The text is read as a URL parser (WHATWG, the `url` crate) reads it: tabs and
    /// line breaks are dropped, and any run of `/` and `\` after `://` is skipped before
    /// the authority starts (`https:////{sub1}/` has its host in `{sub1}`), so the
    /// authority has ended only at a `/`, `?` or `#` after at least one other character.
    pub fn macro_in_origin(&self) -> Option<&str> {
        let mut before = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    before.extend(text.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')))
                }
                // Every later macro comes after this one, so the first decides.
                Segment::Macro(name) => {
                    let origin_ended = before.split_once("://").is_some_and(|(_, rest)| {
                        rest.trim_start_matches(['/', '\\'])
                            .find(['/', '?', '#'])
                            .is_some_and(|end| end > 0)
                    });
                    return (!origin_ended).then_some(name.as_str());
                }
            }
        }
        None
    }

    /// The template as written, macros in braces.
    pub fn as_text(&self) -> String {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.clone(),
                Segment::Macro(name) => format!("{{{name}}}"),
            })
            .collect()
    }

    /// Fills every macro with `value(name)` percent-encoded (absent values become empty).
    pub fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Macro(name) => out.push_str(&percent_encode(value(name).unwrap_or(""))),
            }
        }
        out
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that a value can
/// never add a path, a query, a fragment, a user-info or a line break to a URL.
pub fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["clickid", "sub1"];

    #[test]
    fn parses_and_renders_with_encoding() {
        let template =
            UrlTemplate::parse("https://o.example/?a={clickid}&b={sub1}&c=1", KNOWN).unwrap();
        assert_eq!(
            template.as_text(),
            "https://o.example/?a={clickid}&b={sub1}&c=1"
        );
        let rendered = template.render(|name| match name {
            "clickid" => Some("abc"),
            "sub1" => Some("x y/&?#@\r\n\\é"),
            _ => None,
        });
        assert_eq!(
            rendered,
            "https://o.example/?a=abc&b=x%20y%2F%26%3F%23%40%0D%0A%5C%C3%A9&c=1"
        );
    }

    #[test]
    fn absent_values_render_empty() {
        let template = UrlTemplate::parse("https://o.example/?b={sub1}", KNOWN).unwrap();
        assert_eq!(template.render(|_| None), "https://o.example/?b=");
    }

    #[test]
    fn macros_in_the_origin_are_found() {
        for (text, found) in [
            ("http://{sub1}:8899/x", Some("sub1")),
            ("https://{sub1}.t.example/", Some("sub1")),
            ("https://t.example:{sub1}/", Some("sub1")),
            ("https://t.example{sub1}/", Some("sub1")),
            ("{sub1}://t.example/", Some("sub1")),
            ("https://{clickid}@t.example/", Some("clickid")),
            ("https:/{sub1}/x", Some("sub1")),
            // Found by fuzzing (fuzz/fuzz_targets/url_template.rs): a URL parser skips
            // every slash and backslash after `://` and drops tabs and line breaks, so
            // these values would be the host.
            ("https:////{sub1}/x", Some("sub1")),
            ("https://\\/{sub1}/x", Some("sub1")),
            ("https://\t/{sub1}/x", Some("sub1")),
            ("WS://///{sub1}//x/", Some("sub1")),
            ("https:///?x=://{sub1}/", Some("sub1")),
            ("https://\\t.example/{sub1}", None),
            ("https:///t.example/{sub1}", None),
            ("https://t.example", None),
            ("https://t.example/{sub1}", None),
            ("https://t.example?c={clickid}&s={sub1}", None),
            ("https://t.example:8080/p?c={clickid}", None),
            ("https://t.example#{sub1}", None),
        ] {
            let template = UrlTemplate::parse(text, KNOWN).unwrap();
            assert_eq!(template.macro_in_origin(), found, "{text}");
        }
    }

    #[test]
    fn refuses_unknown_macros_and_unclosed_braces() {
        assert_eq!(
            UrlTemplate::parse("https://o.example/?a={subid}", KNOWN),
            Err(TemplateError::UnknownMacros(vec![("subid".into(), None)]))
        );
        // Every unknown macro at once, with the near misses named.
        let error = UrlTemplate::parse("https://o.example/?a={clikcid}&b={sub11}&c={zzz}", KNOWN)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown macro {clikcid} (did you mean {clickid}?), unknown macro {sub11} \
             (did you mean {sub1}?), unknown macro {zzz}"
        );
        assert_eq!(
            UrlTemplate::parse("https://o.example/?a={clickid", KNOWN),
            Err(TemplateError::UnclosedBrace)
        );
    }
}
