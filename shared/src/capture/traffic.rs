//! A server exercise's traffic property judged from the packets the backend captured on the
//! check run's loopback, outside the sandbox: the student's code cannot write the verdict.
//!
//! The judge looks at each packet once as it passes and keeps only counts, so it costs nothing
//! however long the run. Its verdict is one more line of the exercise's `CheckReport`.

use super::Segment;
use crate::check::{CheckLine, Status};
use crate::course::{TrafficCheck, TrafficRule};
use crate::lang::Lang;

/// Judges one check run's packets against one property.
#[derive(Clone, Debug)]
pub struct Judge {
    check: TrafficCheck,
    /// Data segments to the port that kept the rule.
    kept: u32,
    /// The first that did not: its number among the data segments (from 1) and what it was.
    broken: Option<(u32, Broken)>,
    /// The capture stopped giving this run packets before it ended.
    cut: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Broken {
    /// A segment of `len` bytes: less than a length header.
    Short { len: u32 },
    /// A segment of `len` bytes whose first 4 say `says` bytes follow.
    Mismatch { len: u32, says: u32 },
    /// A segment whose first bytes were not copied (cannot be judged).
    Unread { len: u32 },
}

impl Judge {
    pub fn new(check: TrafficCheck) -> Judge {
        Judge { check, kept: 0, broken: None, cut: false }
    }

    /// One packet of the run's loopback, in the order seen.
    pub fn see(&mut self, seg: &Segment) {
        if seg.proto != "tcp" || seg.dport != self.check.port || seg.len == 0 || self.broken.is_some() {
            return;
        }
        let TrafficRule::Framed = self.check.rule;
        let number = self.kept + 1;
        let broken = match seg.head {
            _ if seg.len < 4 => Some(Broken::Short { len: seg.len }),
            None => Some(Broken::Unread { len: seg.len }),
            Some(head) => {
                let says = u32::from_be_bytes(head);
                (u64::from(says) + 4 != u64::from(seg.len)).then_some(Broken::Mismatch { len: seg.len, says })
            }
        };
        match broken {
            Some(b) => self.broken = Some((number, b)),
            None => self.kept += 1,
        }
    }

    /// The capture gave this run no more packets (its recording was cut).
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// The property in words, as the verdict's line begins.
    pub fn rule(&self, lang: Lang) -> String {
        let port = self.check.port;
        let TrafficRule::Framed = self.check.rule;
        lang.pick(
            format!("发往端口 {port} 的每条消息都作为一个 TCP 段传过去：4 字节的长度头，后面正好是它说的那么多字节"),
            format!("each message sent to port {port} crosses as one TCP segment: a 4-byte length header, then exactly as many bytes as it says"),
        )
    }

    /// The verdict, worded for the student in `lang`: the rule, then what the capture saw.
    pub fn verdict(&self, lang: Lang) -> CheckLine {
        let port = self.check.port;
        let rule = self.rule(lang);
        let (passed, why) = match (self.broken, self.kept, self.cut) {
            (Some((n, Broken::Mismatch { len: 4, says })), ..) => (false, lang.pick(
                format!("第 {n} 个数据段只有 4 字节的长度头（它说后面有 {says} 字节），消息体走的是另一个段：请把长度头和消息体拼在一起，用一次 sendall 发出"),
                format!("data segment {n} carried only the 4-byte length header (it says {says} bytes follow); the body crossed in another segment: put the header and the body together and send them with one sendall"),
            )),
            (Some((n, Broken::Mismatch { len, says })), ..) => (false, lang.pick(
                format!("第 {n} 个数据段有 {len} 字节，而它开头的长度头说后面有 {says} 字节，不是 {}", len - 4),
                format!("data segment {n} carried {len} bytes, but its length header says {says} bytes follow, not {}", len - 4),
            )),
            (Some((n, Broken::Short { len })), ..) => (false, lang.pick(
                format!("第 {n} 个数据段只有 {len} 字节，连 4 字节的长度头都不够：长度头被拆开了"),
                format!("data segment {n} carried only {len} bytes, less than the 4-byte length header: the header was split"),
            )),
            (Some((n, Broken::Unread { .. })), ..) => (false, lang.pick(
                format!("第 {n} 个数据段的开头没有被记录下来，无法判断"),
                format!("the start of data segment {n} was not recorded, so it cannot be judged"),
            )),
            (None, _, true) => (false, lang.pick(
                "这次检查的数据包太多，记录被截断了，无法判断每个段".to_string(),
                "the check run sent too many packets: their recording was cut, so not every segment could be judged".to_string(),
            )),
            (None, 0, false) => (false, lang.pick(
                format!("没有数据到达端口 {port}"),
                format!("no data reached port {port}"),
            )),
            (None, kept, false) => (true, lang.pick(format!("{kept} 个数据段，每个都是一条完整的消息"), format!("{kept} data segments, each one whole message"))),
        };
        let sep = lang.pick("：", ": ");
        CheckLine { description: format!("{rule}{sep}{why}"), status: if passed { Status::Passed } else { Status::Failed } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: u16 = 6160;

    fn data(dport: u16, payload: &[u8]) -> Segment {
        let head = payload.get(..4).map(|h| [h[0], h[1], h[2], h[3]]);
        Segment { proto: "tcp".into(), dport, len: payload.len() as u32, head, flags: "PSH,ACK".into(), ..Segment::default() }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        [&(body.len() as u32).to_be_bytes()[..], body].concat()
    }

    fn judge(segs: &[Segment]) -> CheckLine {
        let mut j = Judge::new(TrafficCheck { rule: TrafficRule::Framed, port: PORT });
        segs.iter().for_each(|s| j.see(s));
        j.verdict(Lang::En)
    }

    #[test]
    fn whole_messages_pass_and_other_traffic_is_not_judged() {
        let ack = Segment { proto: "tcp".into(), dport: PORT, flags: "ACK".into(), ..Segment::default() };
        let reply = data(50000, b"anything at all");
        let udp = Segment { proto: "udp".into(), dport: PORT, len: 3, ..Segment::default() };
        let v = judge(&[ack, data(PORT, &framed(b"hello")), reply, udp, data(PORT, &framed(b""))]);
        assert_eq!(v.status, Status::Passed, "{v:?}");
        assert!(v.description.ends_with("2 data segments, each one whole message"), "{}", v.description);
    }

    #[test]
    fn a_header_sent_alone_fails_and_says_to_send_both_at_once() {
        let v = judge(&[data(PORT, &framed(b"one")), data(PORT, &5u32.to_be_bytes()), data(PORT, b"hello")]);
        assert_eq!(v.status, Status::Failed);
        assert!(v.description.contains("data segment 2 carried only the 4-byte length header (it says 5 bytes follow)"), "{}", v.description);
        assert!(v.description.contains("one sendall"), "{}", v.description);
        let zh = {
            let mut j = Judge::new(TrafficCheck { rule: TrafficRule::Framed, port: PORT });
            j.see(&data(PORT, &5u32.to_be_bytes()));
            j.verdict(Lang::Zh)
        };
        assert!(zh.description.contains("第 1 个数据段只有 4 字节的长度头"), "{}", zh.description);
    }

    #[test]
    fn wrong_lengths_short_segments_no_data_and_a_cut_fail() {
        let two = [framed(b"ab"), framed(b"cd")].concat();
        let v = judge(&[data(PORT, &two)]);
        assert!(v.status == Status::Failed && v.description.contains("carried 12 bytes, but its length header says 2 bytes follow, not 8"), "{v:?}");
        let v = judge(&[data(PORT, b"\0\0")]);
        assert!(v.status == Status::Failed && v.description.contains("less than the 4-byte length header"), "{v:?}");
        let v = judge(&[data(PORT + 1, &framed(b"x"))]);
        assert!(v.status == Status::Failed && v.description.ends_with("no data reached port 6160"), "{v:?}");
        let mut j = Judge::new(TrafficCheck { rule: TrafficRule::Framed, port: PORT });
        j.see(&data(PORT, &framed(b"x")));
        j.cut();
        assert_eq!(j.verdict(Lang::En).status, Status::Failed);
    }

    #[test]
    fn the_capture_keeps_a_tcp_payloads_first_four_bytes_for_the_judge() {
        // IPv4 + a 20-byte TCP header + "\0\0\0\x05hello".
        let payload = framed(b"hello");
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
        let total = (20 + 20 + payload.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&50000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&PORT.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x18;
        let seg = super::super::decode(&[ip, tcp, payload].concat(), 1).unwrap();
        assert_eq!(seg.head, Some([0, 0, 0, 5]));
        assert!(!serde_json::to_string(&seg).unwrap().contains("head"), "never sent to the page");
        assert_eq!(judge(&[seg]).status, Status::Passed);
    }
}
