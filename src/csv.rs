//! CSV exports of the admin API's lists and report (design §9, `format=csv`): RFC 4180
//! text with a header row, CRLF line ends, and cells that cannot run as spreadsheet
//! formulas. Cells are taken from the same JSON items the API answers with, so a CSV row
//! and its JSON item always agree.

use serde_json::Value;

/// One column: its header, and a JSON pointer into an API item (`/sub/sub1`).
pub type Column = (&'static str, &'static str);

/// The text of one JSON value as a cell: strings as they are, numbers and booleans in
/// JSON notation, null and absent as empty, arrays and objects as compact JSON.
pub fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => crate::json::text(other),
    }
}

/// One cell, escaped. A value a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab or CR first, and not a number) gets a leading `'`: sub-IDs come from visitors,
/// and a CSV opened in a spreadsheet must not execute what a visitor typed (OWASP's
/// advice for CSV injection). Numbers such as `-5.000000` are left alone.
pub fn escape(cell: &str) -> String {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|first| matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r'))
        && !is_float(cell);
    let cell = if risky {
        format!("'{cell}")
    } else {
        cell.to_string()
    };
    if cell.contains([',', '"', '\r', '\n']) || cell.starts_with(' ') || cell.ends_with(' ') {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// Whether `text` parses as an `f64` (`str::parse`'s grammar, which decides by form
/// alone: an out-of-range number is infinity, not an error), without linking the float
/// parser into the worker (design §13). Checked against `str::parse` by the tests.
fn is_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if ["inf", "infinity", "nan"]
        .iter()
        .any(|word| unsigned.eq_ignore_ascii_case(word))
    {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|exponent| {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        !exponent.is_empty() && digits(exponent)
    });
    mantissa_ok && exponent_ok
}

fn line<I: IntoIterator<Item = String>>(out: &mut String, cells: I) {
    let cells: Vec<String> = cells.into_iter().map(|cell| escape(&cell)).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// A header row and one row per item.
pub fn table(columns: &[Column], items: &[Value]) -> String {
    let mut out = String::new();
    line(&mut out, columns.iter().map(|(name, _)| name.to_string()));
    for item in items {
        line(
            &mut out,
            columns
                .iter()
                .map(|(_, pointer)| cell_text(item.pointer(pointer))),
        );
    }
    out
}

/// The report (`report::assemble`'s answer) as CSV: its grouping keys, then the counts
/// and rates, then one column per currency for revenue, pending revenue and EPC
/// (`revenue_USD`), and one per refusal outcome (`refused_bad_token`), for every
/// currency and outcome in the total. A trailing `total` row has empty keys.
pub fn report(report: &Value) -> String {
    let keys: Vec<String> = report["group_by"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let total = &report["total"];
    let names_of = |field: &str| -> Vec<String> {
        total[field]
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    };
    let currencies = {
        let mut all = names_of("revenue");
        all.extend(names_of("pending_revenue"));
        all.sort();
        all.dedup();
        all
    };
    let outcomes = names_of("refused_postbacks");
    // Costs (docs/costs.md), when there are any: ROI, then per currency of the profit
    // (revenue's and cost's) cost, profit, CPA and CPC.
    let costed = !names_of("cost").is_empty();
    let cost_currencies = if costed {
        names_of("profit")
    } else {
        Vec::new()
    };
    const COST_FIELDS: [&str; 4] = ["cost", "profit", "cpa", "cpc"];
    const COUNTS: [&str; 12] = [
        "clicks",
        "bot_clicks",
        "conversions",
        "approved",
        "cr",
        "approval_rate",
        "duplicates",
        "lp_views",
        "lp_clicks",
        "lp_ctr",
        "impressions",
        "ctr",
    ];
    let mut header: Vec<String> = keys.clone();
    header.extend(COUNTS.iter().map(|name| name.to_string()));
    for currency in &currencies {
        header.push(format!("revenue_{currency}"));
        header.push(format!("pending_revenue_{currency}"));
        header.push(format!("epc_{currency}"));
    }
    header.extend(outcomes.iter().map(|outcome| format!("refused_{outcome}")));
    if costed {
        header.push("roi".into());
    }
    for currency in &cost_currencies {
        header.extend(
            COST_FIELDS
                .iter()
                .map(|field| format!("{field}_{currency}")),
        );
    }
    let mut out = String::new();
    line(&mut out, header);
    let row = |out: &mut String, row: &Value, is_total: bool| {
        let mut cells: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                if is_total {
                    if index == 0 {
                        "total".to_string()
                    } else {
                        String::new()
                    }
                } else {
                    cell_text(row.get(key))
                }
            })
            .collect();
        cells.extend(COUNTS.iter().map(|name| cell_text(row.get(*name))));
        for currency in &currencies {
            for field in ["revenue", "pending_revenue", "epc"] {
                let value = row[field].get(currency);
                // A currency the group has none of is zero, not unknown; EPC stays
                // empty where there are no clicks to divide by (or clicks do not apply).
                let no_clicks = row["clicks"].as_i64().is_none_or(|clicks| clicks == 0);
                let text = match value {
                    Some(value) => cell_text(Some(value)),
                    None if field == "epc" && no_clicks => String::new(),
                    None => "0.000000".to_string(),
                };
                cells.push(text);
            }
        }
        cells.extend(outcomes.iter().map(|outcome| {
            row["refused_postbacks"]
                .get(outcome)
                .map_or_else(|| "0".to_string(), |n| cell_text(Some(n)))
        }));
        if costed {
            cells.push(cell_text(row.get("roi")));
        }
        for currency in &cost_currencies {
            for field in COST_FIELDS {
                // Money is zero where the group has none; per-unit figures empty.
                cells.push(match row[field].get(currency) {
                    Some(value) => cell_text(Some(value)),
                    None if field == "cost" || field == "profit" => "0.000000".into(),
                    None => String::new(),
                });
            }
        }
        line(out, cells);
    };
    for item in report["rows"].as_array().into_iter().flatten() {
        row(&mut out, item, false);
    }
    row(&mut out, total, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn is_float_agrees_with_str_parse() {
        // Every string of up to five characters over an alphabet that covers the grammar,
        // and the words.
        let alphabet = ['0', '7', '.', 'e', 'E', '+', '-', 'i', 'n', 'x'];
        let mut texts: Vec<String> = vec![String::new()];
        let mut frontier = texts.clone();
        for _ in 0..5 {
            frontier = frontier
                .iter()
                .flat_map(|text| alphabet.iter().map(move |c| format!("{text}{c}")))
                .collect();
            texts.extend(frontier.iter().cloned());
        }
        for word in [
            "inf", "Infinity", "NaN", "infinit", "nanx", "1e999", " 1", "1 ", "0x1",
        ] {
            for sign in ["", "+", "-", "--"] {
                texts.push(format!("{sign}{word}"));
            }
        }
        for text in &texts {
            assert_eq!(is_float(text), text.parse::<f64>().is_ok(), "{text:?}");
        }
    }

    #[test]
    fn cells_are_quoted_when_needed_and_never_formulas() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("two\nlines"), "\"two\nlines\"");
        assert_eq!(escape(" padded"), "\" padded\"");
        assert_eq!(escape("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(escape("+1"), "+1", "a number stays a number");
        assert_eq!(escape("-5.000000"), "-5.000000");
        assert_eq!(escape("-cmd"), "'-cmd");
        assert_eq!(escape("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn a_table_has_a_header_and_one_row_per_item() {
        let items = vec![
            json!({ "id": "a", "n": 1, "sub": { "sub1": "x,y" }, "params": [["k", "v"]], "gone": null }),
            json!({ "id": "b", "n": 2.5, "sub": {}, "params": [] }),
        ];
        let columns: &[Column] = &[
            ("id", "/id"),
            ("n", "/n"),
            ("sub1", "/sub/sub1"),
            ("params", "/params"),
            ("gone", "/gone"),
        ];
        assert_eq!(
            table(columns, &items),
            "id,n,sub1,params,gone\r\na,1,\"x,y\",\"[[\"\"k\"\",\"\"v\"\"]]\",\r\nb,2.5,,[],\r\n"
        );
        assert_eq!(table(columns, &[]), "id,n,sub1,params,gone\r\n");
    }

    #[test]
    fn the_report_gets_a_column_per_currency_and_outcome_and_a_total() {
        let report = json!({
            "group_by": ["day"],
            "rows": [
                { "day": "2025-03-10", "clicks": 4, "bot_clicks": 1, "conversions": 2, "approved": 1,
                  "revenue": { "USD": "10.000000" }, "pending_revenue": {}, "cr": "0.500000",
                  "epc": { "USD": "2.500000" }, "approval_rate": "0.500000", "duplicates": 0,
                  "lp_views": 2, "lp_clicks": 1, "lp_ctr": "0.500000", "impressions": 10,
                  "ctr": "0.400000", "refused_postbacks": { "bad_token": 3 } },
                { "day": "2025-03-11", "clicks": 0, "bot_clicks": 0, "conversions": 0, "approved": 0,
                  "revenue": {}, "pending_revenue": {}, "cr": null, "epc": {}, "approval_rate": null,
                  "duplicates": 0, "lp_views": 0, "lp_clicks": 0, "lp_ctr": null,
                  "impressions": 0, "ctr": null, "refused_postbacks": {} }
            ],
            "total": { "clicks": 4, "bot_clicks": 1, "conversions": 2, "approved": 1,
                  "revenue": { "USD": "10.000000" }, "pending_revenue": { "EUR": "1.000000" }, "cr": "0.500000",
                  "epc": { "USD": "2.500000" }, "approval_rate": "0.500000", "duplicates": 0,
                  "refused_postbacks": { "bad_token": 3 } }
        });
        let text = report_csv_lines(&report);
        assert_eq!(
            text[0],
            "day,clicks,bot_clicks,conversions,approved,cr,approval_rate,duplicates,lp_views,lp_clicks,lp_ctr,impressions,ctr,revenue_EUR,pending_revenue_EUR,epc_EUR,revenue_USD,pending_revenue_USD,epc_USD,refused_bad_token"
        );
        assert_eq!(
            text[1],
            "2025-03-10,4,1,2,1,0.500000,0.500000,0,2,1,0.500000,10,0.400000,0.000000,0.000000,0.000000,10.000000,0.000000,2.500000,3"
        );
        assert_eq!(
            text[2],
            "2025-03-11,0,0,0,0,,,0,0,0,,0,,0.000000,0.000000,,0.000000,0.000000,,0"
        );
        assert!(text[3].starts_with("total,4,1,2,1,"), "{}", text[3]);
        assert_eq!(text.len(), 4);
    }

    // The query's zone rules come from chrono-tz, which only native builds have.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_report_gets_roi_and_cost_columns_per_currency_when_there_are_costs() {
        // The worked example of docs/costs.md: 1,000 clicks at 0.05 USD, 20 approved at 4.
        let query = crate::report::parse_query(
            &[
                ("from".into(), "2025-03-10".into()),
                ("to".into(), "2025-03-10".into()),
            ],
            "UTC",
            1_741_651_200_000,
        )
        .unwrap();
        let clicks: Vec<crate::report::ClickFigureRow> = vec![crate::store::from_value(&json!({
            "day": "2025-03-10", "clicks": 1000, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0,
            "cost_currency": "USD",
            "cost_micros": 50_000_000
        }))
        .unwrap()];
        let conversions: Vec<crate::report::ConversionFigureRow> =
            vec![crate::store::from_value(&json!({
                "day": "2025-03-10", "currency": "USD", "conversions": 20, "approved": 20,
                "revenue_micros": 80_000_000, "pending_micros": 0
            }))
            .unwrap()];
        let value = crate::report::assemble(&query, &clicks, &conversions, &[]);
        let text = report_csv_lines(&value);
        assert!(
            text[0].ends_with(",roi,cost_USD,profit_USD,cpa_USD,cpc_USD"),
            "{}",
            text[0]
        );
        assert!(
            text[1].ends_with(",0.600000,50.000000,30.000000,2.500000,0.050000"),
            "{}",
            text[1]
        );
        assert!(text[2].starts_with("total,"), "{}", text[2]);
    }

    // `parse_query` takes chrono-tz's zone rules: native only, as the test above.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_report_by_flow_dimensions_has_their_columns() {
        let query = crate::report::parse_query(
            &[
                ("from".into(), "2025-03-10".into()),
                ("to".into(), "2025-03-10".into()),
                ("group_by".into(), "offer,device,region".into()),
            ],
            "UTC",
            1_741_651_200_000,
        )
        .unwrap();
        let clicks: Vec<crate::report::ClickFigureRow> = vec![crate::store::from_value(&json!({
            "offer": "offer-a", "device": "mobile", "region": "TX", "clicks": 4,
            "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0,
            "cost_currency": null, "cost_micros": null
        }))
        .unwrap()];
        let value = crate::report::assemble(&query, &clicks, &[], &[]);
        let text = report_csv_lines(&value);
        assert!(
            text[0].starts_with("offer,device,region,clicks,"),
            "{}",
            text[0]
        );
        assert!(text[1].starts_with("offer-a,mobile,TX,4,"), "{}", text[1]);
    }

    fn report_csv_lines(value: &Value) -> Vec<String> {
        let text = report(value);
        assert!(text.ends_with("\r\n"));
        text.trim_end().split("\r\n").map(str::to_string).collect()
    }
}
