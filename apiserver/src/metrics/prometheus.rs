//! A reader of the Prometheus text exposition format (version 0.0.4), enough for the
//! kubelet's `/metrics/resource`: sample lines `name{label="value",...} value [timestamp]`;
//! comments, `# HELP` and `# TYPE` lines are skipped. Written here rather than pulled in
//! as a crate: the available parsers bring regex/chrono stacks for these ~80 lines.

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Unix time in milliseconds, when the line carries one.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `key` ("" when absent, as Prometheus treats a missing label).
    pub fn label(&self, key: &str) -> &str {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// A line that is not valid exposition text.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses every sample of `text`.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|message| ParseError { line: i + 1, message })?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("missing value")?;
    let value = parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(t.parse::<i64>().map_err(|_| format!("invalid timestamp {t:?}"))?),
        None => None,
    };
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok(Sample { name: name.to_string(), labels, value, timestamp_ms })
}

/// Label name and value pairs.
type Labels = Vec<(String, String)>;

/// Labels after the opening brace; returns them and the text after the closing brace.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid label name {key:?}"));
        }
        s = s[eq + 1..].trim_start().strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err("invalid escape in label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kubelet_format() {
        let text = "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n\
# TYPE container_cpu_usage_seconds_total counter\n\
container_cpu_usage_seconds_total{container=\"c\",namespace=\"default\",pod=\"a\\\"b\\\\c\"} 1.2345e+06 1700000000123\n\
\n\
scrape_error 0\n\
node_memory_working_set_bytes 2.3003136e+07 1700000000000\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].name, "container_cpu_usage_seconds_total");
        assert_eq!(samples[0].label("pod"), "a\"b\\c");
        assert_eq!(samples[0].label("container"), "c");
        assert_eq!(samples[0].label("missing"), "");
        assert_eq!(samples[0].value, 1234500.0);
        assert_eq!(samples[0].timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(samples[1], Sample { name: "scrape_error".into(), labels: vec![], value: 0.0, timestamp_ms: None });
        assert_eq!(samples[2].value, 23003136.0);
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        assert_eq!(parse("ok 1\nbroken{a=\"x} 1\n").unwrap_err().line, 2);
        assert!(parse("m{a=x} 1").is_err());
        assert!(parse("m 1 2 3").is_err());
        assert!(parse("m abc").is_err());
        assert!(parse("m{a=\"x\",} +Inf").unwrap()[0].value.is_infinite());
    }
}
