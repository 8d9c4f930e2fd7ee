//! Fuzz target: any datagram fed to the packet decoder must not panic, and whatever decodes
//! must re-encode to bytes that decode to the same packet.
#![no_main]

use classbook_tftp::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::decode(data) {
        let again = packet.to_bytes();
        assert_eq!(Packet::decode(&again).as_ref(), Ok(&packet));
    }
});
