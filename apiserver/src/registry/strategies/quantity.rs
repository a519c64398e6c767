//! `resource.Quantity` parsing, enough to compare quantities (requests ≤ limits, QoS).
//! Values are exact integers in nano-units, so `1` and `1000m` compare equal.

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

/// True when the quantity string parses to a non-zero value.
pub fn is_nonzero(q: &str) -> bool {
    nanos(q).is_some_and(|n| n != 0)
}

#[cfg(test)]
mod tests {
    use super::nanos;

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
}
