//! The receiving half of a transfer: takes DATA in order, ACKs every `window` blocks (RFC 7440)
//! or at a gap, re-ACKs on timeout, and dallies after the final ACK in case it was lost.

use crate::blockio::Sink;
use crate::link::Link;
use crate::packet::{ErrorCode, Packet, MAX_PACKET};
use crate::trace::Direction;
use crate::transfer::{Params, Rto, TransferError};
use std::time::Instant;

/// How the receiver starts: `pending` is the packet that asked for block 1 (ACK 0 or OACK,
/// already sent, resent on timeout); `first` is block 1 when it already arrived.
pub(crate) struct Start {
    pub pending: Option<Packet<'static>>,
    pub first: Option<Vec<u8>>,
}

/// What a finished receive took in; the final ACK is still to be sent (see [`dally`]).
pub(crate) struct Received {
    pub final_block: u16,
    pub blocks: u64,
    pub duplicates: u64,
}

struct State {
    params: Params,
    pending: Option<Packet<'static>>,
    /// Sequence number of the next block wanted (64-bit; the wire number wraps).
    expected: u64,
    since_ack: usize,
    last_ack: Option<u64>,
    /// A gap was reported; do not report it again until progress.
    gap_reported: bool,
    duplicates: u64,
    drop_ack: Option<u64>,
    rto: Rto,
    /// When the last ACK went out, if it was sent once (for a round-trip sample).
    acked_at: Option<Instant>,
}

/// Receives into `sink` until the final (short) block. `drop_ack` deliberately skips sending
/// the ACK of that block once (to check that the peer retransmits); it must not be the final one.
pub(crate) async fn receive_blocks(
    link: &mut Link,
    sink: &mut Sink<'_>,
    params: Params,
    start: Start,
    drop_ack: Option<u64>,
) -> Result<Received, TransferError> {
    let pending_sent = start.pending.as_ref().map(|_| Instant::now());
    let mut state = State {
        params,
        pending: start.pending,
        expected: 1,
        since_ack: 0,
        last_ack: Some(0),
        gap_reported: false,
        duplicates: 0,
        drop_ack,
        rto: Rto::new(&params, None),
        // The pending ACK 0 / OACK was sent just before: block 1 gives the first sample.
        acked_at: pending_sent,
    };
    if params.window > 1 {
        // Room for two windows: a burst must not overflow the socket while we write to the sink.
        link.reserve_receive_buffer(2 * params.window * (params.blksize + 64));
    }
    let mut retries = 0u32;
    if let Some(first) = start.first {
        if state.on_data(link, sink, 1, &first).await? {
            return Ok(state.finished());
        }
    }
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let mut deadline = Instant::now() + state.rto.timeout();
    loop {
        match link.recv(&mut buf, deadline).await? {
            None => {
                state.rto.timed_out(&mut retries, &params)?;
                state.gap_reported = false;
                state.ack(link).await?;
                deadline = Instant::now() + state.rto.timeout();
            }
            Some(Packet::Data { block, data }) => {
                let before = state.expected;
                if block == state.expected as u16 {
                    if let Some(acked_at) = state.acked_at.take() {
                        state.rto.sample(acked_at.elapsed());
                    }
                }
                if state.on_data(link, sink, block, data).await? {
                    return Ok(state.finished());
                }
                if state.expected != before {
                    retries = 0;
                    state.rto.progress();
                    deadline = Instant::now() + state.rto.timeout();
                }
            }
            Some(other) => return Err(TransferError::unexpected(&other, "DATA")),
        }
    }
}

impl State {
    /// Handles one DATA block; true when it was the final one.
    async fn on_data(&mut self, link: &mut Link, sink: &mut Sink<'_>, block: u16, data: &[u8]) -> Result<bool, TransferError> {
        if data.len() > self.params.blksize {
            let message = format!("DATA {block} has {} bytes, more than blksize {}", data.len(), self.params.blksize);
            return Err(TransferError::local(ErrorCode::ILLEGAL_OPERATION, message));
        }
        let offset = block.wrapping_sub(self.expected as u16);
        if offset == 0 {
            sink.write(data)?;
            self.expected += 1;
            self.since_ack += 1;
            self.gap_reported = false;
            if data.len() < self.params.blksize {
                return Ok(true);
            }
            if self.since_ack >= self.params.window {
                self.ack(link).await?;
            }
        } else if offset >= 0x8000 {
            self.duplicates += 1;
            if offset == 0xFFFF {
                // The block just before the one wanted came again: our ACK was lost.
                self.ack(link).await?;
            } else {
                link.note(Direction::Received, data.len() + 4, "old block ignored");
            }
        } else if !self.gap_reported {
            // A later block: some were lost; ACK the last one in order so the sender restarts there.
            self.gap_reported = true;
            self.ack(link).await?;
        } else {
            link.note(Direction::Received, data.len() + 4, "out-of-order block ignored");
        }
        Ok(false)
    }

    /// ACKs the last block received in order (before block 1: resends the pending packet).
    async fn ack(&mut self, link: &mut Link) -> Result<(), TransferError> {
        let seq = self.expected - 1;
        self.since_ack = 0;
        let retransmit = self.last_ack == Some(seq);
        self.last_ack = Some(seq);
        self.acked_at = (!retransmit).then(Instant::now);
        if self.drop_ack == Some(seq) {
            self.drop_ack = None;
            link.note(Direction::Sent, 0, &format!("ACK {} deliberately not sent (simulated loss)", seq as u16));
            return Ok(());
        }
        match (&self.pending, seq) {
            (Some(pending), 0) => link.send(pending, retransmit).await?,
            _ => link.send(&Packet::Ack { block: seq as u16 }, retransmit).await?,
        }
        Ok(())
    }

    fn finished(&self) -> Received {
        let blocks = self.expected - 1;
        Received { final_block: blocks as u16, blocks, duplicates: self.duplicates }
    }
}

/// Sends the final ACK, then waits one timeout for a retransmitted final DATA (our ACK was
/// lost) and answers it again (RFC 1350 "dallying").
pub(crate) async fn dally(link: &mut Link, final_block: u16, params: Params) {
    let ack = Packet::Ack { block: final_block };
    if link.send(&ack, false).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let deadline = Instant::now() + params.timeout;
    while let Ok(Some(packet)) = link.recv(&mut buf, deadline).await {
        if matches!(packet, Packet::Data { block, .. } if block == final_block) && link.send(&ack, true).await.is_err() {
            return;
        }
    }
}
