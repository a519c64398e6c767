//! Standard cron schedule syntax check (what upstream's `cron.ParseStandard` accepts:
//! five fields or a `@descriptor`), with its error texts.

const FIELDS: [(u32, u32, &[&str]); 5] = [
    (0, 59, &[]),
    (0, 23, &[]),
    (1, 31, &[]),
    (1, 12, &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    (0, 6, &["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
];

const DESCRIPTORS: &[&str] = &["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// `Ok(())` when the schedule parses, else the parser's error text.
pub fn parse_schedule(schedule: &str) -> Result<(), String> {
    let mut spec = schedule.trim();
    // a leading TZ=<zone> or CRON_TZ=<zone> is accepted by the parser (validation rejects it)
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        spec = spec.split_once(' ').map(|(_, rest)| rest.trim()).unwrap_or("");
    }
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    if let Some(rest) = spec.strip_prefix('@') {
        if DESCRIPTORS.contains(&spec) {
            return Ok(());
        }
        if let Some(d) = rest.strip_prefix("every ") {
            return parse_go_duration(d).then_some(()).ok_or_else(|| format!("failed to parse duration {spec}: time: invalid duration {:?}", d));
        }
        return Err(format!("unrecognized descriptor: {spec}"));
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    for (field, (min, max, names)) in fields.iter().zip(FIELDS) {
        for part in field.split(',') {
            parse_range(part, min, max, names)?;
        }
    }
    Ok(())
}

fn parse_value(s: &str, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        let base = if names.len() == 12 { 1 } else { 0 };
        return Ok(i as u32 + base);
    }
    s.parse::<u32>().map_err(|_| format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"))
}

fn parse_range(expr: &str, min: u32, max: u32, names: &[&str]) -> Result<(), String> {
    let slashes: Vec<&str> = expr.split('/').collect();
    if slashes.len() > 2 {
        return Err(format!("too many slashes: {expr}"));
    }
    let range = slashes[0];
    let (start, end) = if range == "*" || range == "?" {
        (min, max)
    } else {
        let hyphens: Vec<&str> = range.split('-').collect();
        match hyphens.as_slice() {
            [one] => {
                let v = parse_value(one, names)?;
                (v, if slashes.len() == 2 { max } else { v })
            }
            [a, b] => (parse_value(a, names)?, parse_value(b, names)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    if let Some(step) = slashes.get(1) {
        let step = parse_value(step, &[])?;
        if step == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
    }
    if start < min {
        return Err(format!("beginning of range ({start}) below minimum ({min}): {expr}"));
    }
    if end > max {
        return Err(format!("end of range ({end}) above maximum ({max}): {expr}"));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    Ok(())
}

fn parse_go_duration(d: &str) -> bool {
    let mut rest = d.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"].iter().find(|u| rest.starts_with(**u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::parse_schedule;

    #[test]
    fn accepts_standard_schedules() {
        for s in ["*/5 * * * *", "0 0 1 jan *", "30 2 * * mon-fri", "@hourly", "@every 1h30m", "0 0 * * ?", "1,2,3 * * * *"] {
            assert_eq!(parse_schedule(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn rejects_with_upstream_texts() {
        assert_eq!(parse_schedule("bad"), Err("expected exactly 5 fields, found 1: [bad]".into()));
        assert_eq!(parse_schedule("60 * * * *"), Err("end of range (60) above maximum (59): 60".into()));
        assert_eq!(parse_schedule("@often"), Err("unrecognized descriptor: @often".into()));
        assert!(parse_schedule("*/0 * * * *").is_err());
    }
}
