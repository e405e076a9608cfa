//! Differential: wsio's decoder against tungstenite's on the same valid input.
//!
//! The input is structured (`arbitrary`) into a valid stream from a peer: text (any UTF-8,
//! fragments cut anywhere, code points included) and binary messages, some of 16 KiB and more
//! (which a server unmasks on their way in), pings and pongs between and inside fragmented
//! messages, and optionally a close frame at the end; encoded and masked as the peer of the
//! chosen role would. wsio reads it in arbitrary pieces, tungstenite from
//! an in-memory stream; both must report the same messages, control frames and close, in the
//! same order, and neither may fail before the stream ends.
#![no_main]

use std::io::{self, Cursor, Read, Write};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tungstenite::protocol::{Message as TMessage, Role as TRole, WebSocket};
use wsio_core::{CloseCode, Config, Connection, MessageKind, ReadMode, Role};
use wsio_fuzz::{Chunker, Log, Rec, encode_frame};

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    streaming: bool,
    chunk_seed: u16,
    /// Hand wsio pieces of up to 64 KiB (reads of a busy socket) rather than mostly tiny ones.
    big_pieces: bool,
    items: Vec<Item>,
    close: Option<(u16, String)>,
}

#[derive(Arbitrary, Debug)]
enum Item {
    Text {
        text: String,
        cuts: Vec<u8>,
        ping: Option<(u8, Vec<u8>)>,
    },
    Binary {
        data: Vec<u8>,
        cuts: Vec<u8>,
        ping: Option<(u8, Vec<u8>)>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A message of 16 to 24 KiB (`unit` repeated; one per input), which a server unmasks as
    /// `receive` copies it in rather than in its buffer; fragments cut at any size.
    Large {
        unit: String,
        extra: u16,
        binary: bool,
        cuts: Vec<u16>,
        ping: Option<(u8, Vec<u8>)>,
    },
}

/// The payload of an `Item::Large`: whole copies of `unit` (so text stays UTF-8) up to
/// 16 KiB and up to 8 KiB more (enough for every path; larger would only slow the fuzzer).
fn large_payload(unit: &str, extra: u16) -> Vec<u8> {
    let unit = if unit.is_empty() { "a" } else { unit };
    let target = (16 << 10) + usize::from(extra % (8 << 10));
    unit.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(target.div_ceil(unit.len()) * unit.len())
        .collect()
}

/// A stream that reads the peer's bytes and swallows what tungstenite writes (its pongs).
struct Peer {
    input: Cursor<Vec<u8>>,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A control payload: at most 125 bytes.
fn control(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().min(125)]
}

/// Cuts `payload` into fragments at the given sizes; the rest is the last fragment.
fn fragments<'a, C: Copy + Into<usize>>(payload: &'a [u8], cuts: &[C]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = payload;
    for &cut in cuts.iter().take(32) {
        let n = cut.into().min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out.push(rest);
    out
}

fuzz_target!(|input: Input| {
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let mut key = 0x1234_5678u32;
    let mut mask = || {
        key = key.wrapping_mul(0x9E37_79B9).wrapping_add(1);
        (role == Role::Server).then_some(key.to_be_bytes())
    };

    let mut wire = Vec::new();
    let mut large_done = false;
    for item in &input.items {
        let large;
        let (opcode, pieces, ping) = match item {
            Item::Ping(p) => {
                wire.extend(encode_frame(true, false, 0x9, control(p), mask()));
                continue;
            }
            Item::Pong(p) => {
                wire.extend(encode_frame(true, false, 0xA, control(p), mask()));
                continue;
            }
            Item::Text { text, cuts, ping } => (0x1, fragments(text.as_bytes(), cuts), ping),
            Item::Binary { data, cuts, ping } => (0x2, fragments(data, cuts), ping),
            Item::Large {
                unit,
                extra,
                binary,
                cuts,
                ping,
            } => {
                // One per input: each costs thousands of tiny pieces, and the fuzzer's speed
                // is its coverage.
                if large_done {
                    continue;
                }
                large_done = true;
                large = large_payload(unit, *extra);
                let opcode = if *binary { 0x2 } else { 0x1 };
                (opcode, fragments(&large, cuts), ping)
            }
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.iter().enumerate() {
            let op = if i == 0 { opcode } else { 0x0 };
            wire.extend(encode_frame(i == last, false, op, piece, mask()));
            if let Some((after, p)) = ping
                && usize::from(*after) % pieces.len() == i
            {
                wire.extend(encode_frame(true, false, 0x9, control(p), mask()));
            }
        }
    }
    if let Some((code, reason)) = &input.close {
        let code = if CloseCode(*code).is_sendable() {
            *code
        } else {
            1000
        };
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(&reason.as_bytes()[..cut]);
        wire.extend(encode_frame(true, false, 0x8, &payload, mask()));
    }

    // wsio, in pieces.
    let mut ours = Connection::new(role, Config::default());
    if input.streaming {
        ours.set_read_mode(ReadMode::Streaming);
    }
    let mut log = Log::default();
    let mut chunker = Chunker::new(u64::from(input.chunk_seed));
    let pieces = if input.big_pieces {
        let mut pieces = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = (chunker.next_len() * 223).min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        pieces
    } else {
        chunker.split(&wire)
    };
    for piece in pieces {
        ours.receive(piece);
        log.drain(&mut ours);
    }
    let ours: Vec<Rec> = log.recs;

    // tungstenite, from a stream.
    let their_role = match role {
        Role::Client => TRole::Client,
        Role::Server => TRole::Server,
    };
    let peer = Peer {
        input: Cursor::new(wire.clone()),
    };
    let mut theirs = Vec::new();
    let mut socket = WebSocket::from_raw_socket(peer, their_role, None);
    loop {
        let rec = match socket.read() {
            Ok(TMessage::Text(t)) => Rec::Message(MessageKind::Text, t.as_bytes().to_vec()),
            Ok(TMessage::Binary(b)) => Rec::Message(MessageKind::Binary, b.to_vec()),
            Ok(TMessage::Ping(p)) => Rec::Ping(p.to_vec()),
            Ok(TMessage::Pong(p)) => Rec::Pong(p.to_vec()),
            Ok(TMessage::Close(c)) => {
                Rec::Close(c.map(|c| (u16::from(c.code), c.reason.as_bytes().to_vec())))
            }
            Ok(TMessage::Frame(_)) => unreachable!("not produced by read"),
            // The end of the valid stream (or of the connection after the close).
            Err(_) => break,
        };
        let close = matches!(rec, Rec::Close(_));
        theirs.push(rec);
        if close {
            break;
        }
    }

    assert!(
        !ours.iter().any(|r| matches!(r, Rec::Error(_))),
        "wsio rejected a valid stream: {ours:?}"
    );
    assert_eq!(ours, theirs, "wsio and tungstenite disagree");
});
