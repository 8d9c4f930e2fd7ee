//! One TFTP packet as the page draws it in a run's sequence diagram: the wire shape of
//! `ServerMsg::Trace`, independent of the tftp crate's own trace type.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PacketTrace {
    /// Which transfer of the run it belongs to (each has its own client and server ports).
    #[serde(default)]
    pub transfer: u64,
    /// Which side sent it: "client" (the student's program, or our checker) or "server".
    pub from: String,
    /// "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK", or "?" for a malformed datagram.
    pub opcode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u16>,
    /// Datagram length in bytes.
    pub size: u32,
    /// File name of a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Options of a request or OACK, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<(String, String)>,
    /// Milliseconds since the transfer began.
    pub ms: f64,
    /// The same packet was sent before (a retransmission).
    #[serde(default)]
    pub retransmit: bool,
    /// ERROR packets: code and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(u16, String)>,
    /// What the server made of it when that is not obvious ("duplicate ACK ignored").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
