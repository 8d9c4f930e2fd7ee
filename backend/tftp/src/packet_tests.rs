//! Tests of the packet codec: encode→decode round trips, one test per malformed shape, and
//! random bytes fed to the decoder (which must never panic).

use super::*;
use std::cell::Cell;

thread_local! {
    /// Calls of `same_name` on this thread (each test runs on its own thread).
    static NAME_COMPARISONS: Cell<usize> = const { Cell::new(0) };
}

pub(super) fn count_name_comparison() {
    NAME_COMPARISONS.with(|n| n.set(n.get() + 1));
}

fn name_comparisons() -> usize {
    NAME_COMPARISONS.with(Cell::get)
}

fn round_trip(packet: Packet<'_>) {
    let bytes = packet.to_bytes();
    assert_eq!(Packet::decode(&bytes).unwrap(), packet, "bytes {bytes:?}");
}

fn request(filename: &str, mode: Mode, options: Options) -> Request {
    Request { filename: filename.to_string(), mode, options }
}

fn all_options() -> Options {
    Options {
        blksize: Some(1428),
        timeout: Some(3),
        tsize: Some(10_485_760),
        windowsize: Some(16),
        unknown: vec![("multicast".to_string(), "".to_string())],
    }
}

#[test]
fn rrq_and_wrq_round_trip_with_and_without_options() {
    round_trip(Packet::Rrq(request("a.txt", Mode::Octet, Options::default())));
    round_trip(Packet::Rrq(request("dir/b.bin", Mode::Netascii, all_options())));
    round_trip(Packet::Wrq(request("up.bin", Mode::Octet, all_options())));
}

#[test]
fn data_ack_error_oack_round_trip() {
    round_trip(Packet::Data { block: 1, data: b"" });
    round_trip(Packet::Data { block: 65535, data: &[7u8; 512] });
    round_trip(Packet::Data { block: 0, data: &vec![1u8; MAX_BLKSIZE as usize] });
    round_trip(Packet::Ack { block: 0 });
    round_trip(Packet::Ack { block: 65535 });
    round_trip(Packet::Error { code: ErrorCode::FILE_NOT_FOUND, message: "File not found".into() });
    round_trip(Packet::Error { code: ErrorCode(99), message: String::new() });
    round_trip(Packet::Oack(all_options()));
    round_trip(Packet::Oack(Options::default()));
}

#[test]
fn rrq_wire_form_matches_rfc_1350() {
    let bytes = Packet::Rrq(request("f", Mode::Octet, Options::default())).to_bytes();
    assert_eq!(bytes, b"\x00\x01f\x00octet\x00");
    let bytes = Packet::Oack(Options { blksize: Some(1024), ..Options::default() }).to_bytes();
    assert_eq!(bytes, b"\x00\x06blksize\x001024\x00");
}

#[test]
fn mode_and_option_names_are_case_insensitive() {
    let packet = Packet::decode(b"\x00\x01f\x00OcTeT\x00BLKSIZE\x00512\x00WindowSize\x004\x00").unwrap();
    let Packet::Rrq(req) = packet else { panic!("not an RRQ") };
    assert_eq!(req.mode, Mode::Octet);
    assert_eq!(req.options.blksize, Some(512));
    assert_eq!(req.options.windowsize, Some(4));
}

#[test]
fn unknown_options_are_kept_but_do_not_count_as_options() {
    let packet = Packet::decode(b"\x00\x01f\x00octet\x00rollover\x000\x00").unwrap();
    let Packet::Rrq(req) = packet else { panic!("not an RRQ") };
    assert!(req.options.is_empty());
    assert_eq!(req.options.unknown, vec![("rollover".to_string(), "0".to_string())]);
}

#[test]
fn option_range_limits_are_inclusive() {
    let ok = |text: &[u8]| Packet::decode(text).is_ok();
    assert!(ok(b"\x00\x06blksize\x008\x00"));
    assert!(ok(b"\x00\x06blksize\x0065464\x00"));
    assert!(!ok(b"\x00\x06blksize\x007\x00"));
    assert!(!ok(b"\x00\x06blksize\x0065465\x00"));
    assert!(ok(b"\x00\x06timeout\x001\x00"));
    assert!(ok(b"\x00\x06timeout\x00255\x00"));
    assert!(!ok(b"\x00\x06timeout\x000\x00"));
    assert!(!ok(b"\x00\x06timeout\x00256\x00"));
    assert!(ok(b"\x00\x06windowsize\x001\x00"));
    assert!(ok(b"\x00\x06windowsize\x0065535\x00"));
    assert!(!ok(b"\x00\x06windowsize\x000\x00"));
    assert!(!ok(b"\x00\x06windowsize\x0065536\x00"));
    assert!(ok(b"\x00\x06tsize\x0018446744073709551615\x00"));
    assert!(!ok(b"\x00\x06tsize\x0018446744073709551616\x00"));
}

fn err(bytes: &[u8]) -> PacketError {
    Packet::decode(bytes).expect_err("should be malformed")
}

#[test]
fn empty_and_one_byte_datagrams_are_too_short() {
    assert_eq!(err(b""), PacketError::TooShort(0));
    assert_eq!(err(b"\x00"), PacketError::TooShort(1));
}

#[test]
fn unknown_opcodes_are_refused() {
    assert_eq!(err(b"\x00\x00"), PacketError::UnknownOpcode(0));
    assert_eq!(err(b"\x00\x07abc"), PacketError::UnknownOpcode(7));
    assert_eq!(err(b"\xff\xff"), PacketError::UnknownOpcode(65535));
}

#[test]
fn request_without_filename_terminator_is_refused() {
    assert_eq!(err(b"\x00\x01file"), PacketError::Unterminated("filename"));
    assert_eq!(err(b"\x00\x01"), PacketError::Unterminated("filename"));
}

#[test]
fn request_without_mode_is_refused() {
    assert_eq!(err(b"\x00\x02file\x00"), PacketError::Unterminated("mode"));
    assert_eq!(err(b"\x00\x02file\x00octet"), PacketError::Unterminated("mode"));
    assert_eq!(err(b"\x00\x02file\x00\x00"), PacketError::Empty("mode"));
}

#[test]
fn request_with_empty_filename_is_refused() {
    assert_eq!(err(b"\x00\x01\x00octet\x00"), PacketError::Empty("filename"));
}

#[test]
fn request_with_mail_or_other_mode_is_refused() {
    assert_eq!(err(b"\x00\x01f\x00mail\x00"), PacketError::UnsupportedMode("mail".into()));
    assert_eq!(err(b"\x00\x01f\x00binary\x00"), PacketError::UnsupportedMode("binary".into()));
}

#[test]
fn non_utf8_filename_is_refused() {
    assert_eq!(err(b"\x00\x01\xff\xfe\x00octet\x00"), PacketError::NotUtf8("filename"));
}

#[test]
fn option_without_value_is_refused() {
    assert_eq!(err(b"\x00\x01f\x00octet\x00blksize\x00"), PacketError::MissingOptionValue("blksize".into()));
    assert_eq!(err(b"\x00\x01f\x00octet\x00blksize\x00512"), PacketError::Unterminated("option value"));
    assert_eq!(err(b"\x00\x01f\x00octet\x00blksize"), PacketError::Unterminated("option name"));
}

#[test]
fn empty_option_name_is_refused() {
    assert_eq!(err(b"\x00\x01f\x00octet\x00\x00"), PacketError::Empty("option name"));
}

#[test]
fn non_numeric_option_values_are_refused() {
    for bad in [&b"\x00\x01f\x00octet\x00blksize\x00abc\x00"[..], b"\x00\x01f\x00octet\x00blksize\x00+512\x00", b"\x00\x01f\x00octet\x00tsize\x00 1\x00", b"\x00\x01f\x00octet\x00timeout\x00\x00"] {
        assert!(matches!(err(bad), PacketError::InvalidOptionValue { .. }), "{bad:?}");
    }
}

#[test]
fn a_repeated_known_option_is_refused() {
    assert_eq!(
        err(b"\x00\x01f\x00octet\x00blksize\x00512\x00BLKSIZE\x001024\x00"),
        PacketError::DuplicateOption("BLKSIZE".into())
    );
    assert_eq!(err(b"\x00\x06tsize\x000\x00x\x001\x00tsize\x000\x00"), PacketError::DuplicateOption("tsize".into()));
}

#[test]
fn repeated_unknown_options_are_kept_not_refused() {
    // RFC 2347: options the server does not support "must not cause an ERROR packet".
    let Packet::Oack(options) = Packet::decode(b"\x00\x06x\x001\x00X\x002\x00").unwrap() else { panic!("not an OACK") };
    assert_eq!(options.unknown, vec![("x".to_string(), "1".to_string()), ("X".to_string(), "2".to_string())]);
}

/// An OACK of `count` options with two-character names (8,836 different ones, then repeats)
/// and empty values: four bytes each.
fn tiny_options(count: usize) -> Vec<u8> {
    let mut bytes = vec![0, 6];
    for i in 0..count {
        bytes.extend_from_slice(&[b'!' + (i % 94) as u8, b'!' + (i / 94 % 94) as u8, 0, 0]);
    }
    bytes
}

#[test]
fn thousands_of_tiny_options_are_decoded_with_a_bounded_number_of_comparisons_each() {
    for count in [1_000, 16_000] {
        let bytes = tiny_options(count);
        assert!(bytes.len() <= MAX_PACKET, "{} bytes", bytes.len());
        let before = name_comparisons();
        let Packet::Oack(options) = Packet::decode(&bytes).unwrap() else { panic!("not an OACK") };
        let comparisons = name_comparisons() - before;
        assert_eq!(options.unknown.len(), count);
        // Each option is compared with the four known names at most, never with the others
        // (a scan for repeats would make 128 million comparisons at 16,000 options).
        assert!(comparisons <= 4 * count, "{comparisons} comparisons for {count} options");
    }
}

#[test]
fn a_request_longer_than_512_bytes_is_refused_before_parsing() {
    let mut long = b"\x00\x01".to_vec();
    long.extend(std::iter::repeat_n(b'a', 65_000));
    long.push(0);
    assert_eq!(err(&long), PacketError::RequestTooLong(65_003));
    let mut options = tiny_options(16_000);
    options[1] = 2; // the same bytes as a WRQ: "!!" is the filename, "" the mode
    assert_eq!(err(&options), PacketError::RequestTooLong(options.len()));
    // 512 bytes exactly is a request like any other.
    let mut name = vec![b'n'; MAX_REQUEST - 2 - 1 - 6];
    name.splice(0..0, *b"\x00\x01");
    name.extend_from_slice(b"\x00octet\x00");
    assert_eq!(name.len(), MAX_REQUEST);
    assert!(matches!(Packet::decode(&name), Ok(Packet::Rrq(_))));
}

#[test]
fn a_request_of_many_tiny_options_within_512_bytes_is_decoded() {
    let mut bytes = b"\x00\x01f\x00octet\x00blksize\x001024\x00".to_vec();
    while bytes.len() + 4 <= MAX_REQUEST {
        bytes.extend_from_slice(b"x\x00\x00");
    }
    let Packet::Rrq(req) = Packet::decode(&bytes).unwrap() else { panic!("not an RRQ") };
    assert_eq!(req.options.blksize, Some(1024));
    assert!(req.options.unknown.len() > 150, "{}", req.options.unknown.len());
}

#[test]
fn short_data_ack_error_are_refused() {
    assert_eq!(err(b"\x00\x03\x00"), PacketError::TooShort(3));
    assert_eq!(err(b"\x00\x04"), PacketError::TooShort(2));
    assert_eq!(err(b"\x00\x05\x00"), PacketError::TooShort(3));
}

#[test]
fn ack_with_trailing_bytes_is_refused() {
    assert_eq!(err(b"\x00\x04\x00\x01\x00"), PacketError::TrailingBytes { opcode: Opcode::Ack, extra: 1 });
}

#[test]
fn error_without_terminator_or_with_trailing_bytes_is_refused() {
    assert_eq!(err(b"\x00\x05\x00\x01"), PacketError::Unterminated("error message"));
    assert_eq!(err(b"\x00\x05\x00\x01oops"), PacketError::Unterminated("error message"));
    assert_eq!(err(b"\x00\x05\x00\x01oops\x00x"), PacketError::TrailingBytes { opcode: Opcode::Error, extra: 1 });
}

#[test]
fn error_message_with_invalid_utf8_is_decoded_lossily() {
    let packet = Packet::decode(b"\x00\x05\x00\x02bad\xff\x00").unwrap();
    assert_eq!(packet, Packet::Error { code: ErrorCode::ACCESS_VIOLATION, message: "bad\u{fffd}".into() });
}

#[test]
fn oversized_data_is_refused() {
    let mut bytes = vec![0, 3, 0, 1];
    bytes.resize(4 + MAX_BLKSIZE as usize + 1, 0);
    assert_eq!(err(&bytes), PacketError::DataTooLong(MAX_BLKSIZE as usize + 1));
}

/// xorshift64*: enough randomness to shake the decoder, no dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = Vec::new();
    for round in 0..200_000 {
        let len = (next(&mut state) % 80) as usize;
        buf.clear();
        // Mostly valid opcodes and many NULs, so decoding gets deep into requests and options.
        buf.extend_from_slice(&[0, (next(&mut state) % 8) as u8]);
        for _ in 0..len {
            let r = next(&mut state);
            buf.push(match r % 4 {
                0 => 0,
                1 => b"0123456789"[(r >> 8) as usize % 10],
                2 => b"blksizetimeoutwindowsizeoctetnetascii"[(r >> 8) as usize % 37],
                _ => (r >> 16) as u8,
            });
        }
        if round % 3 == 0 {
            buf.truncate((next(&mut state) as usize) % (buf.len() + 1));
        }
        if let Ok(packet) = Packet::decode(&buf) {
            // Whatever decodes must re-encode to something that decodes the same.
            let again = packet.to_bytes();
            assert_eq!(Packet::decode(&again).as_ref(), Ok(&packet), "{buf:?}");
        }
    }
}
