//! The four exercise checks run against a student's TFTP server: download, upload, a missing
//! file (must answer ERROR 1) and a deliberately lost ACK (the server must retransmit).

use crate::client::{Client, ClientOptions};
use crate::packet::ErrorCode;
use crate::server::SocketFactory;
use crate::trace::TraceSink;
use crate::transfer::TransferError;
use serde::Serialize;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    pub name: String,
    pub passed: bool,
    pub message: String,
}

/// What the checks transfer. `CheckPlan::prepare` generates the files in the directory the
/// student's server serves.
#[derive(Clone, Debug)]
pub struct CheckPlan {
    /// A file the server serves, and its exact content.
    pub download_name: String,
    pub download_data: Vec<u8>,
    /// Name and content to upload; `upload_landing` is where the server should store it, to compare.
    pub upload_name: String,
    pub upload_data: Vec<u8>,
    pub upload_landing: Option<PathBuf>,
    /// A name the server does not have.
    pub missing_name: String,
    /// Block whose ACK is dropped while downloading `download_name` again.
    pub dropped_ack: u64,
    /// How long the server gets to retransmit after that lost ACK (our own timer).
    pub retransmit_wait: Duration,
    /// Time limit of each check.
    pub limit: Duration,
}

impl CheckPlan {
    /// Names and contents of the checks' files, without writing anything (the caller puts
    /// `download_data` where the server serves it). `seed` varies names and contents.
    pub fn new(seed: u64) -> CheckPlan {
        CheckPlan {
            download_name: format!("check-{seed}.bin"),
            download_data: generated_bytes(seed, 5 * 512 + 123),
            upload_name: format!("upload-{seed}.bin"),
            upload_data: generated_bytes(seed ^ 0x5555, 3 * 512 + 45),
            upload_landing: None,
            missing_name: format!("no-such-file-{seed}.txt"),
            dropped_ack: 3,
            retransmit_wait: Duration::from_secs(8),
            limit: Duration::from_secs(30),
        }
    }

    /// Writes a generated download file into `dir` (the server's directory) and plans an upload
    /// into the same directory.
    pub fn prepare(dir: &Path, seed: u64) -> io::Result<CheckPlan> {
        let mut plan = CheckPlan::new(seed);
        std::fs::write(dir.join(&plan.download_name), &plan.download_data)?;
        plan.upload_landing = Some(dir.join(&plan.upload_name));
        Ok(plan)
    }
}

/// Reads back the file the server stored under a name (e.g. from a sandbox); `Err` says why not.
pub type StoredFile = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>> + Send + Sync>;

/// Where the checks run from, when not from this process's own network.
#[derive(Clone, Default)]
pub struct CheckEnv {
    /// Opens the client's sockets (e.g. inside the student's sandbox).
    pub sockets: Option<SocketFactory>,
    /// How the upload check reads the stored file when `CheckPlan::upload_landing` is `None`.
    pub stored: Option<StoredFile>,
    /// Each outcome as soon as it is known.
    pub progress: Option<UnboundedSender<CheckOutcome>>,
}

/// Deterministic pseudo-random bytes (xorshift64*), for test files.
pub fn generated_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs the four checks in order: "download", "upload", "missing_file", "lost_ack".
pub async fn run_checks(server: SocketAddr, plan: &CheckPlan, trace: Option<TraceSink>) -> Vec<CheckOutcome> {
    run_checks_in(server, plan, trace, CheckEnv::default()).await
}

/// `run_checks` with the client's sockets, the stored upload and progress taken from `env`.
pub async fn run_checks_in(server: SocketAddr, plan: &CheckPlan, trace: Option<TraceSink>, env: CheckEnv) -> Vec<CheckOutcome> {
    let with_sockets = |client: Client| match &env.sockets {
        Some(sockets) => client.with_socket_factory(sockets.clone()),
        None => client,
    };
    let plain = with_sockets(Client::new(server, ClientOptions::default(), trace.clone()));
    let lossy = Client::new(
        server,
        ClientOptions {
            drop_ack: Some(plan.dropped_ack),
            retransmit_after: plan.retransmit_wait,
            retries: 2,
            ..ClientOptions::default()
        },
        trace,
    );
    let lossy = with_sockets(lossy);
    let mut outcomes = Vec::new();
    let mut record = |outcome: CheckOutcome| {
        if let Some(progress) = &env.progress {
            let _ = progress.send(outcome.clone());
        }
        outcomes.push(outcome);
    };
    let first = check("download", plan.limit, download(&plain, plan)).await;
    let unanswered = !first.passed && first.message.starts_with(UNANSWERED);
    record(first);
    if unanswered {
        // Nothing answers requests (unfinished code): the other cases would only wait as long.
        for name in ["upload", "missing_file", "lost_ack"] {
            let message = "not run: the server did not answer the first request".to_string();
            record(CheckOutcome { name: name.to_string(), passed: false, message });
        }
        return outcomes;
    }
    record(check("upload", plan.limit, upload(&plain, plan, env.stored.as_ref())).await);
    record(check("missing_file", plan.limit, missing(&plain, plan)).await);
    record(check("lost_ack", plan.limit + plan.retransmit_wait, lost_ack(&lossy, plan)).await);
    outcomes
}

async fn check(name: &str, limit: Duration, run: impl Future<Output = Result<String, String>>) -> CheckOutcome {
    let (passed, message) = match tokio::time::timeout(limit, run).await {
        Ok(Ok(message)) => (true, message),
        Ok(Err(message)) => (false, message),
        Err(_) => (false, format!("no result within {} s", limit.as_secs())),
    };
    CheckOutcome { name: name.to_string(), passed, message }
}

fn compare(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    Err(format!("{what}: got {} bytes, expected {}; first difference at byte {first}", got.len(), want.len()))
}

/// How the download's message starts when its request was never answered.
const UNANSWERED: &str = "your server did not answer";

async fn download(client: &Client, plan: &CheckPlan) -> Result<String, String> {
    let done = client.download(&plan.download_name).await.map_err(|e| match e {
        TransferError::Unanswered(n) => format!("{UNANSWERED} the read request (RRQ), sent {} times", n + 1),
        e => format!("download failed: {e}"),
    })?;
    compare("downloaded file", &done.data, &plan.download_data)?;
    Ok(format!("{} bytes in {} blocks, identical", done.data.len(), done.stats.blocks))
}

async fn upload(client: &Client, plan: &CheckPlan, fetch: Option<&StoredFile>) -> Result<String, String> {
    let stats = client.upload(&plan.upload_name, &plan.upload_data).await.map_err(|e| format!("upload failed: {e}"))?;
    if plan.upload_landing.is_none() && fetch.is_none() {
        return Ok(format!("{} bytes acknowledged in {} blocks", stats.bytes, stats.blocks));
    }
    // The server may still be closing the file: give it a moment.
    let mut stored = Err(String::new());
    for _ in 0..20 {
        stored = match (&plan.upload_landing, fetch) {
            (Some(landing), _) => tokio::fs::read(landing).await.map_err(|e| e.to_string()),
            (None, Some(fetch)) => fetch(plan.upload_name.clone()).await,
            (None, None) => unreachable!("checked above"),
        };
        if stored.as_deref() == Ok(&plan.upload_data[..]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = stored.map_err(|why| format!("the upload was acknowledged, but {} cannot be read back: {why}", plan.upload_name))?;
    compare("stored file", &stored, &plan.upload_data)?;
    Ok(format!("{} bytes acknowledged in {} blocks and stored identically", stats.bytes, stats.blocks))
}

async fn missing(client: &Client, plan: &CheckPlan) -> Result<String, String> {
    match client.download(&plan.missing_name).await {
        Err(TransferError::Peer { code: ErrorCode::FILE_NOT_FOUND, message }) => Ok(format!("ERROR 1 ({message})")),
        Err(TransferError::Peer { code, message }) => Err(format!("expected ERROR 1 (file not found), got ERROR {code} ({message})")),
        Err(other) => Err(format!("expected ERROR 1 (file not found), got: {other}")),
        Ok(done) => Err(format!("expected ERROR 1 (file not found), but received {} bytes", done.data.len())),
    }
}

async fn lost_ack(client: &Client, plan: &CheckPlan) -> Result<String, String> {
    let done = client.download(&plan.download_name).await.map_err(|e| format!("download with a lost ACK failed: {e}"))?;
    compare("downloaded file", &done.data, &plan.download_data)?;
    if done.stats.duplicate_blocks == 0 {
        return Err(format!(
            "ACK {} was dropped but the server did not retransmit DATA {} within {} s",
            plan.dropped_ack,
            plan.dropped_ack,
            plan.retransmit_wait.as_secs()
        ));
    }
    Ok(format!("ACK {} dropped; the server retransmitted DATA {} and the file arrived intact", plan.dropped_ack, plan.dropped_ack))
}
