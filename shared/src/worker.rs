//! Messages between the page and the Python Web Worker (frontend/worker/worker.js).
//! Run events reuse the WebSocket's `ServerMsg`, so a cell handles both runtimes alike.

use crate::visualise::Trace;
use crate::wire::ServerMsg;
use serde::{Deserialize, Serialize};

/// Page → worker (JSON text). The first message, `init`, is a JS object carrying
/// the shared buffers and is built by the page's runtime/browser module itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WorkerRequest {
    /// Run `code` in namespace `namespace` (one per lesson; cells share it in order).
    Run {
        run_id: u32,
        code: String,
        namespace: String,
        filename: String,
        /// An exercise's checks: run after `code` by the check harness, whose records come
        /// back as `Checked` (the namespace is then the check's own, fresh one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
    /// Run it under the step-through tracer, recording at most `limit` steps; the run's events
    /// come as for `Run`, and its `Visual` trace just before its exit.
    Visualise { run_id: u32, code: String, namespace: String, filename: String, limit: u32 },
}

/// Worker → page (JSON text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum WorkerEvent {
    /// Loading progress, 0.0 to 1.0, with what is happening.
    Progress { fraction: f32, message: String },
    /// The interpreter is ready; `ms` since the worker started. `marks`: the steps of its start
    /// as (name, epoch milliseconds), which the page puts on its performance timeline.
    Ready {
        ms: f64,
        version: String,
        #[serde(default)]
        marks: Vec<(String, f64)>,
    },
    /// The interpreter could not start.
    LoadFailed { message: String },
    /// The running cell called input() and waits for a line.
    InputWanted { run_id: u32 },
    /// The cell needs what a browser cannot do (`reason`); the page offers the server.
    NeedsServer { run_id: u32, reason: String },
    /// The check harness's records of a checked run (JSON lines, see `check`), before its `Exit`.
    Checked { run_id: u32, records: String },
    /// An event of a run, shaped like the backend's.
    Run(ServerMsg),
    /// The trace of a run stepped through (none if the tracer could not give one).
    Visual { run_id: u32, trace: Option<Trace> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Stream;

    #[test]
    fn run_events_nest_inside_worker_events() {
        let json = r#"{"kind":"Run","type":"Output","run_id":2,"stream":"stderr","data":"x"}"#;
        let ev: WorkerEvent = serde_json::from_str(json).unwrap();
        assert_eq!(
            ev,
            WorkerEvent::Run(ServerMsg::Output { run_id: 2, stream: Stream::Stderr, data: "x".into() })
        );
    }
}
