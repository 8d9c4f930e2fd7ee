//! TFTP packet codec: RFC 1350 packets plus RFC 2347 options and OACK (2348 blksize, 2349
//! timeout and tsize, 7440 windowsize). Decoding never panics; any garbage is a `PacketError`.

use serde::Serialize;
use std::fmt;

/// Block size when no `blksize` option was negotiated (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Smallest `blksize` RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// Largest `blksize` RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;
/// Largest datagram this codec produces or accepts: a DATA header plus `MAX_BLKSIZE` bytes.
pub const MAX_PACKET: usize = 4 + MAX_BLKSIZE as usize;
/// Largest RRQ/WRQ, options included: "The maximum size of a request packet is 512 octets"
/// (RFC 2347, Packet Format). Longer requests are refused before any field is parsed, so a
/// 64 KiB request costs no more than a short one.
pub const MAX_REQUEST: usize = 512;

/// The six TFTP opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Opcode {
    Rrq = 1,
    Wrq = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    Oack = 6,
}

impl Opcode {
    fn from_u16(value: u16) -> Option<Opcode> {
        Some(match value {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            _ => return None,
        })
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Opcode::Rrq => "RRQ",
            Opcode::Wrq => "WRQ",
            Opcode::Data => "DATA",
            Opcode::Ack => "ACK",
            Opcode::Error => "ERROR",
            Opcode::Oack => "OACK",
        })
    }
}

/// Transfer mode of a request. The obsolete "mail" mode is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Netascii,
    Octet,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Netascii => "netascii",
            Mode::Octet => "octet",
        }
    }
}

/// An ERROR packet's code; any 16-bit value can arrive, the constants are RFC 1350's (and 2347's 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    pub const NOT_DEFINED: ErrorCode = ErrorCode(0);
    pub const FILE_NOT_FOUND: ErrorCode = ErrorCode(1);
    pub const ACCESS_VIOLATION: ErrorCode = ErrorCode(2);
    pub const DISK_FULL: ErrorCode = ErrorCode(3);
    pub const ILLEGAL_OPERATION: ErrorCode = ErrorCode(4);
    pub const UNKNOWN_TID: ErrorCode = ErrorCode(5);
    pub const FILE_EXISTS: ErrorCode = ErrorCode(6);
    pub const NO_SUCH_USER: ErrorCode = ErrorCode(7);
    pub const OPTION_REFUSED: ErrorCode = ErrorCode(8);
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// RFC 2347 options of a request or OACK. Known options are typed and range-checked on decode;
/// options this crate does not know are kept in `unknown` (in arrival order, repeats included)
/// and otherwise ignored, as RFC 2347 asks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    /// RFC 2348, 8..=65464.
    pub blksize: Option<u16>,
    /// RFC 2349, seconds, 1..=255.
    pub timeout: Option<u8>,
    /// RFC 2349, transfer size in bytes (0 in a read request means "please tell me").
    pub tsize: Option<u64>,
    /// RFC 7440, 1..=65535.
    pub windowsize: Option<u16>,
    pub unknown: Vec<(String, String)>,
}

impl Options {
    /// True when no known option is set (unknown ones never need an OACK).
    pub fn is_empty(&self) -> bool {
        self.blksize.is_none()
            && self.timeout.is_none()
            && self.tsize.is_none()
            && self.windowsize.is_none()
    }

    /// All options as name/value strings, known ones first, in encoding order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.pairs_up_to(usize::MAX)
    }

    /// The first `max` of `pairs()`.
    pub(crate) fn pairs_up_to(&self, max: usize) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if let Some(v) = self.blksize {
            pairs.push(("blksize".to_string(), v.to_string()));
        }
        if let Some(v) = self.timeout {
            pairs.push(("timeout".to_string(), v.to_string()));
        }
        if let Some(v) = self.tsize {
            pairs.push(("tsize".to_string(), v.to_string()));
        }
        if let Some(v) = self.windowsize {
            pairs.push(("windowsize".to_string(), v.to_string()));
        }
        pairs.truncate(max);
        let room = max - pairs.len();
        pairs.extend(self.unknown.iter().take(room).cloned());
        pairs
    }

    /// Records one option. Work per option is bounded by its length (at most four name
    /// comparisons, see `Known::of`), so decoding is linear in the packet's size.
    ///
    /// Duplicates: RFC 2347 says options "which the server does not support should be omitted
    /// from the OACK; they must not cause an ERROR packet to be generated", so a repeated
    /// unknown option is kept like any other (never compared with the others). A repeated
    /// known option is refused (ERROR 8 at the server): "the order in which options are
    /// specified is not significant" (RFC 2347), so two values for one option have no meaning.
    fn set(&mut self, name: &str, value: &str) -> Result<(), PacketError> {
        let invalid = || PacketError::InvalidOptionValue {
            name: name.to_string(),
            value: value.to_string(),
        };
        let duplicate = || PacketError::DuplicateOption(name.to_string());
        let Some(known) = Known::of(name) else {
            self.unknown.push((name.to_string(), value.to_string()));
            return Ok(());
        };
        match known {
            Known::Blksize => {
                let v = parse_number(value, u64::from(MIN_BLKSIZE), u64::from(MAX_BLKSIZE))
                    .ok_or_else(invalid)?;
                replace(&mut self.blksize, v as u16).ok_or_else(duplicate)
            }
            Known::Timeout => {
                let v = parse_number(value, 1, 255).ok_or_else(invalid)?;
                replace(&mut self.timeout, v as u8).ok_or_else(duplicate)
            }
            Known::Tsize => {
                let v = parse_number(value, 0, u64::MAX).ok_or_else(invalid)?;
                replace(&mut self.tsize, v).ok_or_else(duplicate)
            }
            Known::Windowsize => {
                let v = parse_number(value, 1, 65535).ok_or_else(invalid)?;
                replace(&mut self.windowsize, v as u16).ok_or_else(duplicate)
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for (name, value) in self.pairs() {
            put_str(out, &name);
            put_str(out, &value);
        }
    }
}

/// The options this codec understands; any other name is an unknown option.
#[derive(Clone, Copy)]
enum Known {
    Blksize,
    Timeout,
    Tsize,
    Windowsize,
}

impl Known {
    const NAMES: [(Known, &'static str); 4] =
        [(Known::Blksize, "blksize"), (Known::Timeout, "timeout"), (Known::Tsize, "tsize"), (Known::Windowsize, "windowsize")];

    /// Which known option `name` is, compared without regard to ASCII case (RFC 2347).
    fn of(name: &str) -> Option<Known> {
        Known::NAMES.iter().find(|(_, known)| same_name(name, known)).map(|(option, _)| *option)
    }
}

/// The one comparison of option names; tests count its calls to prove decoding is linear.
fn same_name(name: &str, other: &str) -> bool {
    #[cfg(test)]
    tests::count_name_comparison();
    name.eq_ignore_ascii_case(other)
}

/// Sets an empty slot; `None` when it was already set.
fn replace<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Plain decimal digits within `min..=max`; no sign, spaces or overflow.
fn parse_number(text: &str, min: u64, max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (min..=max).contains(&value).then_some(value)
}

/// A read or write request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub filename: String,
    pub mode: Mode,
    pub options: Options,
}

/// One decoded TFTP packet; DATA borrows its payload from the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq(Request),
    Wrq(Request),
    Data { block: u16, data: &'a [u8] },
    Ack { block: u16 },
    Error { code: ErrorCode, message: String },
    Oack(Options),
}

/// Why a datagram is not a valid TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("datagram of {0} bytes is too short for a TFTP packet")]
    TooShort(usize),
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    #[error("{0} is not terminated by a NUL byte")]
    Unterminated(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("unsupported transfer mode {0:?}")]
    UnsupportedMode(String),
    #[error("option {0:?} has no value")]
    MissingOptionValue(String),
    #[error("option {name:?} has an invalid value {value:?}")]
    InvalidOptionValue { name: String, value: String },
    #[error("option {0:?} appears twice")]
    DuplicateOption(String),
    #[error("{opcode} packet has {extra} unexpected trailing bytes")]
    TrailingBytes { opcode: Opcode, extra: usize },
    #[error("DATA payload of {0} bytes is larger than the 65464-byte maximum")]
    DataTooLong(usize),
    #[error("request of {0} bytes is longer than the 512 bytes RFC 2347 allows")]
    RequestTooLong(usize),
}

impl<'a> Packet<'a> {
    pub fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq(_) => Opcode::Rrq,
            Packet::Wrq(_) => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack(_) => Opcode::Oack,
        }
    }

    /// Decodes one datagram.
    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        if buf.len() < 2 {
            return Err(PacketError::TooShort(buf.len()));
        }
        let raw = u16::from_be_bytes([buf[0], buf[1]]);
        let opcode = Opcode::from_u16(raw).ok_or(PacketError::UnknownOpcode(raw))?;
        let body = &buf[2..];
        if matches!(opcode, Opcode::Rrq | Opcode::Wrq) && buf.len() > MAX_REQUEST {
            return Err(PacketError::RequestTooLong(buf.len()));
        }
        match opcode {
            Opcode::Rrq => decode_request(body).map(Packet::Rrq),
            Opcode::Wrq => decode_request(body).map(Packet::Wrq),
            Opcode::Data => {
                let block = read_u16(body).ok_or(PacketError::TooShort(buf.len()))?;
                let data = &body[2..];
                if data.len() > usize::from(MAX_BLKSIZE) {
                    return Err(PacketError::DataTooLong(data.len()));
                }
                Ok(Packet::Data { block, data })
            }
            Opcode::Ack => {
                let block = read_u16(body).ok_or(PacketError::TooShort(buf.len()))?;
                if body.len() > 2 {
                    let extra = body.len() - 2;
                    return Err(PacketError::TrailingBytes { opcode, extra });
                }
                Ok(Packet::Ack { block })
            }
            Opcode::Error => {
                let code = read_u16(body).ok_or(PacketError::TooShort(buf.len()))?;
                let mut fields = Fields(&body[2..]);
                let message = fields.next_bytes("error message")?.ok_or(PacketError::Unterminated("error message"))?;
                if !fields.0.is_empty() {
                    let extra = fields.0.len();
                    return Err(PacketError::TrailingBytes { opcode, extra });
                }
                let message = String::from_utf8_lossy(message).into_owned();
                Ok(Packet::Error { code: ErrorCode(code), message })
            }
            Opcode::Oack => decode_options(Fields(body)).map(Packet::Oack),
        }
    }

    /// Appends the wire form to `out` (cleared first). Strings must not contain NUL bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&(self.opcode() as u16).to_be_bytes());
        match self {
            Packet::Rrq(req) | Packet::Wrq(req) => {
                put_str(out, &req.filename);
                put_str(out, req.mode.as_str());
                req.options.encode(out);
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => out.extend_from_slice(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                out.extend_from_slice(&code.0.to_be_bytes());
                put_str(out, message);
            }
            Packet::Oack(options) => options.encode(out),
        }
    }

    /// The wire form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn read_u16(body: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*body.first()?, *body.get(1)?]))
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

/// NUL-terminated fields, consumed front to back.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    /// The next field without its NUL; `None` when nothing is left.
    fn next_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, PacketError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let end = self.0.iter().position(|&b| b == 0).ok_or(PacketError::Unterminated(what))?;
        let field = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Ok(Some(field))
    }

    fn next_str(&mut self, what: &'static str) -> Result<Option<&'a str>, PacketError> {
        match self.next_bytes(what)? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|_| PacketError::NotUtf8(what)),
        }
    }

    fn required(&mut self, what: &'static str) -> Result<&'a str, PacketError> {
        let field = self.next_str(what)?.ok_or(PacketError::Unterminated(what))?;
        if field.is_empty() {
            return Err(PacketError::Empty(what));
        }
        Ok(field)
    }
}

fn decode_request(body: &[u8]) -> Result<Request, PacketError> {
    let mut fields = Fields(body);
    let filename = fields.required("filename")?.to_string();
    let mode_text = fields.required("mode")?;
    let mode = if mode_text.eq_ignore_ascii_case("octet") {
        Mode::Octet
    } else if mode_text.eq_ignore_ascii_case("netascii") {
        Mode::Netascii
    } else {
        return Err(PacketError::UnsupportedMode(mode_text.to_string()));
    };
    let options = decode_options(fields)?;
    Ok(Request { filename, mode, options })
}

fn decode_options(mut fields: Fields<'_>) -> Result<Options, PacketError> {
    let mut options = Options::default();
    while let Some(name) = fields.next_str("option name")? {
        if name.is_empty() {
            return Err(PacketError::Empty("option name"));
        }
        let value = fields
            .next_str("option value")?
            .ok_or_else(|| PacketError::MissingOptionValue(name.to_string()))?;
        options.set(name, value)?;
    }
    Ok(options)
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
