//! UTC timestamps for run folder names, without a calendar dependency.
//!
//! Folder names must sort in time order and be safe on every file system, so they use the
//! basic ISO 8601 form `20261124T122217.123Z` (no colons), as Jepsen's store does.

use std::time::{SystemTime, UNIX_EPOCH};

/// The basic ISO 8601 UTC form of `t`, with milliseconds: `20261124T122217.123Z`.
pub fn folder_name(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// The RFC 3339 UTC form of `t` with milliseconds: `2026-11-24T12:22:17.123Z` (for logs).
pub fn rfc3339(t: SystemTime) -> String {
    let f = folder_name(t);
    format!(
        "{}-{}-{}T{}:{}:{}",
        &f[0..4],
        &f[4..6],
        &f[6..8],
        &f[9..11],
        &f[11..13],
        &f[13..]
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        assert_eq!(folder_name(UNIX_EPOCH), "19700101T000000.000Z");
        // 2000-02-29T23:59:59.5Z: a leap day in a century leap year.
        let t = UNIX_EPOCH + Duration::from_millis(951_868_799_500);
        assert_eq!(folder_name(t), "20000229T235959.500Z");
        assert_eq!(rfc3339(t), "2000-02-29T23:59:59.500Z");
        // 2026-11-24T12:22:17Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_522_937);
        assert_eq!(folder_name(t), "20261124T122217.000Z");
    }

    #[test]
    fn names_sort_in_time_order() {
        let mut last = String::new();
        for s in (0..4_000_000_000u64).step_by(7_777_777) {
            let n = folder_name(UNIX_EPOCH + Duration::from_secs(s));
            assert!(n > last, "{n} should sort after {last}");
            last = n;
        }
    }
}
