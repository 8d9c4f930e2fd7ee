//! Netascii conversion for TFTP's netascii mode: local LF <-> CR LF and local CR <-> CR NUL.
//! Encoding is per byte; decoding keeps one pending CR across block boundaries.

/// Appends the netascii form of local bytes `input` to `out`.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    for &byte in input {
        match byte {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
}

/// Streaming netascii → local decoder. A CR followed by anything other than LF or NUL is kept
/// as is (liberal in what it accepts).
#[derive(Debug, Default)]
pub struct Decoder {
    pending_cr: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Appends the local form of the next chunk to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if self.pending_cr {
                self.pending_cr = false;
                match byte {
                    b'\n' => {
                        out.push(b'\n');
                        continue;
                    }
                    0 => {
                        out.push(b'\r');
                        continue;
                    }
                    _ => out.push(b'\r'),
                }
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
    }

    /// Flushes a CR left at the very end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for part in input.chunks(chunk.max(1)) {
            decoder.decode(part, &mut out);
        }
        decoder.finish(&mut out);
        out
    }

    #[test]
    fn newline_becomes_cr_lf_and_cr_becomes_cr_nul() {
        let mut out = Vec::new();
        encode(b"a\nb\rc\r\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\0c\r\0\r\n");
    }

    #[test]
    fn cr_lf_and_cr_nul_decode_back_to_local_bytes() {
        assert_eq!(decode_in_chunks(b"a\r\nb\r\0c", 100), b"a\nb\rc");
    }

    #[test]
    fn cr_split_across_blocks_is_decoded_once_the_next_block_arrives() {
        for chunk in 1..6 {
            assert_eq!(decode_in_chunks(b"x\r\ny\r\0z", chunk), b"x\ny\rz", "chunk {chunk}");
        }
    }

    #[test]
    fn lone_cr_is_kept_including_at_the_end() {
        assert_eq!(decode_in_chunks(b"a\rb\r", 1), b"a\rb\r");
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut wire = Vec::new();
        encode(&data, &mut wire);
        assert_eq!(decode_in_chunks(&wire, 7), data);
    }
}
