//! Where transferred bytes come from and go to: a file or memory, cut into blocks (netascii
//! encoded when asked) on the way out, decoded and size-limited on the way in.

use crate::netascii;
use crate::packet::{ErrorCode, Mode};
use crate::quota::Charge;
use crate::transfer::TransferError;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};

const FILE_BUFFER: usize = 64 * 1024;

enum Reader<'a> {
    File(BufReader<File>),
    Memory(&'a [u8]),
}

impl Reader<'_> {
    /// Reads as many bytes as fit in `buf` unless the end comes first.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::Memory(rest) => {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *rest = &rest[n..];
                Ok(n)
            }
            Reader::File(file) => {
                let mut filled = 0;
                while filled < buf.len() {
                    match file.read(&mut buf[filled..])? {
                        0 => break,
                        n => filled += n,
                    }
                }
                Ok(filled)
            }
        }
    }
}

/// A byte stream cut into blocks; in netascii mode the encoded bytes wait in `pending`.
pub(crate) struct Source<'a> {
    reader: Reader<'a>,
    netascii: bool,
    pending: Vec<u8>,
    raw: Vec<u8>,
    done: bool,
}

impl<'a> Source<'a> {
    pub fn file(file: File, mode: Mode) -> Source<'static> {
        Source::new(Reader::File(BufReader::with_capacity(FILE_BUFFER, file)), mode)
    }

    pub fn memory(data: &'a [u8], mode: Mode) -> Source<'a> {
        Source::new(Reader::Memory(data), mode)
    }

    fn new(reader: Reader<'a>, mode: Mode) -> Source<'a> {
        Source { reader, netascii: mode == Mode::Netascii, pending: Vec::new(), raw: Vec::new(), done: false }
    }

    /// Replaces `out` with the next block: `blksize` bytes, fewer only at the end.
    pub fn next_block(&mut self, blksize: usize, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        if !self.netascii {
            out.resize(blksize, 0);
            let n = self.reader.fill(out)?;
            out.truncate(n);
            return Ok(());
        }
        while self.pending.len() < blksize && !self.done {
            self.raw.resize(blksize, 0);
            let n = self.reader.fill(&mut self.raw)?;
            self.done = n < blksize;
            netascii::encode(&self.raw[..n], &mut self.pending);
        }
        let n = self.pending.len().min(blksize);
        out.extend_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(())
    }
}

enum Writer {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

/// Receives blocks; counts local bytes and refuses to go past `limit` or the upload space's
/// quota (ERROR 3, disk full), checked before each write.
pub(crate) struct Sink<'a> {
    writer: Writer,
    decoder: Option<netascii::Decoder>,
    decoded: Vec<u8>,
    written: u64,
    limit: u64,
    /// The upload's share of the write directory's quota, charged per byte.
    charge: Option<&'a Charge>,
}

impl<'a> Sink<'a> {
    pub fn file(file: File, mode: Mode, limit: u64, charge: &'a Charge) -> Sink<'a> {
        Sink::new(Writer::File(BufWriter::with_capacity(FILE_BUFFER, file)), mode, limit, Some(charge))
    }

    pub fn memory(mode: Mode, limit: u64) -> Sink<'static> {
        Sink::new(Writer::Memory(Vec::new()), mode, limit, None)
    }

    fn new(writer: Writer, mode: Mode, limit: u64, charge: Option<&'a Charge>) -> Sink<'a> {
        let decoder = (mode == Mode::Netascii).then(netascii::Decoder::new);
        Sink { writer, decoder, decoded: Vec::new(), written: 0, limit, charge }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        match self.decoder.as_mut() {
            None => Self::put(&mut self.writer, &mut self.written, self.limit, self.charge, data),
            Some(decoder) => {
                self.decoded.clear();
                decoder.decode(data, &mut self.decoded);
                Self::put(&mut self.writer, &mut self.written, self.limit, self.charge, &self.decoded)
            }
        }
    }

    fn put(writer: &mut Writer, written: &mut u64, limit: u64, charge: Option<&Charge>, data: &[u8]) -> Result<(), TransferError> {
        if *written + data.len() as u64 > limit {
            return Err(TransferError::local(ErrorCode::DISK_FULL, format!("file larger than the {limit}-byte limit")));
        }
        if let Some(charge) = charge {
            charge.take(data.len() as u64)?;
        }
        *written += data.len() as u64;
        match writer {
            Writer::File(file) => file.write_all(data)?,
            Writer::Memory(bytes) => bytes.extend_from_slice(data),
        }
        Ok(())
    }

    /// Flushes everything; returns the bytes when the sink was memory.
    pub fn finish(mut self) -> Result<Vec<u8>, TransferError> {
        if let Some(mut decoder) = self.decoder.take() {
            self.decoded.clear();
            decoder.finish(&mut self.decoded);
            let tail = std::mem::take(&mut self.decoded);
            Self::put(&mut self.writer, &mut self.written, self.limit, self.charge, &tail)?;
        }
        match self.writer {
            Writer::File(mut file) => {
                file.flush()?;
                Ok(Vec::new())
            }
            Writer::Memory(bytes) => Ok(bytes),
        }
    }
}
