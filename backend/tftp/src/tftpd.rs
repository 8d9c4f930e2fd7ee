//! `classbook tftpd`: a standalone server on a LAN address until Ctrl-C or SIGTERM, logging
//! each request and each ERROR to stderr.

use crate::packet::Opcode;
use crate::server::{Server, ServerConfig};
use crate::trace::{Direction, TraceEvent, TraceSink};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

/// Serves `root` on `listen`; with `allow_write`, uploads go to `root` too (never overwriting).
pub async fn run_tftpd(root: PathBuf, listen: SocketAddr, allow_write: bool) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(root.clone());
    if allow_write {
        config.write_dir = Some(root.clone());
    }
    let socket = UdpSocket::bind(listen).await.with_context(|| format!("cannot bind UDP {listen}"))?;
    let mode = if allow_write { "read and write" } else { "read-only" };
    eprintln!("classbook tftpd: serving {} on {} ({mode})", root.display(), socket.local_addr()?);
    // The log is best effort: under a flood, events past the channel are dropped, not queued.
    let (events, mut receiver) = TraceSink::channel(4096);
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            log(&event);
        }
    });
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    Server::new(config).serve(socket, shutdown, Some(events)).await.context("TFTP server failed")?;
    eprintln!("classbook tftpd: stopped");
    Ok(())
}

fn log(event: &TraceEvent) {
    match (event.direction, event.opcode) {
        (Direction::Received, Some(Opcode::Rrq | Opcode::Wrq)) => eprintln!(
            "{} {} {} {} {:?}",
            event.peer,
            event.opcode.map(|o| o.to_string()).unwrap_or_default(),
            event.filename.as_deref().unwrap_or(""),
            event.mode.unwrap_or(""),
            event.options
        ),
        (_, Some(Opcode::Error)) => eprintln!(
            "{} {} ERROR {} {}",
            event.peer,
            if event.direction == Direction::Sent { "<-" } else { "->" },
            event.error_code.unwrap_or(0),
            event.error_message.as_deref().unwrap_or("")
        ),
        _ => {}
    }
}
