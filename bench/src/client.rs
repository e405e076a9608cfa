//! The client side of the network benchmarks (`loadgen`, `idle-conns`): the opening handshake
//! (wsio-core's `ClientHandshake`), pre-built masked frames, and a lenient scanner that counts
//! the echoes coming back without copying their payloads.
//!
//! Leniency is deliberate: the same client must measure every server, including the raw
//! byte-copy server that echoes our masked frames unchanged, and servers that compress their
//! echoes with permessage-deflate. The scanner only needs frame boundaries.

use std::fmt;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsio_core::handshake::{ClientHandshake, ClientOptions, Parsed};
use wsio_core::{DeflateParams, Message};

use crate::client_frames;

/// The permessage-deflate offer of `--deflate`: no context takeover either way, so that a
/// connection keeps no compression window between messages (the memory-friendly setting).
pub const DEFLATE_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/// The parameters [`DEFLATE_OFFER`] leads to when accepted as offered.
pub const DEFLATE_PARAMS: DeflateParams = DeflateParams {
    server_no_context_takeover: true,
    client_no_context_takeover: true,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

/// A connected, upgraded client socket.
#[derive(Debug)]
pub struct Upgraded {
    /// The socket (`TCP_NODELAY` set).
    pub stream: TcpStream,
    /// Bytes that followed the 101 response (frames already sent by the server).
    pub leftover: BytesMut,
    /// Whether the server accepted permessage-deflate.
    pub deflate: bool,
}

/// Connects to `127.0.0.1:port`, sends the upgrade request (offering [`DEFLATE_OFFER`] with
/// `offer_deflate`) and checks the response (status, accept key, extensions offered).
pub async fn connect(port: u16, offer_deflate: bool) -> Result<Upgraded, String> {
    let mut options = ClientOptions::default();
    if offer_deflate {
        options.extensions.push(DEFLATE_OFFER.into());
    }
    let mut handshake = ClientHandshake::new(&format!("ws://127.0.0.1:{port}/"), options)
        .map_err(|e| format!("handshake request: {e}"))?;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    stream
        .write_all(&handshake.request_bytes())
        .await
        .map_err(|e| format!("write request: {e}"))?;
    let mut buf = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read response: {e}"))?;
        if n == 0 {
            return Err("server closed during the handshake".into());
        }
        match handshake.feed(&buf[..n]) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { value, leftover }) => {
                let deflate = value.extensions.iter().any(|e| {
                    e.split(';')
                        .next()
                        .is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate"))
                });
                return Ok(Upgraded {
                    stream,
                    leftover,
                    deflate,
                });
            }
            Err(e) => return Err(format!("handshake response: {e}")),
        }
    }
}

/// `count` identical client messages of `size` bytes as pre-built wire bytes, laid end to end
/// so that the first `k` messages are one slice: `bytes[..ends[k - 1]]`.
#[derive(Clone, Debug)]
pub struct Frames {
    /// The frames, end to end.
    pub bytes: Vec<u8>,
    /// Where each frame ends.
    pub ends: Vec<usize>,
}

impl Frames {
    /// `count` masked messages of `size` bytes (ASCII, so valid as text), compressed with
    /// [`DEFLATE_PARAMS`] when `deflate` (each is compressed on its own: no context takeover).
    pub fn new(count: usize, size: usize, text: bool, deflate: bool) -> Self {
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let message = if text {
            Message::text(String::from_utf8(payload).expect("ASCII"))
        } else {
            Message::binary(payload)
        };
        let messages = vec![message; count];
        let frames = client_frames(&messages, deflate.then_some(DEFLATE_PARAMS));
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for frame in frames {
            bytes.extend_from_slice(&frame);
            ends.push(bytes.len());
        }
        Frames { bytes, ends }
    }

    /// The wire bytes of the first `k` messages (`k` at most the count built).
    pub fn first(&self, k: usize) -> &[u8] {
        match k {
            0 => &[],
            k => &self.bytes[..self.ends[k - 1]],
        }
    }
}

/// Why an echo stream was not what the load generator expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The server sent a close frame (with its status code, if the code was in the same read).
    Closed(Option<u16>),
    /// An uncompressed echoed message had the wrong length.
    WrongLength {
        /// Payload bytes received.
        got: u64,
        /// Payload bytes sent.
        expected: u64,
    },
    /// A continuation frame without a message, or a data frame inside a fragmented message.
    Fragmentation,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Closed(Some(code)) => write!(f, "server sent close {code}"),
            ScanError::Closed(None) => write!(f, "server sent close"),
            ScanError::WrongLength { got, expected } => {
                write!(f, "echo of {got} bytes, sent {expected}")
            }
            ScanError::Fragmentation => write!(f, "bad fragmentation in the echo stream"),
        }
    }
}

/// Counts whole data messages in a server's byte stream, fed in arbitrary pieces.
///
/// Lenient by design: masked frames are accepted (the raw server echoes ours unchanged, mask
/// key included: it is skipped), compressed messages (RSV1) are counted without a length check,
/// pings and pongs are skipped, fragmented messages are reassembled by length only. A message
/// counts once its last payload byte has arrived.
#[derive(Debug)]
pub struct EchoScanner {
    expected_len: u64,
    /// A frame header split across reads (at most 14 bytes).
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Whether the current frame ends a data message (counted once `skip` reaches zero).
    completes: bool,
    /// A data message is in progress (fragmented).
    in_message: bool,
    compressed: bool,
    message_len: u64,
}

impl EchoScanner {
    /// A scanner checking that every uncompressed message is `expected_len` bytes long.
    pub fn new(expected_len: usize) -> Self {
        EchoScanner {
            expected_len: expected_len as u64,
            header: [0; 14],
            header_len: 0,
            skip: 0,
            completes: false,
            in_message: false,
            compressed: false,
            message_len: 0,
        }
    }

    /// Consumes `data` and returns how many messages it completed.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<u64, ScanError> {
        let mut done = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let take = self.skip.min(data.len() as u64);
                self.skip -= take;
                data = &data[take as usize..];
                if self.skip == 0 && self.completes {
                    self.completes = false;
                    done += 1;
                }
                continue;
            }
            if self.header_len == 0 {
                // The common case: the whole header is in this read.
                match header_size(data) {
                    Some(size) if size <= data.len() => {
                        let (header, rest) = data.split_at(size);
                        self.header_done(header, rest, &mut done)?;
                        data = rest;
                        continue;
                    }
                    _ => {}
                }
            }
            // A header split across reads: gather it.
            let need = header_size(&self.header[..self.header_len]).unwrap_or(2);
            let take = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if header_size(&self.header[..self.header_len]) == Some(self.header_len) {
                let (header, len) = (self.header, self.header_len);
                self.header_len = 0;
                self.header_done(&header[..len], data, &mut done)?;
            }
        }
        Ok(done)
    }

    /// Handles a whole frame header; `rest` is what follows it in this read (for the close
    /// code).
    fn header_done(&mut self, header: &[u8], rest: &[u8], done: &mut u64) -> Result<(), ScanError> {
        let fin = header[0] & 0x80 != 0;
        let rsv1 = header[0] & 0x40 != 0;
        let opcode = header[0] & 0x0f;
        let len = payload_len(header);
        match opcode {
            0x0..=0x2 => {
                if opcode == 0 {
                    if !self.in_message {
                        return Err(ScanError::Fragmentation);
                    }
                    self.message_len += len;
                } else {
                    if self.in_message {
                        return Err(ScanError::Fragmentation);
                    }
                    self.in_message = true;
                    self.compressed = rsv1;
                    self.message_len = len;
                }
                if fin {
                    self.in_message = false;
                    if !self.compressed && self.message_len != self.expected_len {
                        return Err(ScanError::WrongLength {
                            got: self.message_len,
                            expected: self.expected_len,
                        });
                    }
                    if len == 0 {
                        *done += 1;
                    } else {
                        self.completes = true;
                    }
                }
            }
            0x8 => {
                let code = (rest.len() >= 2 && len >= 2).then(|| {
                    let mut code = [rest[0], rest[1]];
                    if header[1] & 0x80 != 0 {
                        let key = &header[header.len() - 4..];
                        code[0] ^= key[0];
                        code[1] ^= key[1];
                    }
                    u16::from_be_bytes(code)
                });
                return Err(ScanError::Closed(code));
            }
            // Pings, pongs, reserved opcodes: skipped.
            _ => {}
        }
        self.skip = len;
        Ok(())
    }
}

/// The size of the frame header starting `bytes`, once its first two bytes are there.
fn header_size(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 2 {
        return None;
    }
    let extended = match bytes[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if bytes[1] & 0x80 != 0 { 4 } else { 0 };
    Some(2 + extended + mask)
}

/// The payload length of a whole header.
fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7f {
        126 => u16::from_be_bytes([header[2], header[3]]) as u64,
        127 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
        n => n as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn counts_in_any_split() {
        let mut wire = Vec::new();
        for size in [16usize, 1024, 70_000] {
            let mut w = Vec::new();
            for _ in 0..3 {
                w.extend(server_frame(0x2, &vec![7; size]));
            }
            w.extend(server_frame(0x9, b"ping"));
            for step in [1usize, 2, 3, 7, 13, 4096, usize::MAX] {
                let mut scanner = EchoScanner::new(size);
                let total: u64 = w
                    .chunks(step.min(w.len()))
                    .map(|c| scanner.feed(c).unwrap())
                    .sum();
                assert_eq!(total, 3, "size {size} step {step}");
            }
            wire = w;
        }
        assert!(!wire.is_empty());
    }

    #[test]
    fn masked_echoes_of_our_own_frames_count() {
        let frames = Frames::new(4, 1024, false, false);
        let mut scanner = EchoScanner::new(1024);
        assert_eq!(scanner.feed(frames.first(4)).unwrap(), 4);
        let frames = Frames::new(4, 16, true, false);
        let mut scanner = EchoScanner::new(16);
        assert_eq!(scanner.feed(frames.first(3)).unwrap(), 3);
    }

    #[test]
    fn compressed_messages_count_without_length_check() {
        let frames = Frames::new(2, 1024, false, true);
        assert!(frames.bytes.len() < 2 * 1024);
        let mut scanner = EchoScanner::new(1024);
        assert_eq!(scanner.feed(frames.first(2)).unwrap(), 2);
    }

    #[test]
    fn wrong_length_and_close_are_errors() {
        let mut scanner = EchoScanner::new(16);
        assert_eq!(
            scanner.feed(&server_frame(0x2, &[0; 15])),
            Err(ScanError::WrongLength {
                got: 15,
                expected: 16
            })
        );
        let mut scanner = EchoScanner::new(16);
        assert_eq!(
            scanner.feed(&server_frame(0x8, &1001u16.to_be_bytes())),
            Err(ScanError::Closed(Some(1001)))
        );
    }

    #[test]
    fn fragmented_messages_count_once() {
        let mut w = vec![0x02, 8];
        w.extend_from_slice(&[1; 8]);
        w.extend_from_slice(&[0x80, 8]);
        w.extend_from_slice(&[1; 8]);
        let mut scanner = EchoScanner::new(16);
        assert_eq!(scanner.feed(&w).unwrap(), 1);
    }
}
