//! How metrics-server's Go types print: `resource.Quantity` in canonical form (CPU in
//! nanocores, DecimalSI; memory in bytes, BinarySI), `time.Duration.String()` for the
//! `window`, and `metav1.Time` (RFC 3339, seconds) for timestamps.

const DECIMAL_SUFFIXES: &[(i32, &str)] = &[(-9, "n"), (-6, "u"), (-3, "m"), (0, ""), (3, "k"), (6, "M"), (9, "G"), (12, "T"), (15, "P"), (18, "E")];
const BINARY_SUFFIXES: &[&str] = &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// `amount × 10^exponent` in DecimalSI canonical form: trailing zeros folded into the
/// exponent, which is then lowered to a multiple of three (`1500000n` → `1500u`).
fn decimal(mut amount: u128, mut exponent: i32) -> String {
    if amount == 0 {
        return "0".into();
    }
    while amount.is_multiple_of(10) {
        amount /= 10;
        exponent += 1;
    }
    match exponent.rem_euclid(3) {
        1 => {
            amount *= 10;
            exponent -= 1;
        }
        2 => {
            amount *= 100;
            exponent -= 2;
        }
        _ => {}
    }
    // Beyond exa, the digits carry the rest (as Go prints).
    while exponent > 18 {
        amount *= 1000;
        exponent -= 3;
    }
    let suffix = DECIMAL_SUFFIXES.iter().find(|(e, _)| *e == exponent).map(|(_, s)| *s).unwrap_or_default();
    format!("{amount}{suffix}")
}

/// A CPU rate in nanocores, as `resource.NewScaledQuantity(n, -9)` prints (`250m`, `12345n`).
pub fn cpu(nanocores: u64) -> String {
    decimal(nanocores.into(), -9)
}

/// A byte count as a BinarySI quantity prints (`1024` → `1Ki`, `1000` → `1k`: values
/// under 1024 print as DecimalSI, as Go does to avoid rounding).
pub fn memory(bytes: u64) -> String {
    if bytes < 1024 {
        return decimal(bytes.into(), 0);
    }
    let (mut amount, mut power) = (bytes, 0);
    while amount.is_multiple_of(1024) && power + 1 < BINARY_SUFFIXES.len() {
        amount /= 1024;
        power += 1;
    }
    format!("{amount}{}", BINARY_SUFFIXES[power])
}

/// Go's `time.Duration.String()`: `15s`, `14.987s`, `1m0.5s`, `1.5ms`, `0s`.
pub fn duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let total_seconds = nanos / 1_000_000_000;
    let (h, m) = (total_seconds / 3600, total_seconds / 60 % 60);
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / unit` with the fractional digits that are not trailing zeros.
fn fraction(value: u64, unit: u64) -> String {
    let (whole, rest) = (value / unit, value % unit);
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A `metav1.Time`: RFC 3339 in UTC, whole seconds.
pub fn time(unix_nanos: i64) -> String {
    jiff::Timestamp::from_nanosecond(unix_nanos.into())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_canonical_form() {
        assert_eq!(cpu(0), "0");
        assert_eq!(cpu(123_456_789), "123456789n");
        assert_eq!(cpu(250_000_000), "250m");
        assert_eq!(cpu(1_000_000_000), "1");
        assert_eq!(cpu(1_500_000), "1500u");
        assert_eq!(cpu(10), "10n");
        assert_eq!(cpu(2_000_000_000_000), "2k");
        assert_eq!(memory(0), "0");
        assert_eq!(memory(1000), "1k");
        assert_eq!(memory(512), "512");
        assert_eq!(memory(1024), "1Ki");
        assert_eq!(memory(1025), "1025");
        assert_eq!(memory(5_242_880), "5Mi");
        assert_eq!(memory(1_234_567_168), "1205632Ki");
    }

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(15_000_000_000), "15s");
        assert_eq!(duration(14_987_000_000), "14.987s");
        assert_eq!(duration(60_500_000_000), "1m0.5s");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration(1_500_000), "1.5ms");
        assert_eq!(duration(999), "999ns");
        assert_eq!(duration(2_000), "2µs");
    }

    #[test]
    fn times_in_whole_seconds() {
        assert_eq!(time(1_700_000_000_999_000_000), "2023-11-14T22:13:20Z");
    }
}
