//! Exercise verdicts as data: the records the check harness (`check.py`, run after the
//! student's code in the browser worker and in the sandbox) writes, and the verdict read from them.
//!
//! Threat model. The records never travel in the program's output: in the browser the runner
//! returns them to the worker, which posts them as their own message; in the sandbox the agent
//! hands the harness a pipe the backend reads apart from stdout/stderr, and the backend decides
//! and records the verdict itself. So printing `✔ …` (or anything else) cannot pass a check, a
//! check that never ran counts as not run, and a crash fails. Not covered: code that sets out to
//! subvert the harness from inside the same Python process (monkeypatching it, finding the
//! records through `gc`, writing to the pipe it finds in /proc/self/fd). In the browser that is
//! no worse than the browser's own devtools, which are the student's; on the server it needs
//! deliberate tampering visible in the code the student submitted.

use serde::{Deserialize, Serialize};

/// The harness, defined once for the page's worker, the sandbox's agent and the tests.
pub const HARNESS: &str = include_str!("check.py");
/// The most record text a check run may write; more is cut and the check fails.
pub const MAX_RECORDS: usize = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// An earlier error (or the end of the program) came before this check.
    NotRun,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckLine {
    pub description: String,
    pub status: Status,
}

/// What the page shows and the class records for one Check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Every check of the exercise, in the order of the checks' source.
    pub results: Vec<CheckLine>,
    /// Why the checks did not all run: the student's own error (a traceback), a check's, or
    /// how the program ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub passed: bool,
}

/// Reads the harness's records (`records`: JSON lines). `ended` says how the program ended when
/// that was not a normal exit (a non-zero code, a signal, a limit), in words for the student.
pub fn decide(records: &str, ended: Option<String>) -> CheckReport {
    let mut plan: Option<Vec<(u64, String)>> = None;
    let mut ran: Vec<(u64, String, bool)> = Vec::new();
    let (mut error, mut done, mut garbled) = (None::<String>, false, false);
    for line in records.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(serde_json::Value::Object(rec)) = serde_json::from_str::<serde_json::Value>(line) else {
            garbled = true;
            continue;
        };
        if let Some(sites) = rec.get("plan").and_then(|p| p.as_array()) {
            if plan.is_none() {
                let site = |s: &serde_json::Value| Some((s.get(0)?.as_u64()?, s.get(1)?.as_str()?.to_string()));
                plan = Some(sites.iter().filter_map(site).collect());
            }
        } else if let Some(text) = rec.get("error").and_then(|e| e.as_str()) {
            error.get_or_insert_with(|| text.to_string());
        } else if rec.get("done").and_then(|d| d.as_bool()) == Some(true) {
            done = true;
        } else if let (Some(at), Some(d), Some(p)) = (
            rec.get("line").and_then(|l| l.as_u64()),
            rec.get("description").and_then(|d| d.as_str()),
            rec.get("passed").and_then(|p| p.as_bool()),
        ) {
            ran.push((at, d.to_string(), p));
        } else {
            garbled = true;
        }
    }
    let plan = plan.unwrap_or_default();
    let line = |d: &str, ok: bool| CheckLine { description: d.to_string(), status: if ok { Status::Passed } else { Status::Failed } };
    let mut results = Vec::new();
    for (at, description) in &plan {
        let here: Vec<CheckLine> = ran.iter().filter(|(l, ..)| l == at).map(|(_, d, ok)| line(d, *ok)).collect();
        if here.is_empty() {
            results.push(CheckLine { description: description.clone(), status: Status::NotRun });
        }
        results.extend(here);
    }
    // A call the plan did not foresee still shows (and must pass).
    results.extend(ran.iter().filter(|(l, ..)| !plan.iter().any(|(at, _)| at == l)).map(|(_, d, ok)| line(d, *ok)));
    if error.is_none() {
        error = match (done, ended) {
            (_, Some(why)) => Some(why),
            (false, None) => Some("the checks did not finish".into()),
            (true, None) if garbled => Some("the check results were unreadable".into()),
            (true, None) if results.is_empty() => Some("the exercise has no checks".into()),
            (true, None) => None,
        };
    }
    let passed = error.is_none() && results.iter().all(|r| r.status == Status::Passed);
    CheckReport { results, error, passed }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{"plan": [[2, "adds"], [3, "empty"]]}"#;

    #[test]
    fn every_check_passing_and_finishing_passes() {
        let recs = format!("{PLAN}\n{{\"line\": 2, \"description\": \"adds\", \"passed\": true}}\n{{\"line\": 3, \"description\": \"empty\", \"passed\": true}}\n{{\"done\": true}}\n");
        let r = decide(&recs, None);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.results.len(), 2);
    }

    #[test]
    fn a_check_that_never_ran_is_not_run_and_fails() {
        let recs = format!("{PLAN}\n{{\"line\": 2, \"description\": \"adds\", \"passed\": true}}\n{{\"error\": \"IndexError: list index out of range\"}}\n");
        let r = decide(&recs, None);
        assert!(!r.passed);
        assert_eq!(r.results[1], CheckLine { description: "empty".into(), status: Status::NotRun });
        assert_eq!(r.error.as_deref(), Some("IndexError: list index out of range"));
    }

    #[test]
    fn a_program_that_ends_badly_after_its_checks_fails() {
        let recs = format!("{PLAN}\n{{\"line\": 2, \"description\": \"adds\", \"passed\": true}}\n{{\"line\": 3, \"description\": \"empty\", \"passed\": true}}\n{{\"done\": true}}\n");
        let r = decide(&recs, Some("exited with code 1".into()));
        assert!(!r.passed);
        assert_eq!(r.error.as_deref(), Some("exited with code 1"));
    }

    #[test]
    fn nothing_or_garbage_never_passes() {
        assert!(!decide("", None).passed);
        assert!(!decide("\u{2714} adds\n{\"done\": true}\n", None).passed);
        assert!(!decide("{\"plan\": []}\n{\"done\": true}\n", None).passed);
    }

    #[test]
    fn the_first_error_is_the_one_shown() {
        let r = decide("{\"error\": \"SyntaxError: expected ':'\"}\n{\"error\": \"NameError\"}\n", None);
        assert_eq!(r.error.as_deref(), Some("SyntaxError: expected ':'"));
    }
}
