//! `resource.Quantity` parsing: exact integers in nano-units, so `1` and `1000m` compare
//! equal and `0.1` is exactly `100m` (no floating point). The API server compares and
//! canonicalizes quantities with it; the scheduler, the autoscaler and the kubelet take
//! their millicores and bytes from it, rounded up as upstream's `MilliValue` and `Value`.

/// Parses a quantity (`100m`, `1.5Gi`, `2e3`, `128974848`) into nano-units.
/// `None` for malformed input.
pub fn nanos(q: &str) -> Option<i128> {
    let q = q.trim();
    let (sign, rest) = match q.as_bytes().first()? {
        b'-' => (-1i128, &q[1..]),
        b'+' => (1, &q[1..]),
        _ => (1, q),
    };
    let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    // mantissa as integer digits and a decimal exponent
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut factor2: i128 = 1;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => factor2 = 1 << 10,
        "Mi" => factor2 = 1 << 20,
        "Gi" => factor2 = 1 << 30,
        "Ti" => factor2 = 1 << 40,
        "Pi" => factor2 = 1 << 50,
        "Ei" => factor2 = 1 << 60,
        s if s.starts_with(['e', 'E']) => exp10 += s[1..].parse::<i32>().ok()?,
        _ => return None,
    }
    exp10 += 9; // to nano-units
    let scaled = mantissa.checked_mul(factor2)?;
    let value = if exp10 >= 0 {
        scaled.checked_mul(10i128.checked_pow(exp10 as u32)?)?
    } else {
        // round up, as upstream rounds sub-nano precision up
        let div = 10i128.checked_pow((-exp10) as u32)?;
        (scaled + div - 1) / div
    };
    Some(sign * value)
}

/// The canonical form upstream serializes a quantity in, after `SetDefaults_ResourceList`
/// rounds it up to milli precision: `0.5` → `500m`, `2048Mi` → `2Gi`, `1.5k` → `1500`.
/// Malformed input is returned unchanged (validation reports it).
pub fn canonical(q: &str) -> String {
    let Some(mut v) = nanos(q) else { return q.to_string() };
    const MILLI: i128 = 1_000_000;
    if v % MILLI != 0 {
        v = if v > 0 { (v / MILLI + 1) * MILLI } else { v / MILLI * MILLI };
    }
    if v == 0 {
        return "0".into();
    }
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.abs();
    let trimmed = q.trim();
    let binary = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].iter().any(|s| trimmed.ends_with(s));
    let exponent = trimmed.trim_start_matches(['+', '-']).contains(['e', 'E']);
    const UNIT: i128 = 1_000_000_000;
    if binary && abs >= 1024 * UNIT && abs % UNIT == 0 {
        let (mut n, mut e) = (abs / UNIT, 0);
        while n % 1024 == 0 && e < 6 {
            n /= 1024;
            e += 1;
        }
        return format!("{sign}{n}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e]);
    }
    let (mut m, mut x) = (abs, -9i32);
    while m % 1000 == 0 && x < 18 {
        m /= 1000;
        x += 3;
    }
    let suffix = if exponent {
        if x == 0 { String::new() } else { format!("e{x}") }
    } else {
        match x {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        }
        .to_string()
    };
    format!("{sign}{m}{suffix}")
}

/// Upstream `Quantity.MilliValue`: the value in thousandths, rounded up (`100m` → 100,
/// `1.5` → 1500). `None` for malformed input or values beyond `i64`.
pub fn milli_value(q: &str) -> Option<i64> {
    scaled_up(q, 1_000_000)
}

/// Upstream `Quantity.Value`: the value in base units, rounded up (`128Mi` → 134217728,
/// `100m` → 1). `None` for malformed input or values beyond `i64`.
pub fn value(q: &str) -> Option<i64> {
    scaled_up(q, 1_000_000_000)
}

/// The quantity in units of `per` nano-units, rounded towards positive infinity.
fn scaled_up(q: &str, per: i128) -> Option<i64> {
    i64::try_from(divide_up(nanos(q)?, per)).ok()
}

/// `n / divisor` rounded towards positive infinity (upstream's `math.Ceil` of a ratio of
/// quantities); `divisor` must be positive.
pub fn divide_up(n: i128, divisor: i128) -> i128 {
    n.div_euclid(divisor) + i128::from(n.rem_euclid(divisor) != 0)
}

/// True when the quantity string parses to a non-zero value.
pub fn is_nonzero(q: &str) -> bool {
    nanos(q).is_some_and(|n| n != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_exactly() {
        assert_eq!(nanos("1"), nanos("1000m"));
        assert_eq!(nanos("100m"), Some(100_000_000));
        assert_eq!(nanos("0.1"), nanos("100m"));
        assert_eq!(nanos("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(nanos("1.5Gi"), nanos("1536Mi"));
        assert_eq!(nanos("2e3"), nanos("2k"));
        assert_eq!(nanos("abc"), None);
        assert_eq!(nanos("1Q"), None);
        assert!(nanos("2") > nanos("1500m"));
    }

    #[test]
    fn milli_and_base_values_round_up() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("0.1"), Some(100));
        assert_eq!(milli_value("1u"), Some(1));
        assert_eq!(value("128Mi"), Some(128 << 20));
        assert_eq!(value("1G"), Some(1_000_000_000));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("100m"), Some(1));
        assert_eq!(value("-1500m"), Some(-1));
        assert_eq!(value("1x"), None);
        assert_eq!(value("10E"), None, "beyond i64");
    }

    #[test]
    fn canonical_forms() {
        for (input, want) in [
            ("0.5", "500m"), ("1000m", "1"), ("2048Mi", "2Gi"), ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"), ("1.5k", "1500"),
            ("100000", "100k"), ("128Mi", "128Mi"), ("250m", "250m"), ("12e6", "12e6"), ("1e3", "1e3"), ("512", "512"),
            ("0.0001", "1m"), ("0", "0"), ("1Ki", "1Ki"), ("1.5Ki", "1536"),
        ] {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
