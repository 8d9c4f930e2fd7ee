//! The packets of a run's loopback as the page draws them (`ServerMsg::Packet`), and the pure
//! decoder from the IP bytes a capture socket reads (IPv4/IPv6; TCP, UDP (TFTP read in `tftp`), ICMP/ICMPv6);
//! `traffic` judges an exercise's traffic property from them.

pub mod tftp;
pub mod traffic;

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Payload bytes a packet's preview shows at most.
pub const PREVIEW_BYTES: usize = 48;

/// One packet seen on the sandbox's loopback.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// When the kernel saw it, in microseconds since the Unix epoch (the same clock as the
    /// program's recorded calls, so the page can put both on one axis).
    pub us: u64,
    /// "tcp", "udp" or "icmp" (ICMPv6 included).
    pub proto: String,
    /// 4 or 6.
    pub ip: u8,
    pub src: String,
    pub dst: String,
    /// Ports. For an ICMP error: those of the datagram it answers, seen from the answer's side
    /// (`sport` the unreachable port, `dport` the sender's), so it lands in that conversation.
    pub sport: u16,
    pub dport: u16,
    /// TCP flags ("SYN", "SYN,ACK", "PSH,ACK", "FIN,ACK", "RST,ACK"); ICMP: what it says
    /// ("port-unreachable", "echo-request", "type 3 code 1"); UDP: empty.
    pub flags: String,
    /// Payload bytes (TCP/UDP data; ICMP: the bytes after its header).
    pub len: u32,
    /// TCP sequence and acknowledgement numbers (raw, as on the wire).
    #[serde(default)]
    pub seq: u32,
    #[serde(default)]
    pub ack: u32,
    /// The first `PREVIEW_BYTES` of the payload, printable ASCII kept and the rest as `·`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preview: String,
    /// UDP: what the datagram says when it reads as TFTP (the diagram's label for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tftp: Option<tftp::Tftp>,
    /// TCP: the payload's first 4 bytes as they are (when it has 4 and they were copied), for
    /// the server's traffic checks (`traffic`). Never sent: the page has `preview`.
    #[serde(skip)]
    pub head: Option<[u8; 4]>,
}

/// Why bytes are not a packet we draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its headers say.
    Truncated(&'static str),
    /// Not IPv4 or IPv6.
    NotIp(u8),
    /// An IP protocol we do not draw (its number).
    OtherProtocol(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated(what) => write!(f, "truncated {what}"),
            DecodeError::NotIp(v) => write!(f, "IP version {v}"),
            DecodeError::OtherProtocol(p) => write!(f, "IP protocol {p}"),
        }
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMP6: u8 = 58;

/// Decodes one IP packet (no link header: what an AF_PACKET `SOCK_DGRAM` socket reads).
/// `bytes` may be cut short (a snap length): lengths come from the headers, and the payload
/// preview from what is there. Never panics.
pub fn decode(bytes: &[u8], us: u64) -> Result<Segment, DecodeError> {
    let first = *bytes.first().ok_or(DecodeError::Truncated("IP header"))?;
    let ip = decode_ip(bytes)?;
    let mut seg = Segment { us, ip: first >> 4, src: ip.src, dst: ip.dst, ..Segment::default() };
    let body = ip.body;
    match ip.proto {
        TCP => {
            let h = body.get(..20).ok_or(DecodeError::Truncated("TCP header"))?;
            let offset = usize::from(h[12] >> 4) * 4;
            seg.proto = "tcp".into();
            (seg.sport, seg.dport) = ports(h);
            seg.seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            seg.ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
            seg.flags = tcp_flags(h[13]);
            seg.len = ip.body_len.saturating_sub(offset) as u32;
            let payload = body.get(offset..).unwrap_or_default();
            seg.preview = preview(payload);
            seg.head = payload.get(..4).filter(|_| seg.len >= 4).map(|h| [h[0], h[1], h[2], h[3]]);
        }
        UDP => {
            let h = body.get(..8).ok_or(DecodeError::Truncated("UDP header"))?;
            seg.proto = "udp".into();
            (seg.sport, seg.dport) = ports(h);
            seg.len = usize::from(u16::from_be_bytes([h[4], h[5]])).saturating_sub(8) as u32;
            let payload = &body[8..];
            seg.preview = preview(payload);
            seg.tftp = tftp::decode(&payload[..payload.len().min(seg.len as usize)], seg.len);
        }
        ICMP | ICMP6 => {
            let h = body.get(..8).ok_or(DecodeError::Truncated("ICMP header"))?;
            seg.proto = "icmp".into();
            seg.flags = icmp_meaning(ip.proto == ICMP6, h[0], h[1]);
            seg.len = ip.body_len.saturating_sub(8) as u32;
            // An error quotes the datagram it answers: its ports put it in that conversation.
            let is_error = if ip.proto == ICMP6 { h[0] < 128 } else { matches!(h[0], 3 | 11 | 12) };
            if is_error {
                if let Ok(inner) = decode_ip(&body[8..]) {
                    if let Some(p) = inner.body.get(..4) {
                        let (s, d) = ports(p);
                        (seg.sport, seg.dport) = (d, s);
                    }
                }
            }
        }
        other => return Err(DecodeError::OtherProtocol(other)),
    }
    Ok(seg)
}

struct Ip<'a> {
    src: String,
    dst: String,
    proto: u8,
    /// What the IP header says its payload holds, in bytes.
    body_len: usize,
    /// The payload bytes present (at most `body_len`).
    body: &'a [u8],
}

fn decode_ip(bytes: &[u8]) -> Result<Ip<'_>, DecodeError> {
    let first = *bytes.first().ok_or(DecodeError::Truncated("IP header"))?;
    match first >> 4 {
        4 => {
            let h = bytes.get(..20).ok_or(DecodeError::Truncated("IPv4 header"))?;
            let header = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if header < 20 || total < header {
                return Err(DecodeError::Truncated("IPv4 header"));
            }
            let addr = |at: usize| Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]).to_string();
            let body = bytes.get(header..total.min(bytes.len())).unwrap_or_default();
            Ok(Ip { src: addr(12), dst: addr(16), proto: h[9], body_len: total - header, body })
        }
        6 => {
            let h = bytes.get(..40).ok_or(DecodeError::Truncated("IPv6 header"))?;
            let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let addr = |at: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&h[at..at + 16]);
                Ipv6Addr::from(a).to_string()
            };
            let body = bytes.get(40..(40 + payload).min(bytes.len())).unwrap_or_default();
            // Extension headers are not followed: loopback traffic of sockets carries none.
            Ok(Ip { src: addr(8), dst: addr(24), proto: h[6], body_len: payload, body })
        }
        v => Err(DecodeError::NotIp(v)),
    }
}

fn ports(h: &[u8]) -> (u16, u16) {
    (u16::from_be_bytes([h[0], h[1]]), u16::from_be_bytes([h[2], h[3]]))
}

/// TCP flags in the order people say them: "SYN,ACK", "PSH,ACK", "FIN,ACK", "RST,ACK".
pub fn tcp_flags(bits: u8) -> String {
    const NAMES: [(u8, &str); 8] =
        [(0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR")];
    NAMES.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(",")
}

fn icmp_meaning(v6: bool, kind: u8, code: u8) -> String {
    let named = match (v6, kind, code) {
        (false, 3, 3) | (true, 1, 4) => "port-unreachable",
        (false, 3, _) | (true, 1, _) => "unreachable",
        (false, 8, _) | (true, 128, _) => "echo-request",
        (false, 0, _) | (true, 129, _) => "echo-reply",
        (false, 11, _) | (true, 3, _) => "time-exceeded",
        (true, 2, _) => "packet-too-big",
        _ => return format!("type {kind} code {code}"),
    };
    named.to_string()
}

/// Printable ASCII kept, anything else as `·`; at most `PREVIEW_BYTES` bytes.
pub fn preview(payload: &[u8]) -> String {
    payload.iter().take(PREVIEW_BYTES).map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '·' }).collect()
}

/// Which conversation a packet belongs to: its protocol family ("tcp", or "udp" for UDP and the
/// ICMP errors answering it) and its two ends, lower first.
pub fn conversation(seg: &Segment) -> (String, (String, u16), (String, u16)) {
    let proto = if seg.proto == "tcp" { "tcp" } else { "udp" };
    let a = (seg.src.clone(), seg.sport);
    let b = (seg.dst.clone(), seg.dport);
    if a <= b {
        (proto.into(), a, b)
    } else {
        (proto.into(), b, a)
    }
}

#[cfg(test)]
mod tests {
    //! Every frame here was read from a real loopback (an AF_PACKET SOCK_DGRAM socket on `lo`
    //! of a fresh network namespace, outgoing copies ignored) while Python ran a TCP echo over
    //! IPv4 and IPv6, UDP datagrams to a bound port and to a closed one, and a refused connect.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn seg(s: &str) -> Segment {
        decode(&hex(s), 7).unwrap()
    }

    const SYN4: &str = "4500003ca5bc4000400696fd7f0000017f000001b52ea4e5583bb2d100000000a002ffd7fe3000000204ffd70402080a155ebf88000000000103030a";
    const SYNACK4: &str = "4500003c0000400040063cba7f0000017f000001a4e5b52e993baa06583bb2d2a012ffcbfe3000000204ffd70402080a67818a00155ebf880103030a";
    const DATA4: &str = "45000039a5be4000400696fe7f0000017f000001b52ea4e5583bb2d2993baa0780180040fe2d00000101080a155ebf8867818a0068656c6c6f";
    const FIN4: &str = "45000034b239400040068a887f0000017f000001a4e5b52e993baa0c583bb2d780110040fe2800000101080a67818a01155ebf89";
    const DATA6: &str = "6001450b002506400000000000000000000000000000000100000000000000000000000000000001c930a243bc2e704b2ba5645980180040002d00000101080a69fa415986cb22a468656c6c6f";
    const UDP4: &str = "45000021ef4f400040114d7a7f0000017f0000018c9b94bb000dfe2070696e6721";
    const ICMP4: &str = "45c00039aadc00004001d1257f0000017f0000010303fa31000000004500001def50400040114d7d7f0000017f0000018c9b00090009fe1c78";
    const UDP6: &str = "6002aef2000b11400000000000000000000000000000000100000000000000000000000000000001b3b4e093000b001e736978";
    const ICMP6_UNREACH: &str = "6007225800393a40000000000000000000000000000000010000000000000000000000000000000101046939000000006000f71e000911400000000000000000000000000000000100000000000000000000000000000001b3b400090009001c";
    const RST4: &str = "450000280000400040063cce7f0000017f0000010001dc980000000021fa23c7501400008f730000";

    #[test]
    fn a_tcp_handshake_reads_as_syn_then_syn_ack_with_ports_and_no_payload() {
        let syn = seg(SYN4);
        assert_eq!((syn.proto.as_str(), syn.ip, syn.flags.as_str(), syn.len), ("tcp", 4, "SYN", 0));
        assert_eq!((syn.src.as_str(), syn.sport, syn.dst.as_str(), syn.dport), ("127.0.0.1", 46382, "127.0.0.1", 42213));
        let synack = seg(SYNACK4);
        assert_eq!((synack.flags.as_str(), synack.sport, synack.dport), ("SYN,ACK", 42213, 46382));
        assert_eq!(synack.ack, syn.seq.wrapping_add(1), "a SYN takes one sequence number");
        assert_eq!(conversation(&syn), conversation(&synack));
    }

    #[test]
    fn a_data_segment_counts_its_payload_after_the_tcp_options() {
        let data = seg(DATA4);
        assert_eq!((data.flags.as_str(), data.len, data.preview.as_str()), ("PSH,ACK", 5, "hello"));
        assert_eq!(seg(FIN4).flags, "FIN,ACK");
        let six = seg(DATA6);
        assert_eq!((six.ip, six.src.as_str(), six.dst.as_str(), six.len, six.preview.as_str()), (6, "::1", "::1", 5, "hello"));
    }

    #[test]
    fn a_refused_connect_is_answered_by_rst() {
        let rst = seg(RST4);
        assert_eq!((rst.flags.as_str(), rst.sport, rst.len), ("RST,ACK", 1, 0));
    }

    #[test]
    fn udp_datagrams_give_their_size_from_the_udp_header() {
        let u = seg(UDP4);
        assert_eq!((u.proto.as_str(), u.len, u.preview.as_str(), u.flags.as_str()), ("udp", 5, "ping!", ""));
        let u6 = seg(UDP6);
        assert_eq!((u6.ip, u6.len, u6.preview.as_str()), (6, 3, "six"));
    }

    #[test]
    fn icmp_port_unreachable_lands_in_the_conversation_of_the_datagram_it_answers() {
        let icmp = seg(ICMP4);
        assert_eq!((icmp.proto.as_str(), icmp.flags.as_str(), icmp.sport, icmp.dport), ("icmp", "port-unreachable", 9, 35995));
        let answered = Segment { proto: "udp".into(), src: "127.0.0.1".into(), dst: "127.0.0.1".into(), sport: 35995, dport: 9, ..Segment::default() };
        assert_eq!(conversation(&icmp), conversation(&answered));
        let icmp6 = seg(ICMP6_UNREACH);
        assert_eq!((icmp6.ip, icmp6.flags.as_str(), icmp6.sport, icmp6.dport), (6, "port-unreachable", 9, 46004));
    }

    #[test]
    fn a_snapped_capture_still_counts_the_whole_payload() {
        let mut bytes = hex(DATA4);
        bytes.truncate(bytes.len() - 3);
        let cut = decode(&bytes, 0).unwrap();
        assert_eq!((cut.len, cut.preview.as_str()), (5, "he"));
    }

    #[test]
    fn a_packet_and_a_recorded_event_stay_small_in_memory() {
        // ARCHITECTURE.md's bound on what a run's queues hold counts on these sizes.
        eprintln!("Segment {} B, Activity {} B", std::mem::size_of::<Segment>(), std::mem::size_of::<crate::timeline::Activity>());
        assert!(std::mem::size_of::<Segment>() <= 208);
        assert!(std::mem::size_of::<crate::timeline::Activity>() <= 64);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        assert_eq!(decode(&[], 0), Err(DecodeError::Truncated("IP header")));
        assert_eq!(decode(&[0x20; 30], 0), Err(DecodeError::NotIp(2)));
        let mut wrong_proto = hex(UDP4);
        wrong_proto[9] = 47;
        assert_eq!(decode(&wrong_proto, 0), Err(DecodeError::OtherProtocol(47)));
        for frame in [SYN4, DATA6, ICMP4, ICMP6_UNREACH, RST4] {
            let bytes = hex(frame);
            for n in 0..bytes.len() {
                let _ = decode(&bytes[..n], 0);
                let mut bent = bytes.clone();
                bent[n] ^= 0xff;
                let _ = decode(&bent, 0);
            }
        }
    }
}
