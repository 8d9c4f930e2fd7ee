//! The wire between the backend and the sandbox agent (`agent.py`): one JSON object per
//! SOCK_SEQPACKET packet, requests tagged by `op`, events by `ev`; fds travel beside them.

use serde::{Deserialize, Serialize};

/// Backend → agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request<'a> {
    /// Write `files` into /work (their contents arrive on pipes, one fd per file after the
    /// run's stdin, stdout, stderr and, with `record`, its recording pipe), then fork and run
    /// `entry`.
    Run {
        id: u32,
        entry: &'a str,
        args: &'a [String],
        /// Report `Listening` once the program binds a socket.
        watch: bool,
        /// RLIMIT_CPU of the program, in seconds.
        cpu: u64,
        /// Install the recorder's hooks in the program (`record.rs`): its pipe comes after stderr
        /// and a check's records pipe, before the files'.
        record: bool,
        files: Vec<&'a str>,
        /// An exercise's checks: the agent imports `entry` as a module, runs these after it
        /// with the check harness, and writes the harness's records into the pipe that comes
        /// after stderr (before the files' pipes), never into the program's output.
        #[serde(skip_serializing_if = "Option::is_none")]
        check: Option<&'a str>,
        /// Send the run's `Steps` before its `Exit` (the `steps` tracing mode).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        steps: bool,
    },
    /// Send `sig` to run `id`'s process group.
    Signal { id: u32, sig: i32 },
    /// SIGKILL every process of run `id`.
    Kill { id: u32 },
    /// Write "+" and the first `max` bytes of /work/`name` (never through a link) into the
    /// pipe passed beside, or "-" and why not.
    Read { name: &'a str, max: usize },
}

impl Request<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("agent requests serialize")
    }
}

/// Agent → backend. The agent runs as the student's uid, so these are believed only as far as
/// they concern that student's own runs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "ev", rename_all = "lowercase")]
pub enum Event {
    /// The agent is up; an fd of the sandbox's network namespace comes beside it.
    Ready,
    Started { id: u32, pid: u32 },
    Listening { id: u32 },
    Exit {
        id: u32,
        code: Option<i32>,
        signal: Option<i32>,
        #[serde(default)]
        cpu_ms: u64,
    },
    /// Where run `id`'s time went inside the sandbox (`steps::AGENT_STEPS`, CLOCK_MONOTONIC
    /// ns, 0 for a step not reached); only for a run started with `steps`.
    Steps { id: u32, ns: Vec<u64> },
    /// Run `id` could not start (a file could not be written, a malformed request).
    Failed { id: u32, message: String },
    /// Something went wrong that concerns no run.
    Error {
        #[serde(default)]
        message: String,
    },
}

impl Event {
    pub fn parse(bytes: &[u8]) -> Result<Event, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable message from a sandbox agent: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn shape(r: &Request) -> Value {
        serde_json::from_slice(&r.to_bytes()).unwrap()
    }

    #[test]
    fn requests_have_the_shapes_agent_py_reads() {
        let args = vec!["-v".to_string()];
        let run = Request::Run { id: 3, entry: "a.py", args: &args, watch: true, cpu: 30, record: true, files: vec!["a.py", "b.py"], check: None, steps: false };
        assert_eq!(
            shape(&run),
            json!({"op": "run", "id": 3, "entry": "a.py", "args": ["-v"], "watch": true, "cpu": 30, "record": true, "files": ["a.py", "b.py"]})
        );
        let checked = Request::Run { id: 4, entry: "a.py", args: &[], watch: false, cpu: 30, record: false, files: vec!["a.py"], check: Some("check('x', 1)"), steps: true };
        assert_eq!(
            shape(&checked),
            json!({"op": "run", "id": 4, "entry": "a.py", "args": [], "watch": false, "cpu": 30, "record": false, "files": ["a.py"], "check": "check('x', 1)", "steps": true})
        );
        assert_eq!(shape(&Request::Signal { id: 3, sig: 2 }), json!({"op": "signal", "id": 3, "sig": 2}));
        assert_eq!(shape(&Request::Kill { id: 3 }), json!({"op": "kill", "id": 3}));
        assert_eq!(shape(&Request::Read { name: "up.bin", max: 9 }), json!({"op": "read", "name": "up.bin", "max": 9}));
    }

    #[test]
    fn events_are_parsed_as_agent_py_writes_them() {
        // Python's json.dumps puts a space after ':' and ','.
        assert_eq!(Event::parse(br#"{"ev": "ready"}"#), Ok(Event::Ready));
        assert_eq!(Event::parse(br#"{"ev": "started", "id": 1, "pid": 7}"#), Ok(Event::Started { id: 1, pid: 7 }));
        assert_eq!(Event::parse(br#"{"ev": "listening", "id": 1}"#), Ok(Event::Listening { id: 1 }));
        assert_eq!(
            Event::parse(br#"{"ev": "exit", "id": 1, "code": null, "signal": 9, "cpu_ms": 12}"#),
            Ok(Event::Exit { id: 1, code: None, signal: Some(9), cpu_ms: 12 })
        );
        assert_eq!(Event::parse(br#"{"ev": "steps", "id": 1, "ns": [5, 0]}"#), Ok(Event::Steps { id: 1, ns: vec![5, 0] }));
        assert_eq!(
            Event::parse(br#"{"ev": "failed", "id": 2, "message": "cannot write a.py"}"#),
            Ok(Event::Failed { id: 2, message: "cannot write a.py".into() })
        );
        assert_eq!(
            Event::parse(br#"{"ev": "error", "id": null, "message": "agent: x"}"#),
            Ok(Event::Error { message: "agent: x".into() })
        );
    }

    #[test]
    fn anything_else_from_an_agent_is_an_error_not_a_guess() {
        for bad in [&b"{\"ev\": \"ready\"x"[..], b"{\"ev\": \"readyish\"}", b"{\"ev\": \"started\", \"id\": -1, \"pid\": 1}", b"", b"[]"] {
            assert!(Event::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
