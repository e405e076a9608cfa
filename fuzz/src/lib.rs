//! Shared pieces of the wsio fuzz targets: chunking input the way a transport might, turning a
//! connection's events into a comparable log, and the invariants every target checks.
//!
//! The invariants are the point of the targets, beyond "no panic":
//! - a connection's event log does not depend on how its input was split (nor, modulo
//!   reassembly, on the read mode);
//! - nothing follows an error or the peer's close;
//! - buffers stay within the configured limits and never grow towards a declared length;
//! - whatever one side emits, a fresh peer of the other role accepts without a protocol error;
//! - a message the application holds never changes.

use std::collections::VecDeque;

use bytes::Buf;
use wsio_core::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use wsio_core::{Config, Connection, DeflateParams, Error, Event, Message, MessageKind, Role};

/// The most a single frame adds to the output beyond its payload: a full header.
pub const FRAME_OVERHEAD: usize = MAX_HEADER_LEN;

/// The largest control frame on the wire (header and payload).
pub const MAX_CONTROL_FRAME: usize = MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;

/// A deterministic stream of piece sizes, so that one fuzz input always splits the same way.
#[derive(Clone, Debug)]
pub struct Chunker {
    state: u64,
}

impl Chunker {
    /// A chunker seeded from fuzz input; any seed works.
    pub fn new(seed: u64) -> Self {
        Chunker {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// The next piece size, at least 1: mostly tiny (to split headers, code points and mask
    /// phases), sometimes a few hundred bytes.
    pub fn next_len(&mut self) -> usize {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        if r & 0x300 == 0 {
            1 + (r as usize >> 10) % 300
        } else {
            1 + (r as usize >> 10) % 7
        }
    }

    /// Splits `data` into consecutive pieces.
    pub fn split<'a>(&mut self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        while !data.is_empty() {
            let n = self.next_len().min(data.len());
            pieces.push(&data[..n]);
            data = &data[n..];
        }
        pieces
    }
}

/// A byte from fuzz input turned into a limit: small values, powers-of-two-ish ranges and the
/// extremes (0 and `usize::MAX`) all occur.
pub fn limit(b: u8) -> usize {
    let low = usize::from(b & 63);
    match b >> 6 {
        0 => low,
        1 => low << 6,
        2 => low << 14,
        _ if low % 2 == 0 => usize::MAX,
        _ => usize::MAX / 2,
    }
}

/// One event, normalised: streamed messages are reassembled, so logs from both read modes and
/// any chunking compare equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rec {
    /// A whole data message.
    Message(MessageKind, Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong and its payload.
    Pong(Vec<u8>),
    /// The peer's close: code and reason, if any.
    Close(Option<(u16, Vec<u8>)>),
    /// The error that ended input processing.
    Error(Error),
}

/// The events of one connection so far.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// Completed records, in order.
    pub recs: Vec<Rec>,
    /// A streamed message being reassembled.
    streaming: Option<(MessageKind, Vec<u8>)>,
    /// An error or the peer's close was reported: nothing may follow.
    pub done: bool,
    /// The last few whole messages as handed out, held as an application would hold them,
    /// each with a copy of its bytes: buffers the connection reuses (the block small payloads
    /// are packed into, lent to a pool when the connection goes idle) must never overwrite a
    /// message still held. Checked on every `drain`.
    pub held: VecDeque<(Message, Vec<u8>)>,
}

/// How many received messages a [`Log`] holds on to.
const HELD: usize = 8;

impl Log {
    /// Polls `conn` until it needs more input, checking the event grammar and the message
    /// size limit on the way.
    pub fn drain(&mut self, conn: &mut Connection) {
        for (message, copy) in &self.held {
            assert_eq!(message.as_bytes(), &copy[..], "a held message changed");
        }
        let max_message = conn.config().max_message_size;
        loop {
            let polled = conn.poll_event();
            if self.done {
                // After an error or a close, the connection reports only errors.
                assert!(polled.is_err(), "event after the end: {polled:?}");
                return;
            }
            let event = match polled {
                Ok(None) => return,
                Ok(Some(event)) => event,
                Err(e) => {
                    self.recs.push(Rec::Error(e));
                    self.done = true;
                    continue;
                }
            };
            match event {
                Event::Message(m) => {
                    assert!(self.streaming.is_none(), "whole message inside a stream");
                    assert!(m.len() <= max_message, "message over the limit");
                    if m.kind() == MessageKind::Text {
                        assert!(std::str::from_utf8(m.as_bytes()).is_ok());
                    }
                    self.recs
                        .push(Rec::Message(m.kind(), m.as_bytes().to_vec()));
                    if self.held.len() == HELD {
                        self.held.pop_front();
                    }
                    let copy = m.as_bytes().to_vec();
                    self.held.push_back((m, copy));
                }
                Event::MessageStart(kind) => {
                    assert!(self.streaming.is_none(), "message start inside a stream");
                    self.streaming = Some((kind, Vec::new()));
                }
                Event::MessageData(piece) => {
                    let (_, data) = self.streaming.as_mut().expect("data outside a stream");
                    data.extend_from_slice(&piece);
                    assert!(data.len() <= max_message, "streamed message over the limit");
                }
                Event::MessageEnd => {
                    let (kind, data) = self.streaming.take().expect("end outside a stream");
                    if kind == MessageKind::Text {
                        assert!(
                            std::str::from_utf8(&data).is_ok(),
                            "streamed text not UTF-8"
                        );
                    }
                    self.recs.push(Rec::Message(kind, data));
                }
                Event::Ping(p) => {
                    assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                    self.recs.push(Rec::Ping(p.to_vec()));
                }
                Event::Pong(p) => {
                    assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                    self.recs.push(Rec::Pong(p.to_vec()));
                }
                Event::Close(c) => {
                    let c = c.map(|c| {
                        assert!(c.code.is_sendable(), "received an unsendable code");
                        (c.code.0, c.reason.as_bytes().to_vec())
                    });
                    self.recs.push(Rec::Close(c));
                    self.done = true;
                }
            }
        }
    }

    /// The data messages received, in order.
    pub fn messages(&self) -> impl Iterator<Item = (&MessageKind, &Vec<u8>)> {
        self.recs.iter().filter_map(|r| match r {
            Rec::Message(kind, data) => Some((kind, data)),
            _ => None,
        })
    }
}

/// Checks the buffers of a connection that has been handed `received` bytes in total.
pub fn check_buffers(conn: &Connection, received: usize) {
    let stats = conn.buffer_stats();
    let config = conn.config();
    assert!(stats.read_buffered <= received, "{stats:?}");
    // Buffers grow as bytes arrive (a vector may double), never towards a declared length.
    assert!(
        stats.read_capacity <= 4 * received + 4096,
        "read capacity {} after {received} bytes",
        stats.read_capacity
    );
    // A compressed message may overshoot by one byte: that byte is how the limit is detected.
    assert!(
        stats.message_buffered <= config.max_message_size.saturating_add(1),
        "{stats:?}"
    );
}

/// Takes all of a connection's output, through the `Buf` interface in uneven steps.
pub fn take_output(conn: &mut Connection, chunker: &mut Chunker) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(transmit) = conn.poll_transmit() {
        let before = transmit.remaining();
        let chunk = transmit.chunk();
        assert!(!chunk.is_empty(), "empty chunk with {before} bytes pending");
        let n = chunk.len().min(chunker.next_len());
        out.extend_from_slice(&chunk[..n]);
        transmit.advance(n);
        assert_eq!(transmit.remaining(), before - n);
    }
    assert_eq!(conn.buffer_stats().output_pending, 0);
    // Nothing may claim to wait once the output is drained, or a runtime would spin.
    assert!(!conn.wants_write(), "wants_write with nothing to transmit");
    out
}

/// Feeds `bytes` (one side's output) to a fresh connection of `role` with generous limits and
/// the given extension, and checks that every frame is accepted: no protocol error.
pub fn peer_accepts(role: Role, deflate: Option<DeflateParams>, bytes: &[u8]) -> Log {
    let config = Config {
        max_frame_size: usize::MAX,
        max_message_size: usize::MAX,
        max_fragments: usize::MAX,
        ..Config::default()
    };
    let mut peer = Connection::with_deflate(role, config, deflate);
    let mut log = Log::default();
    peer.receive(bytes);
    log.drain(&mut peer);
    if let Some(Rec::Error(e)) = log.recs.last() {
        panic!("{role:?} rejected its peer's output with {e:?}: {bytes:02x?}");
    }
    log
}

/// Encodes one frame as a peer would put it on the wire (masked with `mask` if given).
pub fn encode_frame(
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + FRAME_OVERHEAD);
    out.push((u8::from(fin) << 7) | (u8::from(rsv1) << 6) | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    // Our own header parser must read back what we wrote (reserved opcodes aside).
    if let Ok(op) = OpCode::from_u8(opcode & 0x0F) {
        let (header, len) = FrameHeader::parse(&out)
            .expect("a valid header")
            .expect("a complete header");
        assert_eq!(header.opcode, op);
        assert_eq!(header.payload_len, payload.len() as u64);
        assert_eq!(len + payload.len(), out.len());
    }
    out
}
