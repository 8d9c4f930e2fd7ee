//! The sending half of a transfer: DATA in windows (RFC 7440; window 1 is RFC 1350 lock-step),
//! resent only on timeout, never on a duplicate ACK (RFC 1123, Sorcerer's Apprentice).

use crate::blockio::Source;
use crate::link::Link;
use crate::packet::{Packet, MAX_PACKET};
use crate::trace::Direction;
use crate::transfer::{Params, Rto, TransferError};
use std::collections::VecDeque;
use std::time::Duration;
use std::time::Instant;

/// Sends `source` from block 1 on (the request/OACK exchange is done) until the final short
/// block is acknowledged; returns the number of blocks. `handshake_rtt` is the round trip of
/// the request exchange, if it took one try. Block numbers wrap from 65535 to 0; sequence
/// numbers here are 64-bit.
pub(crate) async fn send_blocks(
    link: &mut Link,
    source: &mut Source<'_>,
    params: Params,
    handshake_rtt: Option<Duration>,
) -> Result<u64, TransferError> {
    let mut window: VecDeque<Vec<u8>> = VecDeque::with_capacity(params.window);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut base: u64 = 1; // sequence number of window[0]
    let mut highest_sent: u64 = 0;
    let mut read_all = false;
    let mut retries = 0u32;
    let mut rto = Rto::new(&params, handshake_rtt);
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        while !read_all && window.len() < params.window {
            let mut block = spare.pop().unwrap_or_default();
            source.next_block(params.blksize, &mut block)?;
            read_all = block.len() < params.blksize;
            window.push_back(block);
        }
        // Karn's rule: only an ACK of a block sent once (in this round) is a round-trip sample.
        let first_fresh = highest_sent + 1;
        for (i, data) in window.iter().enumerate() {
            let seq = base + i as u64;
            link.send(&Packet::Data { block: seq as u16, data }, seq <= highest_sent).await?;
            highest_sent = highest_sent.max(seq);
        }
        let sent_at = Instant::now();
        let deadline = sent_at + rto.timeout();
        loop {
            match link.recv(&mut buf, deadline).await? {
                None => {
                    rto.timed_out(&mut retries, &params)?;
                    break; // resend the whole window
                }
                Some(Packet::Ack { block }) => {
                    let offset = usize::from(block.wrapping_sub(base as u16));
                    if offset < window.len() {
                        // Full or partial ACK: the next window starts right after `block`.
                        if base + offset as u64 >= first_fresh {
                            rto.sample(sent_at.elapsed());
                        }
                        rto.progress();
                        spare.extend(window.drain(..=offset));
                        base += offset as u64 + 1;
                        retries = 0;
                        if read_all && window.is_empty() {
                            return Ok(base - 1);
                        }
                        break;
                    }
                    let note = if block == (base - 1) as u16 {
                        "duplicate ACK ignored: DATA is resent only on timeout (RFC 1123)"
                    } else {
                        "stale ACK ignored"
                    };
                    link.note(Direction::Received, 4, note);
                }
                Some(other) => return Err(TransferError::unexpected(&other, "ACK")),
            }
        }
    }
}
