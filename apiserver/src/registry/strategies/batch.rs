//! Jobs and CronJobs (`pkg/apis/batch/v1/defaults.go`, `pkg/apis/batch/validation`,
//! `pkg/registry/batch/*`). Job selectors and the `controller-uid`/`job-name` labels are
//! generated at create time from the uid the store has already assigned.

use super::causes::go_label_selector;
use super::json::{child, existing, int, items, s, set_default};
use super::pod_defaults::default_template;
use super::pod_validation::{RestartRule, validate_template};
use super::workload::*;
use super::{cron, labels};
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age, human_duration};
use serde_json::{Value, json};

const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";

/// `SetDefaults_Job` on a Job spec (also the template's pod spec).
fn default_job_spec(spec: &mut Value) {
    if let Some(t) = child(spec, "template") {
        default_template(t);
    }
    if spec.get("completions").is_none_or(Value::is_null) && spec.get("parallelism").is_none_or(Value::is_null) {
        spec["completions"] = json!(1);
        spec["parallelism"] = json!(1);
    }
    set_default(spec, "parallelism", json!(1));
    let per_index = spec.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null());
    set_default(spec, "backoffLimit", json!(if per_index { i64::from(i32::MAX) } else { 6 }));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let has_failure_policy = spec.get("podFailurePolicy").is_some_and(Value::is_object);
    if let Some(policy) = existing(spec, "podFailurePolicy") {
        super::json::each_mut(policy, "rules", |rule| {
            super::json::each_mut(rule, "onPodConditions", |p| set_default(p, "status", json!("True")));
        });
    }
    set_default(spec, "podReplacementPolicy", json!(if has_failure_policy { "Failed" } else { "TerminatingOrFailed" }));
    set_default(spec, "manualSelector", json!(false));
}

/// Copies the template labels to the object's labels when it has none.
fn labels_from_template(obj: &mut Value) {
    let Some(tl) = obj.pointer("/spec/template/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty())).cloned() else {
        return;
    };
    if let Some(meta) = child(obj, "metadata")
        && super::json::len_of(meta, "labels") == 0
    {
        meta["labels"] = tl;
    }
}

/// Job strategy.
pub struct Job;
/// The Job strategy instance.
pub static JOB: Job = Job;

static JOB_COLUMNS: [Column; 7] = [
    Column::new("Status", "string", "Status of the job."),
    Column::new("Completions", "string", "The number of pods which reached phase Succeeded."),
    Column::new("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide("Selector", "string", "A label query over pods that should match the pod count."),
];

fn generate_selector(obj: &mut Value) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let Some(spec) = child(obj, "spec") else { return };
    if let Some(tl) = child(spec, "template").and_then(|t| child(t, "metadata")).and_then(|m| child(m, "labels")).and_then(Value::as_object_mut) {
        for key in [LEGACY_JOB_NAME, JOB_NAME] {
            tl.entry(key).or_insert_with(|| json!(name));
        }
        for key in [LEGACY_CONTROLLER_UID, CONTROLLER_UID] {
            tl.entry(key).or_insert_with(|| json!(uid));
        }
    }
    if let Some(ml) = child(spec, "selector").and_then(|sel| child(sel, "matchLabels")).and_then(Value::as_object_mut) {
        ml.entry(CONTROLLER_UID).or_insert_with(|| json!(uid));
    }
}

fn validate_job_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    for key in ["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"] {
        nonnegative(spec, key, path, causes);
    }
    match s(spec, "completionMode") {
        "" | "NonIndexed" => {}
        "Indexed" => {
            if spec.get("completions").is_none_or(Value::is_null) {
                causes.push(Cause::required_because(format!("{path}.completions"), "when completion mode is Indexed"));
            }
        }
        other => causes.push(Cause::not_supported(format!("{path}.completionMode"), &json!(other), &["NonIndexed", "Indexed"])),
    }
    match s(spec, "podReplacementPolicy") {
        "" | "TerminatingOrFailed" | "Failed" => {}
        other => causes.push(Cause::not_supported(format!("{path}.podReplacementPolicy"), &json!(other), &["Failed", "TerminatingOrFailed"])),
    }
    validate_template(spec.get("template").unwrap_or(&Value::Null), &format!("{path}.template"), RestartRule::OnFailureOrNever, causes);
}

fn duration_cell(status: &Value) -> String {
    let ts = |k: &str| status.get(k).and_then(Value::as_str).and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second());
    match (ts("startTime"), ts("completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration((jiff::Timestamp::now().as_second() - start).max(0)),
        (Some(start), Some(end)) => human_duration((end - start).max(0)),
    }
}

fn job_status_cell(obj: &Value) -> &'static str {
    let status = obj.get("status").unwrap_or(&Value::Null);
    let has = |kind: &str| items(status, "conditions").iter().find(|c| s(c, "type") == kind).is_some_and(|c| s(c, "status") == "True");
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

impl Strategy for Job {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = child(obj, "spec") {
            default_job_spec(spec);
        }
        labels_from_template(obj);
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
        if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) != Some(true) {
            generate_selector(obj);
        }
        labels_from_template(obj);
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let selector = spec.get("selector").filter(|v| v.is_object());
        match selector {
            None => causes.push(Cause::required("spec.selector")),
            Some(sel) => labels::validate_selector(sel, "spec.selector", causes),
        }
        let template_labels = spec.pointer("/template/metadata/labels");
        if let Some(sel) = selector
            && !labels::selector_matches(sel, template_labels)
        {
            causes.push(template_labels_mismatch("spec", template_labels));
        }
        validate_job_spec(spec, "spec", causes);
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        self.validate(obj, causes);
        immutable_selector(obj, old, causes);
        if obj.pointer("/spec/template") != old.pointer("/spec/template") {
            causes.push(Cause::invalid_raw("spec.template", "core.PodTemplateSpec{...}", "field is immutable"));
        }
        for key in ["completionMode", "completions"] {
            let (n, o) = (obj.pointer(&format!("/spec/{key}")), old.pointer(&format!("/spec/{key}")));
            if n != o {
                causes.push(Cause::invalid(format!("spec.{key}"), n.unwrap_or(&Value::Null), "field is immutable"));
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        &JOB_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        let succeeded = int(status, "succeeded").unwrap_or(0);
        let completions = match int(spec, "completions") {
            Some(c) => format!("{succeeded}/{c}"),
            None => match int(spec, "parallelism").unwrap_or(0) {
                p if p > 1 => format!("{succeeded}/1 of {p}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let (names, images) = containers_cells(spec.get("template").unwrap_or(&Value::Null));
        vec![
            json!(job_status_cell(obj)),
            json!(completions),
            json!(duration_cell(status)),
            age(obj),
            names,
            images,
            json!(labels::format_selector(spec.get("selector"))),
        ]
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("status.successful", obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0).to_string())]
    }
}

/// CronJob strategy.
pub struct CronJob;
/// The CronJob strategy instance.
pub static CRON_JOB: CronJob = CronJob;

static CRON_JOB_COLUMNS: [Column; 9] = [
    Column::new("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column::new("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    Column::new("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
    Column::new("Active", "integer", "A list of pointers to currently running jobs."),
    Column::new("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide("Selector", "string", "A label query over pods that should match the pod count."),
];

fn valid_time_zone(tz: &str) -> bool {
    !tz.is_empty() && tz != "Local" && tz.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
}

impl Strategy for CronJob {
    fn has_status(&self) -> bool {
        true
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn default(&self, obj: &mut Value) {
        let Some(spec) = child(obj, "spec") else { return };
        set_default(spec, "concurrencyPolicy", json!("Allow"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "successfulJobsHistoryLimit", json!(3));
        set_default(spec, "failedJobsHistoryLimit", json!(1));
        if let Some(t) = child(spec, "jobTemplate").and_then(|jt| child(jt, "spec")).and_then(|js| child(js, "template")) {
            default_template(t);
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if name.len() > 52 {
            causes.push(Cause::invalid("metadata.name", &json!(name), "must be no more than 52 characters"));
        }
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let schedule = s(spec, "schedule");
        let tz = spec.get("timeZone").and_then(Value::as_str);
        if schedule.is_empty() {
            causes.push(Cause::required("spec.schedule"));
        } else {
            if let Err(e) = cron::parse_schedule(schedule) {
                causes.push(Cause::invalid("spec.schedule", &json!(schedule), e));
            }
            if schedule.contains("TZ") {
                let msg = if tz.is_some() {
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule"
                } else {
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
                };
                causes.push(Cause::invalid("spec.schedule", &json!(schedule), msg));
            }
        }
        nonnegative(spec, "startingDeadlineSeconds", "spec", causes);
        if let Some(tz) = tz.filter(|tz| !valid_time_zone(tz)) {
            let msg = if tz == "Local" {
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones".to_string()
            } else {
                format!("unknown time zone {tz}")
            };
            causes.push(Cause::invalid("spec.timeZone", &json!(tz), msg));
        }
        match s(spec, "concurrencyPolicy") {
            "Allow" | "Forbid" | "Replace" => {}
            "" => causes.push(Cause::required("spec.concurrencyPolicy")),
            other => causes.push(Cause::not_supported("spec.concurrencyPolicy", &json!(other), &["Allow", "Forbid", "Replace"])),
        }
        let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
        validate_job_spec(job_spec, "spec.jobTemplate.spec", causes);
        if let Some(sel) = job_spec.get("selector").filter(|v| v.is_object()) {
            causes.push(Cause::invalid_raw("spec.jobTemplate.spec.selector", &go_label_selector(Some(sel)), "`selector` will be auto-generated"));
        }
        if job_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
            causes.push(Cause::not_supported("spec.jobTemplate.spec.manualSelector", &json!(true), &["nil", "false"]));
        }
        nonnegative(spec, "successfulJobsHistoryLimit", "spec", causes);
        nonnegative(spec, "failedJobsHistoryLimit", "spec", causes);
    }
    fn columns(&self) -> &'static [Column] {
        &CRON_JOB_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let status = obj.get("status").unwrap_or(&Value::Null);
        let last = match status.get("lastScheduleTime").and_then(Value::as_str) {
            Some(t) => crate::registry::table::age_of(Some(t)),
            None => "<none>".into(),
        };
        let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
        let (names, images) = containers_cells(job_spec.get("template").unwrap_or(&Value::Null));
        vec![
            json!(s(spec, "schedule")),
            json!(spec.get("timeZone").and_then(Value::as_str).unwrap_or("<none>")),
            json!(spec.get("suspend").and_then(Value::as_bool).unwrap_or(false)),
            json!(items(status, "active").len()),
            json!(last),
            age(obj),
            names,
            images,
            json!(labels::format_selector(job_spec.get("selector"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_create_generates_selector_and_labels() {
        let mut job = json!({
            "metadata": {"name": "pi", "uid": "u-1"},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}], "restartPolicy": "Never"}}}
        });
        JOB.default(&mut job);
        JOB.prepare_for_create(&mut job);
        assert_eq!(job["spec"]["selector"], json!({"matchLabels": {CONTROLLER_UID: "u-1"}}));
        let tl = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!(tl[JOB_NAME], "pi");
        assert_eq!(tl[LEGACY_CONTROLLER_UID], "u-1");
        assert_eq!(&job["metadata"]["labels"], tl);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(job["spec"]["manualSelector"], false);
        let mut causes = Vec::new();
        JOB.validate(&job, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(JOB.row(&job)[..2], [json!("Running"), json!("0/1")]);
    }

    #[test]
    fn job_needs_never_or_on_failure() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        JOB.default(&mut job);
        JOB.prepare_for_create(&mut job);
        let mut causes = Vec::new();
        JOB.validate(&job, &mut causes);
        assert_eq!(causes, vec![Cause::required_because("spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\"")]);
    }

    #[test]
    fn cronjob_defaults_and_schedule() {
        let mut cj = json!({"metadata": {"name": "c"}, "spec": {"schedule": "bad", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "OnFailure"}}}}}});
        CRON_JOB.default(&mut cj);
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(cj["spec"]["suspend"], false);
        let mut causes = Vec::new();
        CRON_JOB.validate(&cj, &mut causes);
        assert_eq!(causes, vec![Cause::invalid("spec.schedule", &json!("bad"), "expected exactly 5 fields, found 1: [bad]")]);
    }
}
