//! Label selectors (equality- and set-based) and field selectors, parsed from the
//! `labelSelector`/`fieldSelector` query parameters like upstream's `labels.Parse` and
//! `fields.ParseSelector`.

use std::collections::BTreeMap;

/// One label requirement.
#[derive(Clone, Debug, PartialEq)]
pub enum Requirement {
    /// `key=value`, `key==value`, `key in (a,b)`.
    In(String, Vec<String>),
    /// `key!=value`, `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n`.
    Gt(String, i64),
    /// `key<n`.
    Lt(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(pub Vec<Requirement>);

impl LabelSelector {
    /// Parses selector syntax; the error text names the problem like upstream.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(input) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Gt(k, n) => labels.get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => labels.get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *n),
        })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn check_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    let errs = super::strategies::names::qualified_name(key);
    if !errs.is_empty() {
        return Err(format!("unable to parse requirement: invalid label key {key:?}: {}", errs.join("; ")));
    }
    Ok(key.to_string())
}

fn check_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    let errs = super::strategies::names::label_value(value);
    if !errs.is_empty() {
        return Err(format!("unable to parse requirement: invalid label value: {value:?}: at key: {}", errs.join("; ")));
    }
    Ok(value.to_string())
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
    inner.split(',').map(check_value).collect()
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(check_key(key)?));
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some(idx) = part.find(op) {
            let key = check_key(&part[..idx])?;
            let values = parse_set(&part[idx + op.len()..])?;
            return Ok(if negate { Requirement::NotIn(key, values) } else { Requirement::In(key, values) });
        }
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotIn(check_key(k)?, vec![check_value(v)?]));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::In(check_key(k)?, vec![check_value(v)?]));
    }
    for (op, gt) in [('>', true), ('<', false)] {
        if let Some((k, v)) = part.split_once(op) {
            let n: i64 = v.trim().parse().map_err(|_| "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer".to_string())?;
            let key = check_key(k)?;
            return Ok(if gt { Requirement::Gt(key, n) } else { Requirement::Lt(key, n) });
        }
    }
    Ok(Requirement::Exists(check_key(part)?))
}

/// A parsed field selector: `field=value` / `field!=value` terms, all must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses `a=b,c!=d,e==f`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            terms.push((field.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether every term holds; `lookup` gives a field's value or `None` when the field
    /// is not selectable (an error).
    pub fn matches<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> Result<bool, String> {
        for (field, equal, value) in &self.0 {
            let actual = lookup(field).ok_or_else(|| format!("field label not supported: {field}"))?;
            if (actual == value) != *equal {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The fields this selector uses (checked for support before listing).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(f, _, _)| f.as_str())
    }
}

/// What label and field selectors read of one object (upstream's `GetAttrs`): its labels
/// and its selectable fields (`metadata.name`, `metadata.namespace` and the kind's own).
/// Small, so the watch cache keeps one per event instead of the parsed object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectableAttrs {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Field name and value, for every selectable field of the kind.
    pub fields: Vec<(&'static str, String)>,
}

impl SelectableAttrs {
    /// The value of a selectable field (`None`: not selectable for this kind).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| *field == name).map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn set_based() {
        let s = LabelSelector::parse("app in (web, api),tier notin (db),!legacy,env").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("env", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "x"), ("legacy", "")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db"), ("env", "x")])));
        assert!(!s.matches(&labels(&[("app", "other"), ("env", "x")])));
    }

    #[test]
    fn equality_based() {
        let s = LabelSelector::parse("a=1,b!=2,c==3").unwrap();
        assert!(s.matches(&labels(&[("a", "1"), ("c", "3")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("bad key=1").is_err());
    }

    #[test]
    fn field_selector() {
        let s = FieldSelector::parse("metadata.name=x,status.phase!=Running").unwrap();
        let ok = s.matches(|f| match f {
            "metadata.name" => Some("x"),
            "status.phase" => Some("Pending"),
            _ => None,
        });
        assert_eq!(ok, Ok(true));
        assert!(s.matches(|_| None).is_err());
    }
}
