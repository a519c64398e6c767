//! Parsing resource quantities (`500m`, `64Mi`, `1G`, `2`) into the integers the runtime
//! wants: millicores and bytes.

/// The quantity as a number (base units), or None when it does not parse.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    // An exponent form like 1e3 has the `e` as its "suffix".
    if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
        return Some(num.parse::<f64>().ok()? * 10f64.powi(exp.parse().ok()?));
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * mult)
}

/// Millicores of a CPU quantity.
pub fn millicores(q: &str) -> Option<i64> {
    parse(q).map(|v| (v * 1000.0).ceil() as i64)
}

/// Bytes of a memory quantity.
pub fn bytes(q: &str) -> Option<i64> {
    parse(q).map(|v| v.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(millicores("500m"), Some(500));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("x"), None);
    }
}
