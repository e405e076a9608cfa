//! Compressed messages (RFC 7692) through a connection that negotiated permessage-deflate:
//! valid ones, corrupted ones, decompression bombs, fragmented and interleaved with pings, and
//! raw frames with any bits set.
//!
//! The input is structured (`arbitrary`): a list of items that a peer of the opposite role
//! encodes and masks correctly. A reference model built on an independent inflate predicts the
//! events: exact messages while the input is valid, a protocol error where it stops being
//! valid (limits, bad data, bad UTF-8). After a raw frame the model stops predicting, and only
//! the general invariants hold: the same events whatever the chunking and read mode, bounded
//! buffers (a bomb stops at the message limit), and output the peer accepts.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsio_core::{Config, Connection, DeflateParams, Error, KeySource, MessageKind, ReadMode, Role};
use wsio_fuzz::{Chunker, Log, Rec, check_buffers, encode_frame, limit, peer_accepts, take_output};

const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    peer_no_context: bool,
    max_frame: u8,
    max_message: u8,
    max_fragments: u8,
    chunk_seed: u16,
    items: Vec<Item>,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Bytes(Vec<u8>),
    Text(String),
    /// Zeros that compress a thousandfold: 64 KiB, 1 MiB or 4 MiB inflated.
    Bomb(u8),
}

#[derive(Arbitrary, Debug)]
enum Item {
    Message {
        text: bool,
        compress: bool,
        level: u8,
        window: u8,
        body: Body,
        /// Fragment sizes (of the wire payload); the rest goes in the last fragment.
        cuts: Vec<u16>,
        /// A byte of the compressed stream to flip: (position, xor).
        corrupt: Option<(u16, u8)>,
        /// A ping between fragments: (after which fragment, payload).
        ping: Option<(u8, Vec<u8>)>,
        mask: [u8; 4],
    },
    Control {
        opcode: u8,
        payload: Vec<u8>,
        mask: [u8; 4],
    },
    Raw {
        fin: bool,
        rsv1: bool,
        opcode: u8,
        payload: Vec<u8>,
        mask: [u8; 4],
    },
}

/// Raw DEFLATE of `data` ending in a sync flush, without the 4-byte tail (RFC 7692 7.2.1).
fn deflate(data: &[u8], level: u8, window: u8) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(
        Compression::new(u32::from(level % 10)),
        false,
        9 + window % 7,
    );
    let mut out = Vec::with_capacity(data.len() / 2 + 128);
    loop {
        let before = c.total_in() as usize;
        c.compress_vec(&data[before..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(1024));
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - TAIL.len());
    out
}

fn bomb(which: u8) -> &'static [u8] {
    static BOMBS: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    let bombs = BOMBS
        .get_or_init(|| [64 << 10, 1 << 20, 4 << 20].map(|n: usize| deflate(&vec![0; n], 9, 6)));
    &bombs[usize::from(which % 3)]
}

/// The reference inflate: the whole payload and the tail through zlib. `d` is fresh for every
/// message without context takeover, and carried over otherwise (reset after a stream that
/// ended, as the engine does). Stops at the end of the DEFLATE stream, as the engine ignores
/// what follows it. `Err(())` on bad data or once the output passes `max`.
fn inflate(d: &mut Decompress, payload: &[u8], max: usize) -> Result<Vec<u8>, ()> {
    let input = [payload, &TAIL[..]].concat();
    let start = d.total_in();
    let mut out = Vec::new();
    loop {
        if out.len() > max {
            return Err(());
        }
        out.reserve(32 << 10);
        let consumed = (d.total_in() - start) as usize;
        let before = out.len();
        let status = d
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .map_err(|_| ())?;
        if status == Status::StreamEnd {
            d.reset(false);
            break;
        }
        let stuck = (d.total_in() - start) as usize == consumed && out.len() == before;
        if stuck {
            break;
        }
    }
    if out.len() > max { Err(()) } else { Ok(out) }
}

/// What the model predicts for the next records.
enum Expect {
    Rec(Rec),
    /// Some protocol error, the connection's last record.
    Failure,
}

fuzz_target!(|input: Input| {
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let config = Config {
        max_frame_size: limit(input.max_frame),
        max_message_size: limit(input.max_message),
        max_fragments: limit(input.max_fragments),
        key_source: KeySource::Seeded(3),
        ..Config::default()
    };
    let params = DeflateParams {
        server_no_context_takeover: input.peer_no_context,
        client_no_context_takeover: input.peer_no_context,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    // Frames from the peer: masked when we are the server.
    let mask = |key: [u8; 4]| (role == Role::Server).then_some(key);

    let mut wire = Vec::new();
    let mut expect = Vec::new();
    // The model predicts until the first raw frame or the first failure.
    let mut predicting = true;
    // The reference inflater, carried between messages with context takeover.
    let mut reference = Decompress::new(false);
    for item in &input.items {
        if wire.len() > 1 << 20 {
            break;
        }
        match item {
            Item::Message {
                text,
                compress,
                level,
                window,
                body,
                cuts,
                corrupt,
                ping,
                mask: key,
            } => {
                let plain: &[u8] = match body {
                    Body::Bytes(b) => b,
                    Body::Text(s) => s.as_bytes(),
                    Body::Bomb(_) => &[],
                };
                let mut payload = match (body, compress) {
                    (Body::Bomb(which), _) => bomb(*which).to_vec(),
                    (_, true) => deflate(plain, *level, *window),
                    (_, false) => plain.to_vec(),
                };
                if let Some((at, xor)) = corrupt
                    && !payload.is_empty()
                {
                    let at = usize::from(*at) % payload.len();
                    payload[at] ^= xor;
                }
                let compressed = *compress || matches!(body, Body::Bomb(_));
                // Fragments of the wire payload.
                let mut fragments = Vec::new();
                let mut rest = &payload[..];
                for &cut in cuts.iter().take(64) {
                    let n = usize::from(cut).min(rest.len());
                    fragments.push(&rest[..n]);
                    rest = &rest[n..];
                }
                fragments.push(rest);
                let ping_after = ping
                    .as_ref()
                    .map(|(k, p)| (usize::from(*k) % fragments.len(), &p[..p.len().min(125)]));
                let last = fragments.len() - 1;
                for (i, fragment) in fragments.iter().enumerate() {
                    let opcode = match (i, text) {
                        (0, true) => 1,
                        (0, false) => 2,
                        _ => 0,
                    };
                    let rsv1 = i == 0 && compressed;
                    wire.extend(encode_frame(i == last, rsv1, opcode, fragment, mask(*key)));
                    if let Some((after, p)) = ping_after
                        && after == i
                    {
                        wire.extend(encode_frame(true, false, 9, p, mask(*key)));
                    }
                }
                if !predicting {
                    continue;
                }
                // The model: limits first (checked on headers), then content.
                let too_big_frame = fragments.iter().any(|f| f.len() > config.max_frame_size);
                let too_many = fragments.len() > config.max_fragments;
                let wire_too_big = payload.len() > config.max_message_size;
                let content = if too_big_frame || too_many || wire_too_big {
                    Err(())
                } else if compressed {
                    if input.peer_no_context {
                        reference = Decompress::new(false);
                    }
                    inflate(&mut reference, &payload, config.max_message_size)
                } else {
                    Ok(payload.clone())
                };
                let content = content.and_then(|c| {
                    if *text && std::str::from_utf8(&c).is_err() {
                        Err(())
                    } else {
                        Ok(c)
                    }
                });
                match content {
                    Ok(c) => {
                        let kind = if *text {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        match ping_after {
                            Some((after, p)) if after < last => {
                                expect.push(Expect::Rec(Rec::Ping(p.to_vec())));
                                expect.push(Expect::Rec(Rec::Message(kind, c)));
                            }
                            Some((_, p)) => {
                                expect.push(Expect::Rec(Rec::Message(kind, c)));
                                expect.push(Expect::Rec(Rec::Ping(p.to_vec())));
                            }
                            None => expect.push(Expect::Rec(Rec::Message(kind, c))),
                        }
                    }
                    Err(()) => {
                        // A ping before the failing frame may or may not come first; stop
                        // predicting exactly at this message.
                        expect.push(Expect::Failure);
                        predicting = false;
                    }
                }
            }
            Item::Control {
                opcode,
                payload,
                mask: key,
            } => {
                let opcode = 8 + opcode % 3;
                let payload = &payload[..payload.len().min(130)];
                wire.extend(encode_frame(true, false, opcode, payload, mask(*key)));
                if !predicting {
                    continue;
                }
                let rec = match (opcode, payload.len()) {
                    (_, 126..) | (8, 1) => None,
                    (9, _) => Some(Rec::Ping(payload.to_vec())),
                    (10, _) => Some(Rec::Pong(payload.to_vec())),
                    (_, 0) => Some(Rec::Close(None)),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        let sendable = wsio_core::CloseCode(code).is_sendable();
                        let utf8 = std::str::from_utf8(&payload[2..]).is_ok();
                        (sendable && utf8).then(|| Rec::Close(Some((code, payload[2..].to_vec()))))
                    }
                };
                match rec {
                    Some(rec) => {
                        let close = matches!(rec, Rec::Close(_));
                        expect.push(Expect::Rec(rec));
                        predicting &= !close;
                    }
                    None => {
                        expect.push(Expect::Failure);
                        predicting = false;
                    }
                }
            }
            Item::Raw {
                fin,
                rsv1,
                opcode,
                payload,
                mask: key,
            } => {
                wire.extend(encode_frame(*fin, *rsv1, *opcode, payload, mask(*key)));
                predicting = false;
            }
        }
    }

    let mut logs = Vec::new();
    for (mode, seed) in [
        (ReadMode::Whole, input.chunk_seed),
        (ReadMode::Streaming, !input.chunk_seed),
    ] {
        let mut conn = Connection::with_deflate(role, config.clone(), Some(params));
        conn.set_read_mode(mode);
        let mut log = Log::default();
        let mut received = 0;
        for piece in Chunker::new(u64::from(seed)).split(&wire) {
            conn.receive(piece);
            received += piece.len();
            log.drain(&mut conn);
            check_buffers(&conn, received);
        }
        conn.receive_eof();
        log.drain(&mut conn);
        let output = take_output(&mut conn, &mut Chunker::new(1));
        let peer = if input.client {
            Role::Server
        } else {
            Role::Client
        };
        peer_accepts(peer, Some(params), &output);
        logs.push(log.recs);
    }
    assert_eq!(logs[0], logs[1], "streaming changed the events");

    // The model's predictions hold for the prefix it could predict.
    let recs = &logs[0];
    for (i, expected) in expect.iter().enumerate() {
        match expected {
            Expect::Rec(rec) => assert_eq!(recs.get(i), Some(rec), "record {i}"),
            Expect::Failure => {
                let failed = recs[i..]
                    .iter()
                    .find(|r| !matches!(r, Rec::Ping(_)))
                    .expect("the failure is reported");
                assert!(
                    matches!(failed, Rec::Error(Error::Protocol(_))),
                    "expected a protocol error, got {failed:?} in {recs:?}"
                );
                break;
            }
        }
    }
});
