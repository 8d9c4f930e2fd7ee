//! Packet trace: one serializable `TraceEvent` per datagram a transfer sends or receives,
//! delivered to an optional unbounded channel (the backend forwards them to the page as JSON).

use crate::packet::{Opcode, Packet, PacketError};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// Where trace events go; `None` traces nothing (and costs nothing).
pub type TraceSink = Option<UnboundedSender<TraceEvent>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// One datagram seen by one transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    /// Transfer number, unique within one server or client (0: the server's request port).
    pub transfer: u64,
    pub direction: Direction,
    /// Our address (the transfer's own port, its TID).
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// `None` when the datagram was not a valid packet (see `note`).
    pub opcode: Option<Opcode>,
    pub block: Option<u16>,
    /// Datagram length in bytes.
    pub size: usize,
    /// DATA payload length in bytes.
    pub data_len: Option<usize>,
    pub filename: Option<String>,
    pub mode: Option<&'static str>,
    pub options: Vec<(String, String)>,
    /// Microseconds since the transfer started.
    pub elapsed_us: u64,
    pub retransmit: bool,
    pub error_code: Option<u16>,
    pub error_message: Option<String>,
    /// What was done about the packet when that is not obvious: "duplicate ACK ignored",
    /// "unknown transfer ID", "malformed: …".
    pub note: Option<String>,
}

/// A transfer's handle on the sink: stamps transfer number, local address and time.
#[derive(Clone, Debug)]
pub(crate) struct Tracer {
    sink: TraceSink,
    transfer: u64,
    local: SocketAddr,
    start: Instant,
}

impl Tracer {
    pub(crate) fn new(sink: TraceSink, transfer: u64, local: SocketAddr) -> Tracer {
        Tracer { sink, transfer, local, start: Instant::now() }
    }

    pub(crate) fn set_local(&mut self, local: SocketAddr) {
        self.local = local;
    }

    pub(crate) fn packet(
        &self,
        direction: Direction,
        peer: SocketAddr,
        packet: &Packet<'_>,
        size: usize,
        retransmit: bool,
        note: Option<&str>,
    ) {
        let Some(sink) = &self.sink else { return };
        let mut event = self.blank(direction, peer, size, note);
        event.opcode = Some(packet.opcode());
        event.retransmit = retransmit;
        match packet {
            Packet::Rrq(req) | Packet::Wrq(req) => {
                event.filename = Some(req.filename.clone());
                event.mode = Some(req.mode.as_str());
                event.options = req.options.pairs();
            }
            Packet::Data { block, data } => {
                event.block = Some(*block);
                event.data_len = Some(data.len());
            }
            Packet::Ack { block } => event.block = Some(*block),
            Packet::Error { code, message } => {
                event.error_code = Some(code.0);
                event.error_message = Some(message.clone());
            }
            Packet::Oack(options) => event.options = options.pairs(),
        }
        let _ = sink.send(event);
    }

    pub(crate) fn malformed(&self, peer: SocketAddr, size: usize, error: &PacketError, action: &str) {
        if self.sink.is_none() {
            return;
        }
        let note = format!("malformed ({error}): {action}");
        self.note(Direction::Received, peer, size, &note);
    }

    /// An event without a decoded packet (e.g. a datagram dropped before decoding).
    pub(crate) fn note(&self, direction: Direction, peer: SocketAddr, size: usize, note: &str) {
        let Some(sink) = &self.sink else { return };
        let _ = sink.send(self.blank(direction, peer, size, Some(note)));
    }

    fn blank(&self, direction: Direction, peer: SocketAddr, size: usize, note: Option<&str>) -> TraceEvent {
        TraceEvent {
            transfer: self.transfer,
            direction,
            local: self.local,
            peer,
            opcode: None,
            block: None,
            size,
            data_len: None,
            filename: None,
            mode: None,
            options: Vec::new(),
            elapsed_us: self.start.elapsed().as_micros() as u64,
            retransmit: false,
            error_code: None,
            error_message: None,
            note: note.map(str::to_string),
        }
    }
}
