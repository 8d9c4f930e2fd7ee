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
//! Every transfer runs on a blocking thread of its own (lock-step speed is the round trip; a
//! thread woken straight from `recvfrom` answers sooner than a task woken through the runtime);
//! the server's request port and the client's API are async.
//!
//! Internal modules: `link` (a transfer's socket: TID, ERROR 5, tracing, stopping), `transfer`
//! (shared parameters, adaptive retransmission timer, errors, stats), `sender` and `receiver` (the
//! windowed halves of every transfer, RFC 1123 duplicate-ACK rule, block number rollover),
//! `blockio` (file/memory sources and sinks), `path` (confinement to the root, uploads),
//! `session` (one server transfer), `tftpd` (`run_tftpd` for `classbook tftpd`).

pub mod checks;
pub mod client;
pub mod netascii;
pub mod packet;
pub mod server;
pub mod trace;

mod blockio;
mod link;
mod path;
mod poll;
mod receiver;
mod sender;
mod session;
mod tftpd;
mod transfer;

pub use checks::{run_checks, run_checks_in, CheckEnv, CheckOutcome, CheckPlan, StoredFile};
pub use client::{Client, ClientOptions, Download};
pub use packet::{ErrorCode, Mode, Options, Packet, PacketError, Request};
pub use server::{Server, ServerConfig, SocketFactory};
pub use tftpd::run_tftpd;
pub use trace::{Direction, TraceEvent, TraceReceiver, TraceSink};
pub use transfer::{TransferError, TransferStats};
