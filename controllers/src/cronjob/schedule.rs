//! CronJob schedules (upstream `pkg/controller/cronjob/utils.go`): the standard 5-field
//! syntax and `@hourly`-style descriptors in the CronJob's time zone, the most recent
//! unmet scheduled time, missed-schedule counting and the names and annotations of the
//! Jobs created for a scheduled time.
//!
//! Parsing and next-time search use `croner` (day-of-month/day-of-week combine like
//! Vixie cron and upstream's robfig/cron: OR when both are restricted); zones come from
//! `chrono-tz`, so `spec.timeZone` and daylight-saving transitions behave as upstream's
//! `time.LoadLocation`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;

/// More missed start times than this produce the `TooManyMissedTimes` warning.
pub const MANY_MISSED: usize = 100;

/// A parsed schedule in its time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

/// How many start times were missed since the last one (upstream `missedSchedules`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    /// The schedule's next time has not come yet.
    None,
    /// Up to [`MANY_MISSED`] times passed; the most recent one is due.
    Few,
    /// More than [`MANY_MISSED`] (the controller warns).
    Many,
}

/// The time zone of the controller process (upstream uses the process's `time.Local`).
fn local_zone() -> Tz {
    jiff::tz::TimeZone::system().iana_name().and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

fn to_chrono(t: Timestamp, zone: Tz) -> DateTime<Tz> {
    let utc = DateTime::<Utc>::from_timestamp(t.as_second(), t.subsec_nanosecond().try_into().unwrap_or(0)).unwrap_or_default();
    utc.with_timezone(&zone)
}

fn to_jiff(t: &DateTime<Tz>) -> Option<Timestamp> {
    Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos().try_into().ok()?).ok()
}

impl Schedule {
    /// Parses `schedule` (optionally prefixed `TZ=<zone>` or `CRON_TZ=<zone>`) in
    /// `time_zone` (`spec.timeZone`), else in the controller's local zone.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Schedule, String> {
        let mut spec = schedule.trim();
        let mut zone_name = time_zone.map(str::to_string);
        for prefix in ["TZ=", "CRON_TZ="] {
            if let Some(rest) = spec.strip_prefix(prefix) {
                let (zone, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                zone_name.get_or_insert_with(|| zone.to_string());
                spec = rest.trim();
            }
        }
        let zone = match &zone_name {
            Some(name) => name.parse::<Tz>().map_err(|_| format!("unknown time zone {name}"))?,
            None => local_zone(),
        };
        let cron = CronParser::builder().seconds(Seconds::Disallowed).build().parse(spec).map_err(|e| e.to_string())?;
        Ok(Schedule { cron, zone })
    }

    /// The first scheduled time strictly after `t`.
    ///
    /// A time that falls into a daylight-saving gap is skipped, as upstream's robfig/cron
    /// does (croner would run it at the end of the gap; such a time does not match the
    /// pattern on the wall clock, so it is passed over).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let mut from = to_chrono(t, self.zone);
        for _ in 0..8 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if self.cron.is_time_matching(&next).unwrap_or(false) {
                return to_jiff(&next);
            }
            from = next;
        }
        None
    }

    /// The most recent scheduled time in `(earliest, now]` and how many were missed
    /// (upstream `mostRecentScheduleTime`).
    pub fn most_recent(&self, earliest: Timestamp, now: Timestamp) -> (Option<Timestamp>, Missed) {
        let Some(first) = self.next_after(earliest).filter(|t| *t <= now) else { return (None, Missed::None) };
        let mut recent = first;
        let mut missed = 1;
        while let Some(t) = self.next_after(recent).filter(|t| *t <= now) {
            recent = t;
            missed += 1;
            if missed > MANY_MISSED {
                // Jump to the end instead of walking every missed time.
                let last = self.cron.find_previous_occurrence(&to_chrono(now, self.zone), true).ok().and_then(|t| to_jiff(&t)).unwrap_or(recent);
                return (Some(last.max(recent)), Missed::Many);
            }
        }
        (Some(recent), Missed::Few)
    }

    /// `t` in RFC 3339 in this schedule's zone (upstream's
    /// `batch.kubernetes.io/cronjob-scheduled-timestamp` format).
    pub fn format_in_zone(t: Timestamp, zone: Option<&str>) -> String {
        let zone = zone.and_then(|z| z.parse::<Tz>().ok()).unwrap_or(Tz::UTC);
        to_chrono(t, zone).to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// `t` as Go's `time.RFC1123Z` in UTC (the `MissSchedule` event's format).
pub fn rfc1123z(t: Timestamp) -> String {
    Utc.timestamp_opt(t.as_second(), 0).single().map(|d| d.format("%a, %d %b %Y %H:%M:%S %z").to_string()).unwrap_or_default()
}

/// The Job name for a scheduled time: `<cronjob>-<minutes since the epoch>` (the name
/// doubles as a lock against creating the same run twice).
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_minute_and_descriptors() {
        let s = Schedule::parse("* * * * *", Some("UTC")).unwrap();
        assert_eq!(s.next_after(ts("2025-01-01T10:00:30Z")), Some(ts("2025-01-01T10:01:00Z")));
        assert_eq!(s.next_after(ts("2025-01-01T10:01:00Z")), Some(ts("2025-01-01T10:02:00Z")), "strictly after");
        let h = Schedule::parse("@hourly", Some("UTC")).unwrap();
        assert_eq!(h.next_after(ts("2025-01-01T10:00:30Z")), Some(ts("2025-01-01T11:00:00Z")));
        let w = Schedule::parse("0 9 * * mon-fri", Some("UTC")).unwrap();
        assert_eq!(w.next_after(ts("2025-01-03T10:00:00Z")), Some(ts("2025-01-06T09:00:00Z")), "Friday 10:00 -> Monday 9:00");
    }

    #[test]
    fn time_zones_from_the_field_or_the_prefix() {
        let s = Schedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(s.next_after(ts("2025-01-01T00:00:00Z")), Some(ts("2025-01-01T08:00:00Z")), "CET is UTC+1");
        assert_eq!(s.next_after(ts("2025-07-01T00:00:00Z")), Some(ts("2025-07-01T07:00:00Z")), "CEST is UTC+2");
        let p = Schedule::parse("CRON_TZ=America/New_York 0 9 * * *", None).unwrap();
        assert_eq!(p.next_after(ts("2025-01-01T00:00:00Z")), Some(ts("2025-01-01T14:00:00Z")));
        assert!(Schedule::parse("0 9 * * *", Some("Mars/Olympus")).is_err());
        assert!(Schedule::parse("61 * * * *", Some("UTC")).is_err());
        assert_eq!(Schedule::format_in_zone(ts("2025-01-01T08:00:00Z"), Some("Europe/Berlin")), "2025-01-01T09:00:00+01:00");
        assert_eq!(Schedule::format_in_zone(ts("2025-01-01T08:00:00Z"), None), "2025-01-01T08:00:00Z");
    }

    #[test]
    fn daylight_saving_skips_the_missing_hour() {
        // 02:30 does not exist in Berlin on 2025-03-30: like robfig/cron, that run is
        // skipped and the next one is 02:30 CEST the day after.
        let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(s.next_after(ts("2025-03-29T02:00:00Z")), Some(ts("2025-03-31T00:30:00Z")));
    }

    #[test]
    fn most_recent_and_missed_counts() {
        let s = Schedule::parse("*/5 * * * *", Some("UTC")).unwrap();
        let created = ts("2025-01-01T10:01:00Z");
        assert_eq!(s.most_recent(created, ts("2025-01-01T10:04:00Z")), (None, Missed::None));
        assert_eq!(s.most_recent(created, ts("2025-01-01T10:05:00Z")), (Some(ts("2025-01-01T10:05:00Z")), Missed::Few));
        assert_eq!(s.most_recent(created, ts("2025-01-01T10:17:00Z")), (Some(ts("2025-01-01T10:15:00Z")), Missed::Few));
        assert_eq!(s.most_recent(created, ts("2025-01-02T10:17:00Z")), (Some(ts("2025-01-02T10:15:00Z")), Missed::Many));
    }

    #[test]
    fn job_names_count_minutes_since_the_epoch() {
        assert_eq!(job_name("hello", ts("2025-01-01T10:05:00Z")), "hello-28928765");
        assert_eq!(rfc1123z(ts("2025-01-01T10:05:00Z")), "Wed, 01 Jan 2025 10:05:00 +0000");
    }
}
