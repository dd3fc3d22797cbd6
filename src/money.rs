//! Money: payouts as exact integer micro-units (design §6, §10), and ISO 4217 codes.

/// Micro-units in one unit of currency.
pub const MICROS_PER_UNIT: i64 = 1_000_000;
/// At most this many fractional digits are accepted.
pub const MAX_FRACTION_DIGITS: usize = 6;

/// Which decimal separator a network sends (`decimal_separator` in its profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalSeparator {
    /// Not declared: `.` or `,`, but a `,` followed by exactly three digits (`1,000`) is
    /// refused as ambiguous, since many senders write thousands that way.
    #[default]
    Either,
    /// Only `.`; any `,` is refused.
    Dot,
    /// Only `,`; any `.` is refused, and `1,000` is one unit.
    Comma,
}

impl DecimalSeparator {
    /// The configuration value: `"."` or `","`.
    pub fn from_config(text: &str) -> Option<Self> {
        match text {
            "." => Some(DecimalSeparator::Dot),
            "," => Some(DecimalSeparator::Comma),
            _ => None,
        }
    }
}

/// Why a payout text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutError {
    Empty,
    /// Anything that is not digits with at most one `.` or `,` decimal separator.
    NotADecimal,
    /// `1,000`: a thousands separator or a decimal comma? Refused unless the network
    /// declares its decimal separator.
    AmbiguousComma,
    /// A separator other than the one the network declared.
    WrongSeparator(DecimalSeparator),
    TooManyFractionDigits,
    Negative,
    TooLarge,
}

impl PayoutError {
    pub fn detail(&self) -> &'static str {
        match self {
            PayoutError::Empty => "payout is empty",
            PayoutError::NotADecimal => {
                "payout must be a plain decimal number with '.' or ',' as the separator"
            }
            PayoutError::AmbiguousComma => {
                "ambiguous: a ',' followed by exactly three digits may be a thousands separator \
                 (1,000 = one thousand) or a decimal comma (1,000 = one); send '.' as the \
                 decimal separator, or declare the network's decimal_separator"
            }
            PayoutError::WrongSeparator(DecimalSeparator::Comma) => {
                "this network's decimal separator is ','; '.' is not accepted"
            }
            PayoutError::WrongSeparator(_) => {
                "this network's decimal separator is '.'; ',' is not accepted"
            }
            PayoutError::TooManyFractionDigits => "payout has more than 6 fractional digits",
            PayoutError::Negative => "payout is negative",
            PayoutError::TooLarge => "payout is too large",
        }
    }
}

/// Parses a decimal payout into micro-units.
///
/// Accepted: an optional leading `-` (refused unless `allow_negative`), digits, and at most
/// one decimal separator (`.` or `,`) followed by at most six digits: `12.5`, `12,50`, `0`,
/// `0.000001`. Refused: currency symbols or codes, thousands separators (`1,234.56` has two
/// separators), exponents, `NaN`, signs other than a leading `-`, whitespace inside.
/// Surrounding whitespace is trimmed. The separator is not declared
/// ([`DecimalSeparator::Either`]): see [`parse_payout`].
pub fn parse_payout_micros(text: &str, allow_negative: bool) -> Result<i64, PayoutError> {
    parse_payout(text, allow_negative, DecimalSeparator::Either)
}

/// [`parse_payout_micros`] with the network's declared decimal separator: with `Either`,
/// a `,` followed by exactly three digits and nothing else (`1,000`, `-12,500`) is
/// [`PayoutError::AmbiguousComma`]; with `Dot` a `,` and with `Comma` a `.` is
/// [`PayoutError::WrongSeparator`].
pub fn parse_payout(
    text: &str,
    allow_negative: bool,
    separator: DecimalSeparator,
) -> Result<i64, PayoutError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PayoutError::Empty);
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (has_dot, has_comma) = (unsigned.contains('.'), unsigned.contains(','));
    match separator {
        DecimalSeparator::Dot if has_comma => return Err(PayoutError::WrongSeparator(separator)),
        DecimalSeparator::Comma if has_dot => return Err(PayoutError::WrongSeparator(separator)),
        _ => {}
    }
    let mut parts = unsigned.splitn(2, ['.', ',']);
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or_default();
    let has_separator = unsigned.contains(['.', ',']);
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(PayoutError::NotADecimal);
    }
    // "5." and ".5" are unusual but unambiguous; a lone separator is not a number.
    if whole.is_empty() && fraction.is_empty() {
        return Err(PayoutError::NotADecimal);
    }
    if has_separator && fraction.is_empty() && whole.is_empty() {
        return Err(PayoutError::NotADecimal);
    }
    // Checked after the shape (so `1,000.5` stays "not a decimal") and before the value.
    if separator == DecimalSeparator::Either && has_comma && fraction.len() == 3 {
        return Err(PayoutError::AmbiguousComma);
    }
    if fraction.len() > MAX_FRACTION_DIGITS {
        return Err(PayoutError::TooManyFractionDigits);
    }
    let whole_value = whole
        .trim_start_matches('0')
        .bytes()
        .try_fold(0i64, |acc, digit| {
            acc.checked_mul(10)?.checked_add(i64::from(digit - b'0'))
        })
        .ok_or(PayoutError::TooLarge)?;
    let mut fraction_value = 0i64;
    for position in 0..MAX_FRACTION_DIGITS {
        let digit = fraction.as_bytes().get(position).map_or(0, |d| d - b'0');
        fraction_value = fraction_value * 10 + i64::from(digit);
    }
    let micros = whole_value
        .checked_mul(MICROS_PER_UNIT)
        .and_then(|value| value.checked_add(fraction_value))
        .ok_or(PayoutError::TooLarge)?;
    if negative && micros != 0 {
        if !allow_negative {
            return Err(PayoutError::Negative);
        }
        return Ok(-micros);
    }
    Ok(micros)
}

/// Formats micro-units as a decimal with six fractional digits: `12.500000`.
pub fn format_micros(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let magnitude = micros.unsigned_abs();
    let unit = MICROS_PER_UNIT.unsigned_abs();
    format!("{sign}{}.{:06}", magnitude / unit, magnitude % unit)
}

/// Active ISO 4217 currency codes (alphabetic), as of the 2024 list.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV",
    "WST", "XAF", "XAG", "XAU", "XCD", "XCG", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER",
    "ZAR", "ZMW", "ZWG",
];

/// The canonical (upper-case) ISO 4217 code for `text`, case-insensitively; `None` if unknown.
pub fn normalize_currency(text: &str) -> Option<&'static str> {
    let trimmed = text.trim();
    ISO_4217
        .iter()
        .find(|code| code.eq_ignore_ascii_case(trimmed))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_table() {
        use PayoutError::*;
        let cases: &[(&str, Result<i64, PayoutError>)] = &[
            ("12.5", Ok(12_500_000)),
            ("12,50", Ok(12_500_000)),
            ("0", Ok(0)),
            ("0.000001", Ok(1)),
            ("$5", Err(NotADecimal)),
            ("5 USD", Err(NotADecimal)),
            ("1e3", Err(NotADecimal)),
            ("NaN", Err(NotADecimal)),
            ("1,234.56", Err(NotADecimal)),
            ("1.2.3", Err(NotADecimal)),
            ("-3", Err(Negative)),
            ("0.0000001", Err(TooManyFractionDigits)),
            ("", Err(Empty)),
            ("  7.25 ", Ok(7_250_000)),
            ("100", Ok(100_000_000)),
            ("5.", Ok(5_000_000)),
            (".5", Ok(500_000)),
            (".", Err(NotADecimal)),
            ("-", Err(NotADecimal)),
            ("+5", Err(NotADecimal)),
            ("--5", Err(NotADecimal)),
            ("5 5", Err(NotADecimal)),
            ("inf", Err(NotADecimal)),
            ("٣", Err(NotADecimal)),
            ("-0", Ok(0)),
            ("00012.000100", Ok(12_000_100)),
            ("9223372036854", Ok(9_223_372_036_854_000_000)),
            ("9223372036855", Err(TooLarge)),
            ("99999999999999999999999", Err(TooLarge)),
        ];
        for (text, expected) in cases {
            assert_eq!(&parse_payout_micros(text, false), expected, "{text:?}");
        }
    }

    /// Issue 11 item 8: `1,000` is refused unless the network declares its separator.
    #[test]
    fn a_comma_before_exactly_three_digits_is_ambiguous() {
        use DecimalSeparator::*;
        use PayoutError::*;
        let cases: &[(&str, DecimalSeparator, Result<i64, PayoutError>)] = &[
            ("1,000", Either, Err(AmbiguousComma)),
            ("12,500", Either, Err(AmbiguousComma)),
            ("-1,000", Either, Err(AmbiguousComma)),
            (",500", Either, Err(AmbiguousComma)),
            ("1,00", Either, Ok(1_000_000)),
            ("1,0000", Either, Ok(1_000_000)),
            ("1,5", Either, Ok(1_500_000)),
            ("1.000", Either, Ok(1_000_000)),
            ("1,000", Comma, Ok(1_000_000)),
            ("1,5", Comma, Ok(1_500_000)),
            ("1.000", Comma, Err(WrongSeparator(Comma))),
            ("1.5", Comma, Err(WrongSeparator(Comma))),
            ("1000", Comma, Ok(1_000_000_000)),
            ("1.000", Dot, Ok(1_000_000)),
            ("1,000", Dot, Err(WrongSeparator(Dot))),
            ("1,5", Dot, Err(WrongSeparator(Dot))),
            ("1000", Dot, Ok(1_000_000_000)),
            ("1,234.56", Either, Err(NotADecimal)),
        ];
        for (text, separator, expected) in cases {
            assert_eq!(
                &parse_payout(text, false, *separator),
                expected,
                "{text:?} with {separator:?}"
            );
        }
        assert_eq!(parse_payout("-1,000", true, Either), Err(AmbiguousComma));
        assert!(AmbiguousComma.detail().contains("decimal_separator"));
    }

    #[test]
    fn negative_payouts_when_allowed() {
        assert_eq!(parse_payout_micros("-3", true), Ok(-3_000_000));
        assert_eq!(parse_payout_micros("-0,5", true), Ok(-500_000));
    }

    #[test]
    fn formats_micros() {
        assert_eq!(format_micros(12_500_000), "12.500000");
        assert_eq!(format_micros(1), "0.000001");
        assert_eq!(format_micros(-3_000_000), "-3.000000");
        assert_eq!(format_micros(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn currencies() {
        assert_eq!(normalize_currency("usd"), Some("USD"));
        assert_eq!(normalize_currency(" Eur "), Some("EUR"));
        assert_eq!(normalize_currency("XXX"), None);
        assert_eq!(normalize_currency("US"), None);
        assert_eq!(normalize_currency(""), None);
    }
}
