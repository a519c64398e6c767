//! Links in proxied `text/html` pages pointed back through the proxy (upstream
//! `proxy.Transport.rewriteResponse` and `rewriteHTML`): the URL-valued attributes of
//! the elements upstream lists (`atomsToAttrs`) go through [`super::forward::rewrite_url`];
//! every other byte is kept. Comments, declarations, end tags and the contents of raw
//! text elements (`<script>`, `<style>`, ...) are copied untouched, as Go's tokenizer
//! does not see tags in them.

/// The URL-valued attributes of an element (upstream `atomsToAttrs`).
fn url_attributes(tag: &str) -> &'static [&'static str] {
    match tag {
        "a" | "area" | "base" | "link" => &["href"],
        "applet" => &["codebase"],
        "audio" | "embed" | "script" | "source" => &["src"],
        "blockquote" | "del" | "ins" | "q" => &["cite"],
        "body" => &["background"],
        "button" => &["formaction"],
        "command" => &["icon"],
        "form" => &["action"],
        "frame" | "iframe" => &["longdesc", "src"],
        "head" => &["profile"],
        "html" => &["manifest"],
        "img" => &["longdesc", "src", "usemap"],
        "input" => &["src", "usemap", "formaction"],
        "object" => &["classid", "codebase", "data", "usemap"],
        "video" => &["poster", "src"],
        _ => &[],
    }
}

/// Elements whose content is raw text for the tokenizer.
const RAW_TEXT: [&str; 10] = ["iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"];

/// `html` with the URL attributes rewritten by `rewrite`.
pub fn rewrite_links(html: &[u8], rewrite: impl Fn(&str) -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(html.len() + html.len() / 8);
    let mut i = 0;
    while let Some(lt) = find(html, i, b"<") {
        out.extend_from_slice(&html[i..lt]);
        i = lt;
        let rest = &html[i..];
        let skip_to = |pattern: &[u8], from: usize| find(html, from, pattern).map(|p| p + pattern.len()).unwrap_or(html.len());
        if rest.starts_with(b"<!--") {
            let end = skip_to(b"-->", i + 4);
            out.extend_from_slice(&html[i..end]);
            i = end;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") || rest.starts_with(b"</") {
            let end = skip_to(b">", i + 2);
            out.extend_from_slice(&html[i..end]);
            i = end;
        } else if rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
            let (end, tag) = start_tag(html, i, &rewrite, &mut out);
            i = end;
            if RAW_TEXT.contains(&tag.as_str()) {
                let close = find_ignore_case(html, i, format!("</{tag}").as_bytes()).unwrap_or(html.len());
                out.extend_from_slice(&html[i..close]);
                i = close;
            }
        } else {
            out.push(b'<');
            i += 1;
        }
    }
    out.extend_from_slice(&html[i..]);
    out
}

/// Copies the start tag at `at` into `out` with its URL attributes rewritten; the
/// position after it and the lower-case tag name.
fn start_tag(html: &[u8], at: usize, rewrite: &impl Fn(&str) -> String, out: &mut Vec<u8>) -> (usize, String) {
    let name_end = (at + 1..html.len()).find(|&j| html[j].is_ascii_whitespace() || html[j] == b'>' || html[j] == b'/').unwrap_or(html.len());
    let tag = String::from_utf8_lossy(&html[at + 1..name_end]).to_ascii_lowercase();
    let wanted = url_attributes(&tag);
    out.extend_from_slice(&html[at..name_end]);
    let mut i = name_end;
    while i < html.len() {
        match html[i] {
            b'>' => {
                out.push(b'>');
                return (i + 1, tag);
            }
            c if c.is_ascii_whitespace() || c == b'/' => {
                out.push(c);
                i += 1;
            }
            _ => {
                let name_start = i;
                while i < html.len() && !html[i].is_ascii_whitespace() && !matches!(html[i], b'=' | b'>' | b'/') {
                    i += 1;
                }
                let name = String::from_utf8_lossy(&html[name_start..i]).to_ascii_lowercase();
                let mut j = i;
                while j < html.len() && html[j].is_ascii_whitespace() {
                    j += 1;
                }
                if html.get(j) != Some(&b'=') {
                    out.extend_from_slice(&html[name_start..i]);
                    continue;
                }
                j += 1;
                while j < html.len() && html[j].is_ascii_whitespace() {
                    j += 1;
                }
                let (value_start, value_end, quote, after) = match html.get(j) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end = find(html, j + 1, &[q]).unwrap_or(html.len());
                        (j + 1, end, Some(q), (end + 1).min(html.len()))
                    }
                    _ => {
                        let end = (j..html.len()).find(|&k| html[k].is_ascii_whitespace() || html[k] == b'>').unwrap_or(html.len());
                        (j, end, None, end)
                    }
                };
                if wanted.contains(&name.as_str()) {
                    let value = unescape(&String::from_utf8_lossy(&html[value_start..value_end]));
                    let q = quote.unwrap_or(b'"');
                    out.extend_from_slice(&html[name_start..j]);
                    out.push(q);
                    out.extend_from_slice(escape(&rewrite(&value), q).as_bytes());
                    out.push(q);
                } else {
                    out.extend_from_slice(&html[name_start..after]);
                }
                i = after;
            }
        }
    }
    (html.len(), tag)
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn find_ignore_case(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle)).map(|p| p + from)
}

/// The character references URLs carry in attributes.
fn unescape(value: &str) -> String {
    value.replace("&quot;", "\"").replace("&#34;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn escape(value: &str, quote: u8) -> String {
    let escaped = value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    if quote == b'\'' { escaped.replace('\'', "&#39;") } else { escaped.replace('"', "&#34;") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixed(html: &str) -> String {
        let out = rewrite_links(html.as_bytes(), |u| if u.starts_with('/') { format!("/p{u}") } else { u.to_string() });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn url_attributes_of_listed_elements_only() {
        assert_eq!(
            prefixed(r#"<!DOCTYPE html><html><head><link rel=stylesheet href=/s.css></head><body><a class="x" HREF="/a?b=1&amp;c=2">a</a> <img src='/i.png' alt="/no"><div href="/no"></div>"#),
            r#"<!DOCTYPE html><html><head><link rel=stylesheet href="/p/s.css"></head><body><a class="x" HREF="/p/a?b=1&amp;c=2">a</a> <img src='/p/i.png' alt="/no"><div href="/no"></div>"#
        );
        assert_eq!(prefixed(r#"<form method=post action="/login"><input type=image src="rel.png"/></form>"#), r#"<form method=post action="/p/login"><input type=image src="rel.png"/></form>"#);
    }

    #[test]
    fn comments_and_raw_text_are_left_alone() {
        let html = r#"<!-- <a href="/c"> --><script src="/app.js">var s = '<a href="/js">';</script><style>a[href="/x"]{}</style><p>1 < 2</p>"#;
        assert_eq!(
            prefixed(html),
            r#"<!-- <a href="/c"> --><script src="/p/app.js">var s = '<a href="/js">';</script><style>a[href="/x"]{}</style><p>1 < 2</p>"#
        );
        assert_eq!(prefixed("<a href=\"/unterminated"), "<a href=\"/p/unterminated\"");
    }
}
