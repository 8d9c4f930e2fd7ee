//! The run protocol between the page and the backend over one WebSocket
//! (`/api/session`). JSON text frames, one message each, tagged by `type`.

use crate::lang::Lang;
use serde::{Deserialize, Serialize};

/// The largest message a page may send, in bytes of JSON (a run's files included); the server
/// refuses larger ones before buffering them, and the page checks before sending.
pub const MAX_CLIENT_MESSAGE: usize = 1 << 20;
/// Files one run may bring.
pub const MAX_RUN_FILES: usize = 32;

/// Why the server refused a page's session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The class has an access code and this page has not joined.
    JoinFirst,
    /// The class already holds `students` students.
    ClassFull { students: usize },
    /// Too many new students came from this page's address lately.
    TooManyNew,
    /// This student already has `max` pages connected.
    TooManyPages { max: usize },
    /// The class server is stopping.
    Stopping,
    /// The class database failed.
    Failed { message: String },
    /// The teacher removed this student from the class: join again to come back.
    Removed,
}

/// Page → backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMsg {
    /// Write `files` into the session's work dir, then start `entry` with `args`.
    Run(RunRequest),
    /// Bytes for the program's standard input.
    Stdin { run_id: u32, data: String },
    /// End of input: the program's next read returns EOF.
    CloseStdin { run_id: u32 },
    Signal { run_id: u32, signal: Signal },
    /// Which lesson the student has open (`None`: the lesson list or the scratch page), for
    /// the teacher's view. Sent on connect and at every change of page.
    Viewing { lesson: Option<String> },
    /// The student checked an exercise: recorded as an attempt (passed or not) in the class
    /// database, shown in the teacher's grid.
    ExerciseResult { lesson: String, cell: String, passed: bool },
    /// Check a "tftp-server" exercise: the backend starts `code` (the student's server, as the
    /// cell's file) in the sandbox, runs the built-in TFTP client's checks against it and
    /// answers with `TftpCheck`s, the program's own messages (its packets among them, as
    /// `Packet`s of the run's capture), and `Exit` last.
    CheckTftp { run_id: u32, lesson: String, cell: String, code: String },
    /// Check a server exercise: the backend runs `code` as the cell's file in the sandbox with
    /// the course's own checks after it (never checks from the page), answers with the program's
    /// output, one `Checked` and `Exit` last, and records the verdict itself.
    Check { run_id: u32, lesson: String, cell: String, code: String },
    /// The student's latest code of a lesson's cell (sent as they edit, debounced): the server
    /// keeps it for the teacher's view and for a restore, within bounds (`WorkRefused` past them).
    SaveCode { lesson: String, cell: String, code: String },
    /// The output of the latest run of a lesson's cell (the server keeps its last 16 KiB).
    SaveOutput { lesson: String, cell: String, output: String },
    /// The student raises their hand (`false`: lowers it); the teacher's list shows them first.
    RaiseHand { raised: bool },
    /// The student opened the solution of an exercise (the teacher sees who did).
    SolutionOpened { lesson: String, cell: String },
    /// The page's interface language: what the server says to this student (errors, limits,
    /// checker details, notices) is in it from now on. Sent on connect and at every switch.
    Language { lang: Lang },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Chosen by the page, unique within the connection.
    pub run_id: u32,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// The Python file to run, relative to the work dir.
    pub entry: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Send `Listening` once the program has a listening or bound socket.
    #[serde(default)]
    pub watch_listen: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSpec {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGINT: Python raises KeyboardInterrupt.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Backend → page (and Python worker → page: the browser runtime speaks the same events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMsg {
    /// First message on a connection. `hand`: the student's hand is raised (kept by the server
    /// until the teacher answers), so a reloaded page shows it as the teacher sees it.
    Hello {
        session: String,
        #[serde(default)]
        hand: bool,
    },
    /// The run waits for a free slot; `ahead` runs are before it.
    Queued { run_id: u32, ahead: u32 },
    Started { run_id: u32, pid: u32 },
    /// The program has a listening (TCP) or bound (UDP) socket.
    Listening { run_id: u32 },
    Output { run_id: u32, stream: Stream, data: String },
    Exit(ExitInfo),
    /// A problem with a message or a run. `run_id` is absent when the message
    /// could not be attributed to a run (e.g. malformed JSON).
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<u32>,
        message: String,
    },
    /// A message from the teacher (or the server, e.g. "the class server is shutting down"),
    /// shown to the student as a banner.
    Notice { message: String },
    /// The teacher takes the class to a lesson.
    Goto { lesson: String },
    /// Lesson files changed on the server: the page refetches these lessons (and the list).
    CourseChanged { lessons: Vec<String> },
    /// One case of a TFTP exercise check ("download", "upload", "missing_file", "lost_ack").
    TftpCheck { run_id: u32, case: String, passed: bool, message: String },
    /// The verdict of a Check (browser or server), read from the check harness's own records,
    /// never from the program's output. Comes before the run's `Exit`.
    Checked { run_id: u32, report: crate::check::CheckReport },
    /// The session was not opened (or was closed): why, so the page can say it in its language.
    Refused { reason: Refusal },
    /// A packet on the run's loopback (seen by the backend from outside the sandbox).
    Packet { run_id: u32, packet: crate::capture::Segment },
    /// Something the run's program did, recorded inside it: a process or thread began or ended,
    /// a wait, a socket call.
    Activity { run_id: u32, event: crate::timeline::Activity },
    /// The run's recording of `what` stops here: `shown` events were sent, `not_shown` more
    /// (so far) were not, because of the per-run cap or a reader that fell behind.
    RecordingCut { run_id: u32, what: Recording, shown: u32, not_shown: u64 },
    /// The server did not keep the student's code of a cell (`SaveCode`): why.
    WorkRefused { lesson: String, cell: String, message: String },
    /// The teacher answered the student's raised hand: it goes down.
    HandAnswered,
    /// The teacher reset this exercise: the page puts the cell back to the lesson's code.
    ResetCell { lesson: String, cell: String },
    /// The teacher renamed the student.
    Renamed { name: String },
}

/// Which recording of a run a `RecordingCut` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recording {
    Packets,
    Activity,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub run_id: u32,
    /// Exit code when the program exited by itself.
    pub code: Option<i32>,
    /// Signal number when a signal ended it.
    pub signal: Option<i32>,
    pub cpu_ms: u64,
    pub wall_ms: u64,
    /// Some output was cut by the per-run cap.
    pub truncated: bool,
    /// Why it was stopped, when a limit or the student stopped it (English, for logs and tests).
    pub reason: Option<String>,
    /// The same, as data, so the page can say it in its own language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<EndReason>,
}

/// Why a run was ended by something other than itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndReason {
    /// It ran longer than the wall-clock limit.
    WallClock { secs: u64 },
    /// It used up its CPU time.
    CpuTime { secs: u64 },
    /// It used more memory than the sandbox allows.
    Memory { mib: u64 },
    /// It started more processes than allowed.
    Processes { max: u64 },
    /// The teacher stopped it.
    Teacher,
    /// The page that started it was closed.
    PageClosed,
    /// It did not end when asked, so the student's sandbox was restarted.
    SandboxRestarted,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_shape() {
        let m = ClientMsg::Stdin { run_id: 3, data: "hi\n".into() };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"Stdin","run_id":3,"data":"hi\n"}"#
        );
        let run: ClientMsg = serde_json::from_str(
            r#"{"type":"Run","run_id":1,"entry":"a.py","files":[{"name":"a.py","text":"print(1)"}]}"#,
        )
        .unwrap();
        assert!(matches!(run, ClientMsg::Run(RunRequest { run_id: 1, watch_listen: false, .. })));
        let exit = ServerMsg::Exit(ExitInfo { run_id: 1, code: Some(0), ..Default::default() });
        let back: ServerMsg = serde_json::from_str(&serde_json::to_string(&exit).unwrap()).unwrap();
        assert_eq!(back, exit);
    }

    #[test]
    fn tftp_check_messages_have_a_stable_json_shape() {
        let check: ClientMsg =
            serde_json::from_str(r#"{"type":"CheckTftp","run_id":7,"lesson":"tftp","cell":"tftp-serve","code":"pass"}"#).unwrap();
        assert_eq!(check, ClientMsg::CheckTftp { run_id: 7, lesson: "tftp".into(), cell: "tftp-serve".into(), code: "pass".into() });
        let case = ServerMsg::TftpCheck { run_id: 7, case: "lost_ack".into(), passed: false, message: "no retransmission".into() };
        assert_eq!(
            serde_json::to_string(&case).unwrap(),
            r#"{"type":"TftpCheck","run_id":7,"case":"lost_ack","passed":false,"message":"no retransmission"}"#
        );
    }

    #[test]
    fn help_messages_have_a_stable_json_shape() {
        let save: ClientMsg = serde_json::from_str(r#"{"type":"SaveCode","lesson":"closures","cell":"acc","code":"x = 1"}"#).unwrap();
        assert_eq!(save, ClientMsg::SaveCode { lesson: "closures".into(), cell: "acc".into(), code: "x = 1".into() });
        assert_eq!(serde_json::to_string(&ClientMsg::RaiseHand { raised: true }).unwrap(), r#"{"type":"RaiseHand","raised":true}"#);
        assert_eq!(serde_json::to_string(&ServerMsg::HandAnswered).unwrap(), r#"{"type":"HandAnswered"}"#);
        let hello = ServerMsg::Hello { session: "s".into(), hand: true };
        assert_eq!(serde_json::to_string(&hello).unwrap(), r#"{"type":"Hello","session":"s","hand":true}"#);
        // A Hello without the field (an older server) means a lowered hand.
        let old: ServerMsg = serde_json::from_str(r#"{"type":"Hello","session":"s"}"#).unwrap();
        assert_eq!(old, ServerMsg::Hello { session: "s".into(), hand: false });
        let removed = ServerMsg::Refused { reason: Refusal::Removed };
        assert_eq!(serde_json::to_string(&removed).unwrap(), r#"{"type":"Refused","reason":{"kind":"removed"}}"#);
    }
}
