//! classbook-tftp: TFTP (RFC 1350 with 2347 OACK, 2348 blksize, 2349 timeout/tsize, 7440
//! windowsize) for classbook: a tokio server and client, a packet trace, exercise checks.
//!
//! Public modules:
//! - [`packet`]: the wire codec (`Packet::decode` / `Packet::encode`) and its `PacketError`.
//! - [`netascii`]: netascii newline conversion (CR LF / CR NUL).
//! - [`server`]: `ServerConfig` and `Server::serve` on an already-bound UDP socket.
//! - [`client`]: `Client::download` / `Client::upload` with `ClientOptions`.
//! - [`checks`]: the four exercise checks against a student's server (`run_checks`, or
//!   `run_checks_in` from another network namespace).
//! - [`trace`]: `TraceEvent`s, one per datagram, texts clipped, sent to an optional bounded
//!   `TraceSink` that drops (and counts) what does not fit rather than wait.
//!
//! Every transfer is a task of the runtime, so waiting for a peer holds no thread; while its
//! peer answers fast it moves to a lane, one of as many threads as CPUs, where it waits in
//! `recvfrom` itself (lock-step speed is the round trip, and a thread woken straight from
//! `recvfrom` answers sooner than a task woken through the runtime). A peer that goes silent
//! is given up after (retries + 1) timeouts: 6 s with the defaults, 30 s when the client
//! negotiated a 5 s timeout, the most the default server acknowledges.
//!
//! Internal modules: `lane` (where a transfer runs, and stopping it), `socket` (how a
//! transfer's socket waits, on a lane or in the runtime; `poll` says when a lane polls before
//! sleeping), `link` (a transfer's endpoint: TID, ERROR 5, tracing), `transfer`
//! (shared parameters, adaptive retransmission timer, errors, stats), `sender` and `receiver` (the
//! windowed halves of every transfer, RFC 1123 duplicate-ACK rule, block number rollover),
//! `blockio` (file/memory sources and sinks), `path` (confinement to the root, uploads), `quota`
//! (the upload space shared by concurrent uploads, charged per byte),
//! `session` (one server transfer), `tftpd` (`run_tftpd` for `classbook tftpd`).

pub mod checks;
pub mod client;
pub mod netascii;
pub mod packet;
pub mod server;
pub mod trace;

mod blockio;
mod lane;
mod link;
mod path;
mod poll;
mod quota;
mod receiver;
mod sender;
mod session;
mod socket;
mod tftpd;
mod transfer;

pub use checks::{run_checks, run_checks_in, CheckEnv, CheckOutcome, CheckPlan, StoredFile};
pub use client::{Client, ClientOptions, Download};
pub use packet::{ErrorCode, Mode, Options, Packet, PacketError, Request};
pub use server::{Server, ServerConfig, SocketFactory};
pub use tftpd::run_tftpd;
pub use trace::{Direction, TraceEvent, TraceReceiver, TraceSink};
pub use transfer::{TransferError, TransferStats};
