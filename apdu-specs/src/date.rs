//! Calendar dates as carried in indicia (`YYYYMMDD` as a big-endian u32) and
//! conversion from the card clock (Unix seconds, UTC).

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYYMMDD` of a Unix time.
pub fn yyyymmdd_from_unix(secs: u64) -> u32 {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (y.clamp(0, 9999) as u32) * 10_000 + m * 100 + d
}

/// Day number of a `YYYYMMDD` value, or `None` if it is not a real date.
pub fn days_from_yyyymmdd(v: u32) -> Option<i64> {
    let (y, m, d) = (v / 10_000, (v / 100) % 100, v % 100);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    // Reject 31 April and friends: the round trip must give the same date.
    (civil_from_days(days) == (i64::from(y), m, d)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(yyyymmdd_from_unix(1_795_392_000), 20_261_123);
        assert_eq!(days_from_yyyymmdd(20_261_123), Some(20_780));
        assert_eq!(days_from_yyyymmdd(20_260_431), None);
        assert_eq!(days_from_yyyymmdd(20_240_229), Some(19_782));
        assert_eq!(days_from_yyyymmdd(20_230_229), None);
    }
}
