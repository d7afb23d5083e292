//! The few time formats certificates bring: ISO 8601 / RFC 3339 date-times (test
//! clocks, DCC fields) and ASN.1 UTCTime / GeneralizedTime (signer certificate
//! validity). Parsed by hand because the protocol crate has no date library and needs
//! only "which instant is this", in UTC milliseconds.

use super::CertError;

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), valid far beyond any certificate's lifetime.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for UTC seconds: how a CBOR epoch date-time (tag 1) reads
/// in JSON.
pub fn format_rfc3339(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// As [`format_rfc3339`], with the milliseconds when there are any.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let whole = format_rfc3339(ms.div_euclid(1000));
    match ms.rem_euclid(1000) {
        0 => whole,
        frac => format!("{}.{frac:03}Z", whole.trim_end_matches('Z')),
    }
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn bad(text: &str) -> CertError {
    CertError::Time(format!("not a date-time: {text:?}"))
}

/// Fixed-width decimal digits at `at..at + n`.
fn digits(text: &str, at: usize, n: usize) -> Option<u32> {
    let part = text.get(at..at + n)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// UTC milliseconds of a civil date and time, with every field range-checked.
fn to_millis(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        // 60 admits a leap second; it lands on the next minute's first second.
        && second <= 60;
    valid.then(|| {
        let secs = days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        secs * 1000 + i64::from(millis)
    })
}

/// Parses an ISO 8601 date-time (`2021-05-03T20:00:00+02:00`, `…Z`, `…+0200`, with
/// optional fractional seconds; no zone means UTC) or a bare date (midnight UTC) into
/// UTC milliseconds. Fractions beyond milliseconds are truncated.
pub fn parse_iso8601_millis(text: &str) -> Result<i64, CertError> {
    let s = text.trim();
    let year = digits(s, 0, 4).ok_or_else(|| bad(text))?;
    if s.get(4..5) != Some("-") || s.get(7..8) != Some("-") {
        return Err(bad(text));
    }
    let month = digits(s, 5, 2).ok_or_else(|| bad(text))?;
    let day = digits(s, 8, 2).ok_or_else(|| bad(text))?;
    if s.len() == 10 {
        return to_millis(i64::from(year), month, day, 0, 0, 0, 0).ok_or_else(|| bad(text));
    }
    if !matches!(s.get(10..11), Some("T" | "t" | " ")) || s.get(13..14) != Some(":") {
        return Err(bad(text));
    }
    let hour = digits(s, 11, 2).ok_or_else(|| bad(text))?;
    let minute = digits(s, 14, 2).ok_or_else(|| bad(text))?;
    let (second, mut rest) = if s.get(16..17) == Some(":") {
        (digits(s, 17, 2).ok_or_else(|| bad(text))?, &s[19..])
    } else {
        (0, &s[16..])
    };
    let mut millis = 0u32;
    if let Some(frac) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad(text));
        }
        let mut scaled = frac[..n.min(3)].to_string();
        while scaled.len() < 3 {
            scaled.push('0');
        }
        millis = scaled.parse().map_err(|_| bad(text))?;
        rest = &frac[n..];
    }
    let offset_minutes: i64 = match rest {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad(text)),
            };
            let body = &zone[1..];
            let (h, m) = match body.len() {
                5 if body.as_bytes()[2] == b':' => (digits(body, 0, 2), digits(body, 3, 2)),
                4 => (digits(body, 0, 2), digits(body, 2, 2)),
                2 => (digits(body, 0, 2), Some(0)),
                _ => (None, None),
            };
            match (h, m) {
                (Some(h), Some(m)) if h < 24 && m < 60 => sign * i64::from(h * 60 + m),
                _ => return Err(bad(text)),
            }
        }
    };
    let local = to_millis(i64::from(year), month, day, hour, minute, second, millis)
        .ok_or_else(|| bad(text))?;
    Ok(local - offset_minutes * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_clock_forms_of_the_test_data() {
        let utc = 1_620_064_800_000; // 2021-05-03T18:00:00Z
        assert_eq!(parse_iso8601_millis("2021-05-03T18:00:00Z").unwrap(), utc);
        assert_eq!(parse_iso8601_millis("2021-05-03T20:00:00+02:00").unwrap(), utc);
        assert_eq!(parse_iso8601_millis("2021-05-03T20:00:00+0200").unwrap(), utc);
        assert_eq!(parse_iso8601_millis("2021-05-03T18:00:00.390079Z").unwrap(), utc + 390);
        assert_eq!(parse_iso8601_millis("2021-05-03T18:00:00").unwrap(), utc);
        assert_eq!(parse_iso8601_millis("1970-01-01").unwrap(), 0);
    }

    #[test]
    fn refuses_impossible_dates_and_garbage() {
        for text in ["2021-02-29T00:00:00Z", "2021-13-01", "2021-05-03T24:00:00Z", "", "yesterday",
            "2021-05-03T18:00:00+2", "2021-05-03T18:00:00.Z", "２０２１-05-03"]
        {
            assert!(parse_iso8601_millis(text).is_err(), "{text}");
        }
    }

    #[test]
    fn formats_what_it_parses() {
        for secs in [0, 1_620_064_800, 951_782_400, 4_102_444_799, -86_400] {
            let text = format_rfc3339(secs);
            assert_eq!(parse_iso8601_millis(&text).unwrap(), secs * 1000, "{text}");
        }
        assert_eq!(format_rfc3339(1_620_064_800), "2021-05-03T18:00:00Z");
    }
}
