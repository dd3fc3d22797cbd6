use super::tzdb::{zone_names, Tzdb};
use super::*;
use chrono::{NaiveDate, TimeZone};

#[test]
fn dates_match_chrono_from_year_0_to_9999() {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let first = Date::from_ymd(0, 1, 1).unwrap();
    let last = Date::from_ymd(9999, 12, 31).unwrap();
    assert_eq!(last.days_after(first), 3_652_424);
    assert_eq!(last.add_days(1), None);
    assert_eq!(first.add_days(-1), None);
    // Every day of every year, by arithmetic; the text form on every 7th day.
    let mut expected = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
    for n in 0..=last.days_after(first) {
        let day = first.add_days(n).unwrap();
        let (y, m, d) = day.ymd();
        assert_eq!(
            (y as i32, m, d),
            (
                chrono::Datelike::year(&expected),
                chrono::Datelike::month(&expected),
                chrono::Datelike::day(&expected)
            )
        );
        assert_eq!((expected - epoch).num_days(), day.days_since_epoch());
        if n % 7 == 0 {
            assert_eq!(day.to_string(), expected.format("%Y-%m-%d").to_string());
            assert_eq!(Date::parse(&day.to_string()), Some(day));
        }
        expected = expected.succ_opt().unwrap();
    }
}

#[test]
fn only_real_dates_in_the_exact_form_parse() {
    assert_eq!(
        Date::parse("2024-02-29").map(|d| d.ymd()),
        Some((2024, 2, 29))
    );
    for bad in [
        "2023-02-29",
        "1900-02-29",
        "2025-13-01",
        "2025-00-10",
        "2025-01-00",
        "2025-04-31",
        "2025-3-01",
        "2025-03-1",
        "+025-03-01",
        "2025/03/01",
        "2025-03-01 ",
        "２０２５-03-01",
        "",
        "-001-01-01",
        "2025-0a-01",
    ] {
        assert_eq!(Date::parse(bad), None, "{bad}");
    }
    assert_eq!(
        Date::from_unix_ms(-1).map(|d| d.to_string()),
        Some("1969-12-31".into())
    );
    assert_eq!(Date::from_unix_ms(i64::MAX), None);
}

#[test]
fn zone_names_are_checked_for_form_then_against_the_rules() {
    for good in [
        "UTC",
        "Europe/Berlin",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
        "America/Port-au-Prince",
    ] {
        assert!(is_zone_name(good), "{good}");
        assert_eq!(check_zone(&Tzdb, good), Ok(()));
    }
    for bad in [
        "",
        "/Berlin",
        "Europe/",
        "Europe//Berlin",
        "+01:00",
        "Europe/Berlin ",
        "../etc/passwd",
        "Europe/Berlin\n",
    ] {
        assert!(!is_zone_name(bad), "{bad:?}");
        assert!(check_zone(&Tzdb, bad).is_err());
    }
    assert!(is_zone_name("Mars/Olympus"));
    assert!(check_zone(&Tzdb, "Mars/Olympus").is_err());
}

/// The first existing whole local hour of a day, earliest where it repeats: how the
/// report cut days with chrono-tz before the zone rules moved behind [`ZoneRules`].
fn chrono_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> Option<i64> {
    (0..24).find_map(|hour| {
        tz.from_local_datetime(&date.and_hms_opt(hour, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

#[test]
fn midnights_match_chrono_for_every_zone_from_2020_to_2030() {
    let (from, to) = (
        Date::from_ymd(2020, 1, 1).unwrap(),
        Date::from_ymd(2030, 12, 31).unwrap(),
    );
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for name in zone_names() {
        let tz: chrono_tz::Tz = name.parse().unwrap();
        let windows = ZoneOffsets::new(&Tzdb, name).day_windows(from, to);
        assert_eq!(windows.len() as i64, to.days_after(from) + 1, "{name}");
        let mut date = first;
        let mut start = chrono_midnight(tz, date);
        for (label, ours_start, ours_end) in windows {
            let next = date.succ_opt().unwrap();
            let end = chrono_midnight(tz, next);
            if (start, end) != (Some(ours_start), Some(ours_end)) {
                mismatches.push(format!(
                    "{name} {label}: {ours_start}..{ours_end}, chrono {start:?}..{end:?}"
                ));
            }
            (date, start) = (next, end);
            checked += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} days differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn days_around_dst_changes_and_odd_offsets() {
    let day = |zone: &str, date: &str| {
        let date = Date::parse(date).unwrap();
        let windows = ZoneOffsets::new(&Tzdb, zone).day_windows(date, date);
        let (_, start, end) = windows[0].clone();
        (start, (end - start) / 60_000)
    };
    // Berlin: 23 hours in spring, 25 in autumn.
    assert_eq!(
        day("Europe/Berlin", "2025-03-30"),
        (1_743_289_200_000, 23 * 60)
    );
    assert_eq!(day("Europe/Berlin", "2025-10-26").1, 25 * 60);
    // Lord Howe moves its clocks by half an hour.
    assert_eq!(day("Australia/Lord_Howe", "2025-04-06").1, 24 * 60 + 30);
    assert_eq!(day("Australia/Lord_Howe", "2025-10-05").1, 24 * 60 - 30);
    // Chatham (+12:45/+13:45), Kathmandu (+05:45), Eucla (+08:45), St John's (−03:30).
    assert_eq!(day("Asia/Kathmandu", "2025-03-10").0, 1_741_544_100_000);
    assert_eq!(day("Australia/Eucla", "2025-03-10").0, 1_741_533_300_000);
    assert_eq!(day("Pacific/Chatham", "2025-04-06").1, 25 * 60);
    assert_eq!(day("America/St_Johns", "2025-03-09").1, 23 * 60);
    // Havana jumps from 00:00 to 01:00 in March: the day starts at the jump, at 05:00Z.
    assert_eq!(
        day("America/Havana", "2025-03-09"),
        (1_741_496_400_000, 23 * 60)
    );
    // ... and repeats the hour before midnight in November: the first midnight counts.
    assert_eq!(
        day("America/Havana", "2025-11-02"),
        (1_762_056_000_000, 25 * 60)
    );
}

/// Zone rules with a gap over midnight that ends at an odd second, and a zone that
/// jumps twice within two days, to exercise the general cases.
struct Odd;

impl ZoneRules for Odd {
    fn offset_seconds(&self, zone: &str, at: i64) -> Option<i32> {
        let jump = 86_400_000 * 10; // 1970-01-11T00:00Z
        match zone {
            // +00:00, then +01:00:07 from 23:59:00 local on 1970-01-10.
            "Odd/Gap" => Some(if at < jump - 60_000 { 0 } else { 3607 }),
            // +02:00 until 1970-01-10T12:00Z, +00:00 until 1970-01-11T12:00Z, then +02:00.
            "Odd/Twice" => Some(if (jump - 43_200_000..jump + 43_200_000).contains(&at) {
                0
            } else {
                7200
            }),
            _ => None,
        }
    }
}

#[test]
fn gaps_and_double_changes_in_any_zone() {
    let eleventh = Date::from_ymd(1970, 1, 11).unwrap();
    // Midnight of the 11th does not exist: the day starts at the jump, 23:59:00Z.
    assert_eq!(
        ZoneOffsets::new(&Odd, "Odd/Gap").local_midnight_ms(eleventh),
        Some(86_400_000 * 10 - 60_000)
    );
    // Midnight of the 11th at +00:00 exists (at 00:00Z) although the offsets a day
    // before and after are +02:00.
    assert_eq!(
        ZoneOffsets::new(&Odd, "Odd/Twice").local_midnight_ms(eleventh),
        Some(86_400_000 * 10)
    );
    assert_eq!(
        ZoneOffsets::new(&Odd, "Odd/None").local_midnight_ms(eleventh),
        None
    );
}
