//! A captured UDP payload read as TFTP (RFC 1350, options of RFC 2347), for the label the packet
//! diagram gives its arrow: "RRQ hello.txt octet blksize=1024", "DATA 3 (512 B)", "ERROR 1 …".
//!
//! The capture copies only the start of each packet, so this reads what is there and trusts the
//! UDP header for sizes; the tftp crate's codec (which needs whole packets) stays the server's.

use serde::{Deserialize, Serialize};

/// What a datagram says as TFTP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tftp {
    /// "RRQ", "WRQ", "DATA", "ACK", "ERROR" or "OACK".
    pub op: String,
    /// DATA and ACK: the block number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u16>,
    /// The whole label, opcode first.
    pub label: String,
}

/// Longest label; longer ones end in "…".
const MAX_LABEL: usize = 80;

/// `payload` (the bytes captured, maybe cut short) of a UDP datagram carrying `len` bytes, read
/// as TFTP; `None` when it is not shaped like one (an unknown opcode, an ACK that is not four
/// bytes, a request without a known mode, an ERROR without its closing NUL, an empty OACK).
pub fn decode(payload: &[u8], len: u32) -> Option<Tftp> {
    let len = len as usize;
    if len < 4 || payload.len() < 4 || payload.len() > len {
        return None;
    }
    let op = u16::from_be_bytes([payload[0], payload[1]]);
    let number = u16::from_be_bytes([payload[2], payload[3]]);
    let whole = payload.len() == len;
    let body = &payload[2..];
    let (op, block, detail) = match op {
        1 | 2 => {
            let fields = Fields::of(body, whole);
            let (name, mode) = (fields.texts.first()?, fields.texts.get(1)?);
            if !["netascii", "octet", "mail"].iter().any(|m| mode.eq_ignore_ascii_case(m)) || name.is_empty() {
                return None;
            }
            let mut detail = format!(" {name} {mode}");
            push_options(&mut detail, &fields.texts[2..]);
            if fields.cut {
                detail.push_str(" …");
            }
            (if op == 1 { "RRQ" } else { "WRQ" }, None, detail)
        }
        3 => ("DATA", Some(number), format!(" {number} ({} B)", len - 4)),
        4 if len == 4 => ("ACK", Some(number), format!(" {number}")),
        5 => {
            let message = &payload[4..];
            let message = if whole {
                let (last, text) = message.split_last()?;
                if *last != 0 || text.contains(&0) {
                    return None;
                }
                String::from_utf8_lossy(text).into_owned()
            } else {
                format!("{} …", String::from_utf8_lossy(message.split(|&b| b == 0).next().unwrap_or_default()))
            };
            ("ERROR", None, format!(" {number} {message}"))
        }
        6 => {
            let fields = Fields::of(body, whole);
            let named = fields.texts.iter().step_by(2).all(|name| !name.is_empty());
            if fields.texts.is_empty() || !named || (!fields.cut && fields.texts.len() % 2 != 0) {
                return None;
            }
            let mut detail = String::new();
            push_options(&mut detail, &fields.texts);
            if fields.cut {
                detail.push_str(" …");
            }
            ("OACK", None, detail)
        }
        _ => return None,
    };
    Some(Tftp { op: op.into(), block, label: shorten(&format!("{op}{detail}")) })
}

/// The NUL-terminated strings of a request or OACK body.
struct Fields {
    texts: Vec<String>,
    /// The capture ended inside them, so more may follow.
    cut: bool,
}

impl Fields {
    /// The strings of `body`; none when a whole body does not end in NUL.
    fn of(body: &[u8], whole: bool) -> Fields {
        let mut parts: Vec<&[u8]> = body.split(|&b| b == 0).collect();
        // A whole body ends in NUL, so its last part is empty; a cut one ends inside a string.
        let tail = parts.pop().unwrap_or_default();
        if whole && !tail.is_empty() {
            return Fields { texts: Vec::new(), cut: false };
        }
        if !whole && !tail.is_empty() {
            parts.push(tail);
        }
        let texts = parts.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
        Fields { texts, cut: !whole }
    }
}

fn push_options(out: &mut String, texts: &[String]) {
    for pair in texts.chunks(2) {
        match pair {
            [name, value] => out.push_str(&format!(" {name}={value}")),
            [name] => out.push_str(&format!(" {name}")),
            _ => {}
        }
    }
}

fn shorten(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { '·' } else { c }).collect();
    if clean.chars().count() <= MAX_LABEL {
        return clean;
    }
    clean.chars().take(MAX_LABEL - 1).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(bytes: &[u8]) -> Option<String> {
        decode(bytes, bytes.len() as u32).map(|t| t.label)
    }

    #[test]
    fn each_opcode_reads_as_the_diagram_labels_it() {
        assert_eq!(label(b"\0\x01hello.txt\0octet\0").as_deref(), Some("RRQ hello.txt octet"));
        assert_eq!(label(b"\0\x01switch.cfg\0octet\0blksize\01024\0tsize\00\0").as_deref(), Some("RRQ switch.cfg octet blksize=1024 tsize=0"));
        assert_eq!(label(b"\0\x02up.txt\0NETASCII\0").as_deref(), Some("WRQ up.txt NETASCII"));
        let data = [&[0u8, 3, 0, 2][..], &[b'x'; 512]].concat();
        let d = decode(&data, data.len() as u32).unwrap();
        assert_eq!((d.op.as_str(), d.block, d.label.as_str()), ("DATA", Some(2), "DATA 2 (512 B)"));
        assert_eq!(label(b"\0\x03\0\x04").as_deref(), Some("DATA 4 (0 B)"), "the last block of a file whose size is a multiple of 512");
        let ack = decode(b"\0\x04\0\x07", 4).unwrap();
        assert_eq!((ack.op.as_str(), ack.block, ack.label.as_str()), ("ACK", Some(7), "ACK 7"));
        assert_eq!(label(b"\0\x05\0\x01File not found\0").as_deref(), Some("ERROR 1 File not found"));
        assert_eq!(label(b"\0\x06blksize\01024\0tsize\0772\0").as_deref(), Some("OACK blksize=1024 tsize=772"));
    }

    #[test]
    fn a_snapped_capture_keeps_the_sizes_of_the_header_and_marks_what_is_cut() {
        let data = [&[0u8, 3, 0, 1][..], &[b'x'; 100]].concat();
        assert_eq!(decode(&data, 516).unwrap().label, "DATA 1 (512 B)");
        assert_eq!(decode(b"\0\x01a-long-name.txt\0octet\0blks", 60).unwrap().label, "RRQ a-long-name.txt octet blks …");
        assert_eq!(decode(b"\0\x05\0\x00a long mess", 90).unwrap().label, "ERROR 0 a long mess …");
    }

    #[test]
    fn datagrams_not_shaped_like_tftp_are_not_labelled_as_it() {
        for bytes in [
            &b"hello"[..],
            b"\0\x04\0\x01extra",
            b"\0\x01name\0binary\0",
            b"\0\x01name\0octet",
            b"\0\x05\0\x01no nul",
            b"\0\x06\0\0",
            b"\0\x06blksize\0",
            b"\0\x09\0\x01",
            b"\0\x03",
        ] {
            assert_eq!(label(bytes), None, "{bytes:?}");
        }
        assert_eq!(decode(b"\0\x04\0\x01", 3), None, "fewer bytes said than present");
        let control = label(b"\0\x05\0\x01bad\x1b[2J\0").unwrap();
        assert_eq!(control, "ERROR 1 bad·[2J", "control characters never reach the page");
    }
}
