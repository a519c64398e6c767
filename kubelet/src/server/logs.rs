//! `GET /containerLogs/{ns}/{pod}/{container}`: reads the CRI log file containerd writes
//! (`<RFC3339Nano> <stream> <P|F> <msg>` per line) and renders what `kubectl logs` asks
//! for. Mirrors upstream `pkg/kubelet/kuberuntime/logs/logs.go` (ReadLogs).

use jiff::Timestamp;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

/// Options of a log request (upstream `PodLogOptions` as the kubelet receives them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// Keep the stream open and send new lines until the container exits.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC3339Nano timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
}

/// Why the options are not acceptable (answered 400).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct BadOption(pub String);

impl LogOptions {
    /// Parses the query string the API server forwards.
    pub fn from_query(pairs: &[(String, String)]) -> Result<LogOptions, BadOption> {
        let mut o = LogOptions::default();
        let flag = |v: &str| v == "true" || v == "1";
        let num = |k: &str, v: &str| v.parse::<i64>().map_err(|_| BadOption(format!("invalid {k}: {v:?}")));
        let now = Timestamp::now();
        for (k, v) in pairs {
            match k.as_str() {
                "follow" => o.follow = flag(v),
                "timestamps" => o.timestamps = flag(v),
                "previous" => o.previous = flag(v),
                "tailLines" => o.tail_lines = Some(num(k, v)?.max(0) as u64),
                "limitBytes" => o.limit_bytes = Some(num(k, v)?.max(0) as u64),
                "sinceSeconds" => o.since = Some(now - jiff::SignedDuration::from_secs(num(k, v)?.max(0))),
                "sinceTime" => o.since = Some(v.parse().map_err(|_| BadOption(format!("invalid sinceTime: {v:?}")))?),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// One parsed CRI log line.
#[derive(Debug, PartialEq)]
pub struct LogLine<'a> {
    /// When the runtime wrote it.
    pub time: Timestamp,
    /// The time exactly as written (for `timestamps=true`).
    pub time_text: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// False for a partial line (`P`): the message continues in the next entry.
    pub full: bool,
    /// The message without the trailing newline.
    pub msg: &'a [u8],
}

/// Parses `<time> <stream> <tag> <msg>`; None for a malformed line.
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time_text = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let msg = parts.next().unwrap_or_default();
    let time = time_text.parse().ok()?;
    // The tag may carry more flags after ':' in future versions; only P/F matter.
    let full = !tag.starts_with(b"P");
    Some(LogLine { time, time_text, stream, full, msg })
}

/// Renders one entry as `kubectl logs` shows it.
pub fn render(line: &LogLine<'_>, timestamps: bool, out: &mut Vec<u8>) {
    if timestamps {
        out.extend_from_slice(line.time_text.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(line.msg);
    if line.full {
        out.push(b'\n');
    }
}

/// Byte offset where the last `n` full lines of `data` start.
pub fn tail_offset(data: &[u8], n: u64) -> usize {
    if n == 0 {
        return data.len();
    }
    let mut seen = 0;
    // Ignore the final newline; count the ones before it.
    let end = data.strip_suffix(b"\n").map_or(data.len(), |d| d.len());
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// Writes the selected part of a finished log (`data`) to `out`; returns whether the
/// byte limit was reached.
pub fn render_all(data: &[u8], o: &LogOptions, out: &mut Vec<u8>) -> bool {
    let start = o.tail_lines.map_or(0, |n| tail_offset(data, n));
    for raw in data[start..].split_inclusive(|b| *b == b'\n') {
        if emit(raw, o, out) {
            return true;
        }
    }
    false
}

/// Renders one raw line into `out` when it passes `since`; true once `limitBytes` is hit.
fn emit(raw: &[u8], o: &LogOptions, out: &mut Vec<u8>) -> bool {
    let Some(line) = parse_line(raw) else { return false };
    if o.since.is_some_and(|s| line.time < s) {
        return false;
    }
    render(&line, o.timestamps, out);
    match o.limit_bytes {
        Some(limit) if out.len() as u64 >= limit => {
            out.truncate(limit as usize);
            true
        }
        _ => false,
    }
}

/// Streams a container's log file into `tx`: the selected existing part, then (with
/// `follow`) each new line until `exited()` says the container stopped and the file has
/// no more data. A file replaced or truncated under us (rotation) is reopened from its
/// start. Ends when the receiver goes away.
pub async fn stream(path: PathBuf, o: LogOptions, tx: mpsc::Sender<Vec<u8>>, exited: impl Fn() -> futures::future::BoxFuture<'static, bool>) {
    let Ok(data) = tokio::fs::read(&path).await else { return };
    // Only whole lines now; a trailing partial write is picked up by the follower.
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::new();
    let limited = render_all(&data[..complete], &o, &mut out);
    let mut sent = out.len() as u64;
    if !out.is_empty() && tx.send(out).await.is_err() {
        return;
    }
    if limited || !o.follow {
        return;
    }
    let Ok(file) = tokio::fs::File::open(&path).await else { return };
    let mut ino = inode(&path);
    let mut reader = BufReader::new(file);
    if reader.seek(SeekFrom::Start(complete as u64)).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    let mut idle_polls = 0u32;
    loop {
        match reader.read_until(b'\n', &mut line).await {
            Ok(n) if n > 0 && line.ends_with(b"\n") => {
                let mut out = Vec::new();
                let mut opts = o.clone();
                opts.limit_bytes = o.limit_bytes.map(|l| l - sent);
                let limited = emit(&line, &opts, &mut out);
                line.clear();
                sent += out.len() as u64;
                if !out.is_empty() && tx.send(out).await.is_err() {
                    return;
                }
                if limited {
                    return;
                }
                idle_polls = 0;
                continue;
            }
            Ok(_) => {}
            Err(_) => return,
        }
        // At the end of the file (possibly mid-line): wait for more.
        if tx.is_closed() {
            return;
        }
        idle_polls += 1;
        if idle_polls.is_multiple_of(10) {
            let now = inode(&path);
            if now != ino || reader.stream_position().await.ok() > file_len(&path) {
                // Rotated or truncated: start over on the new file.
                let Ok(f) = tokio::fs::File::open(&path).await else { return };
                reader = BufReader::new(f);
                ino = now;
                line.clear();
                continue;
            }
            if exited().await {
                // One more read catches lines written just before the exit.
                let mut rest = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut rest).await;
                line.extend_from_slice(&rest);
                let mut out = Vec::new();
                for raw in line.split_inclusive(|b| *b == b'\n') {
                    if emit(raw, &o, &mut out) {
                        break;
                    }
                }
                if !out.is_empty() {
                    let _ = tx.send(out).await;
                }
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn file_len(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"2026-01-01T00:00:01.000000001Z stdout F one\n\
2026-01-01T00:00:02.5Z stderr P tw\n\
2026-01-01T00:00:02.6Z stderr F o\n\
2026-01-01T00:00:03Z stdout F three\n";

    fn opts(q: &[(&str, &str)]) -> LogOptions {
        LogOptions::from_query(&q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()).unwrap()
    }

    fn run(o: &LogOptions) -> String {
        let mut out = Vec::new();
        render_all(LOG, o, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn partial_lines_are_joined() {
        assert_eq!(run(&LogOptions::default()), "one\ntwo\nthree\n");
    }

    #[test]
    fn tail_counts_entries() {
        assert_eq!(run(&opts(&[("tailLines", "1")])), "three\n");
        assert_eq!(run(&opts(&[("tailLines", "3")])), "two\nthree\n");
        assert_eq!(run(&opts(&[("tailLines", "10")])), "one\ntwo\nthree\n");
        assert_eq!(run(&opts(&[("tailLines", "0")])), "");
    }

    #[test]
    fn since_time_timestamps_and_limit() {
        assert_eq!(run(&opts(&[("sinceTime", "2026-01-01T00:00:02.6Z")])), "o\nthree\n");
        assert_eq!(run(&opts(&[("timestamps", "true"), ("tailLines", "1")])), "2026-01-01T00:00:03Z three\n");
        assert_eq!(run(&opts(&[("limitBytes", "5")])), "one\nt");
    }

    #[test]
    fn since_seconds_is_relative_to_now() {
        let o = opts(&[("sinceSeconds", "60")]);
        let since = o.since.unwrap();
        assert!(Timestamp::now() - jiff::SignedDuration::from_secs(61) < since);
        assert_eq!(run(&o), "");
    }

    #[test]
    fn bad_numbers_are_rejected() {
        let q = vec![("tailLines".to_string(), "x".to_string())];
        assert_eq!(LogOptions::from_query(&q), Err(BadOption("invalid tailLines: \"x\"".into())));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse_line(b"garbage\n").is_none());
        let l = parse_line(b"2026-01-01T00:00:00Z stdout F \n").unwrap();
        assert_eq!(l.msg, b"");
    }
}
