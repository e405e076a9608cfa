//! A client and a server driven by an arbitrary sequence of API calls, partial transfers,
//! clock advances and injected bytes, with or without permessage-deflate.
//!
//! Invariants, checked after every step:
//! - a side whose input is only what its peer emitted never sees a protocol error: every byte
//!   one side emits is accepted by the other;
//! - data messages arrive exactly as sent, in order (whole or streamed, compressed or not), and
//!   a close frame arrives with the code and reason it was sent with;
//! - a refused command (an error) queues nothing; output grows past `max_pending_output` by at
//!   most one frame: a command is refused once the output is full, automatic pongs coalesce,
//!   and neither heartbeats nor a peer that keeps pinging can push it further;
//! - read buffers grow with what arrived, never with what a header declares;
//! - a received message the application still holds never changes, whatever buffers the
//!   connections give back to their thread's pool and take from it again.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Buf;
use libfuzzer_sys::fuzz_target;
use wsio_core::deflate::DeflateConfig;
use wsio_core::{
    CloseCode, Config, Connection, DeflateParams, Error, KeySource, Message, MessageKind,
    PreparedMessage, ReadMode, Role, SendOptions,
};
use wsio_fuzz::{Chunker, Log, MAX_CONTROL_FRAME, Rec, check_buffers, limit};

#[derive(Arbitrary, Debug)]
struct Side {
    max_pending: u8,
    fragment_size: u8,
    auto_pong: bool,
    auto_close: bool,
    ping_interval_ms: Option<u8>,
    pong_timeout_ms: u16,
    close_timeout_ms: u16,
    level: u8,
    threshold: u8,
    window: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Negotiated permessage-deflate: context flags and window bits.
    deflate: Option<(bool, bool, u8, u8)>,
    client: Side,
    server: Side,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        client: bool,
        text: bool,
        data: String,
        compress: bool,
        prepared: bool,
    },
    Begin {
        client: bool,
        text: bool,
        compress: bool,
    },
    Chunk {
        client: bool,
        data: String,
        cut: u8,
    },
    End {
        client: bool,
    },
    Ping {
        client: bool,
        payload: Vec<u8>,
    },
    Pong {
        client: bool,
        payload: Vec<u8>,
    },
    Close {
        client: bool,
        code: u16,
        reason: String,
    },
    /// Moves at most `budget` bytes of one side's output to the other, in pieces.
    Transfer {
        from_client: bool,
        budget: u16,
        seed: u8,
    },
    Poll {
        client: bool,
    },
    Advance {
        ms: u16,
    },
    ReadMode {
        client: bool,
        streaming: bool,
    },
    /// Hostile bytes straight into one side's input: that side may now fail, legitimately.
    Inject {
        client: bool,
        bytes: Vec<u8>,
    },
    Eof {
        client: bool,
    },
    /// What a runtime does when a connection goes idle: the read buffer and the buffers kept
    /// for reuse go back to the thread's pool, shared by both ends here; with `drop_held`,
    /// the application first lets go of the messages it held.
    Idle {
        client: bool,
        drop_held: bool,
    },
}

/// How much one step may add to a side's output.
#[derive(Clone, Copy, Debug, Default)]
struct Growth {
    /// Bytes that may be added while the output is under `max_pending_output`.
    room: usize,
    /// Bytes that may be added whatever the output holds.
    always: usize,
}

impl Growth {
    fn room(room: usize) -> Self {
        Growth { room, always: 0 }
    }

    fn always(always: usize) -> Self {
        Growth { room: 0, always }
    }
}

/// One end and what the harness knows about it.
struct End {
    conn: Connection,
    log: Log,
    /// Bytes handed to `receive` so far.
    received: usize,
    /// Its input included bytes its peer did not emit, or was cut short.
    tainted: bool,
    /// It sent a close frame (so it will not echo the peer's).
    close_sent: bool,
    /// The data messages it sent that the peer has not reported yet.
    sent: VecDeque<(MessageKind, Vec<u8>)>,
    /// The streamed message it is writing, and whether it goes through the compressor.
    writing: Option<(MessageKind, Vec<u8>)>,
    writing_compressed: bool,
    /// The close frames it sent, for the peer to report.
    closes: VecDeque<Option<(u16, Vec<u8>)>>,
    /// Records of the log already checked against the peer's model.
    checked: usize,
}

fn config(side: &Side, role: Role) -> Config {
    Config {
        max_pending_output: limit(side.max_pending),
        fragment_size: usize::from(side.fragment_size),
        auto_pong: side.auto_pong,
        auto_close: side.auto_close,
        ping_interval: side
            .ping_interval_ms
            .map(|ms| Duration::from_millis(u64::from(ms) + 1)),
        pong_timeout: Duration::from_millis(u64::from(side.pong_timeout_ms)),
        close_timeout: Duration::from_millis(u64::from(side.close_timeout_ms)),
        key_source: KeySource::Seeded(if role == Role::Client { 11 } else { 12 }),
        deflate: DeflateConfig {
            enabled: true,
            level: u32::from(side.level % 10),
            threshold: usize::from(side.threshold),
            max_window_bits: 8 + side.window % 8,
        },
        ..Config::default()
    }
}

/// The longest prefix of `s` that ends on a char boundary at or before `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Books the close frame a side echoes automatically when it reports the peer's close, for the
/// peer to check.
fn note_close_replies(ends: &mut [End; 2]) {
    for end in ends {
        let echo = end.log.recs[end.checked..].iter().find_map(|r| match r {
            Rec::Close(c) => Some(c.clone()),
            _ => None,
        });
        if let Some(close) = echo
            && end.conn.config().auto_close
            && !end.close_sent
        {
            end.close_sent = true;
            end.writing = None;
            end.closes
                .push_back(close.map(|(code, _)| (code, Vec::new())));
        }
    }
}

/// Checks what `receiver` reported since the last check against what `sender` sent.
fn check_model(receiver: &mut End, sender: &mut End, exact: bool) {
    let recs = &receiver.log.recs[receiver.checked..];
    receiver.checked = receiver.log.recs.len();
    for rec in recs {
        match rec {
            Rec::Error(Error::Protocol(e)) => {
                assert!(receiver.tainted, "clean input rejected with {e:?}");
            }
            Rec::Message(kind, data) if exact => {
                let expected = sender.sent.pop_front().expect("a message nobody sent");
                assert_eq!((kind, data), (&expected.0, &expected.1), "message changed");
            }
            Rec::Close(close) if exact => {
                let expected = sender.closes.pop_front().expect("a close nobody sent");
                assert_eq!(close, &expected, "close frame changed");
            }
            _ => {}
        }
    }
}

fuzz_target!(|input: Input| {
    let params = input
        .deflate
        .map(|(s_ctx, c_ctx, s_bits, c_bits)| DeflateParams {
            server_no_context_takeover: s_ctx,
            client_no_context_takeover: c_ctx,
            server_max_window_bits: 8 + s_bits % 8,
            client_max_window_bits: 8 + c_bits % 8,
        });
    let new_end = |side: &Side, role| End {
        conn: Connection::with_deflate(role, config(side, role), params),
        log: Log::default(),
        received: 0,
        tainted: false,
        close_sent: false,
        sent: VecDeque::new(),
        writing: None,
        writing_compressed: false,
        closes: VecDeque::new(),
        checked: 0,
    };
    let mut ends = [
        new_end(&input.client, Role::Client),
        new_end(&input.server, Role::Server),
    ];
    let mut now = Instant::now();
    for end in &mut ends {
        end.conn.poll_timeout(now);
    }
    // Once hostile bytes are in, message-level predictions are off; invariants stay.
    let mut exact = true;

    for op in input.ops.iter().take(256) {
        let before = [0, 1].map(|i| ends[i].conn.buffer_stats().output_pending);
        // How far each side's output may grow in this step: `room` while it is under the
        // limit, `always` even past it; `None` for a command that may queue a large message.
        let mut allowance = [Some(Growth::default()); 2];
        match op {
            Op::Send {
                client,
                text,
                data,
                compress,
                prepared,
            } => {
                let i = usize::from(!client);
                let end = &mut ends[i];
                let message = if *text {
                    Message::text(data.as_str())
                } else {
                    Message::binary(data.clone().into_bytes())
                };
                let result = if *prepared {
                    let deflate = end.conn.config().deflate.clone();
                    end.conn
                        .send_prepared(&PreparedMessage::new(message.clone(), Some(&deflate)))
                } else {
                    end.conn.send_with(
                        message.clone(),
                        SendOptions {
                            compress: *compress,
                        },
                    )
                };
                if result.is_ok() {
                    end.sent
                        .push_back((message.kind(), message.as_bytes().to_vec()));
                    allowance[i] = None;
                }
            }
            Op::Begin {
                client,
                text,
                compress,
            } => {
                let end = &mut ends[usize::from(!client)];
                let kind = if *text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let options = SendOptions {
                    compress: *compress,
                };
                if end.conn.begin_message_with(kind, options).is_ok() {
                    end.writing = Some((kind, Vec::new()));
                    end.writing_compressed = *compress && params.is_some();
                }
            }
            Op::Chunk { client, data, cut } => {
                let i = usize::from(!client);
                let end = &mut ends[i];
                // Text pieces end on char boundaries, so that a refused piece never leaves the
                // message invalid; the fragments still split code points.
                let cut = floor_boundary(data, usize::from(*cut));
                for piece in [&data[..cut], &data[cut..]] {
                    if end.conn.write_chunk(piece.as_bytes()).is_ok() {
                        let writing = end.writing.as_mut().expect("a chunk outside a message");
                        writing.1.extend_from_slice(piece.as_bytes());
                        allowance[i] = None;
                    }
                }
            }
            Op::End { client } => {
                let i = usize::from(!client);
                let end = &mut ends[i];
                if end.conn.end_message().is_ok() {
                    let writing = end.writing.take().expect("an end outside a message");
                    end.sent.push_back(writing);
                    // The last fragment leaves even when the output is full. A compressed
                    // message may leave more: the compressor holds back what it was given
                    // until the final flush (bounded by its own buffers, and it is our
                    // application's data, not the peer's).
                    let fragment = end.conn.config().fragment_size.max(1);
                    allowance[i] = if end.writing_compressed {
                        None
                    } else {
                        Some(Growth::always(fragment + MAX_CONTROL_FRAME))
                    };
                }
            }
            Op::Ping { client, payload } => {
                let i = usize::from(!client);
                if ends[i].conn.ping(payload).is_ok() {
                    allowance[i] = Some(Growth::room(MAX_CONTROL_FRAME));
                }
            }
            Op::Pong { client, payload } => {
                let i = usize::from(!client);
                if ends[i].conn.pong(payload).is_ok() {
                    allowance[i] = Some(Growth::room(MAX_CONTROL_FRAME));
                }
            }
            Op::Close {
                client,
                code,
                reason,
            } => {
                let i = usize::from(!client);
                let end = &mut ends[i];
                if end.conn.close(CloseCode(*code), reason).is_ok() {
                    end.close_sent = true;
                    end.writing = None;
                    end.closes
                        .push_back(Some((*code, reason.as_bytes().to_vec())));
                    allowance[i] = Some(Growth::always(MAX_CONTROL_FRAME));
                }
            }
            Op::Transfer {
                from_client,
                budget,
                seed,
            } => {
                let from = usize::from(!from_client);
                let mut chunker = Chunker::new(u64::from(*seed));
                let mut budget = usize::from(*budget);
                let [a, b] = &mut ends;
                let (src, dst) = if from == 0 { (a, b) } else { (b, a) };
                while budget > 0 {
                    let Some(out) = src.conn.poll_transmit() else {
                        break;
                    };
                    let n = out.chunk().len().min(chunker.next_len()).min(budget);
                    dst.conn.receive(&out.chunk()[..n]);
                    out.advance(n);
                    dst.received += n;
                    budget -= n;
                }
                // A pong that waited for room is queued by `poll_transmit` once there is room.
                allowance[from] = Some(Growth::room(MAX_CONTROL_FRAME));
            }
            Op::Poll { client } => {
                let i = usize::from(!client);
                let end = &mut ends[i];
                end.log.drain(&mut end.conn);
                // Automatic pongs only while there is room (then they coalesce); one close
                // frame (a reply or a failure's) regardless.
                allowance[i] = Some(Growth {
                    room: MAX_CONTROL_FRAME,
                    always: MAX_CONTROL_FRAME,
                });
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(u64::from(*ms));
                for (i, end) in ends.iter_mut().enumerate() {
                    end.conn.handle_timeout(now);
                    end.conn.poll_timeout(now);
                    // At most one heartbeat ping, and only while the output has room.
                    allowance[i] = Some(Growth::room(MAX_CONTROL_FRAME));
                }
            }
            Op::ReadMode { client, streaming } => {
                let mode = if *streaming {
                    ReadMode::Streaming
                } else {
                    ReadMode::Whole
                };
                ends[usize::from(!client)].conn.set_read_mode(mode);
            }
            Op::Inject { client, bytes } => {
                let end = &mut ends[usize::from(!client)];
                end.conn.receive(bytes);
                end.received += bytes.len();
                end.tainted = true;
                exact = false;
            }
            Op::Eof { client } => {
                let end = &mut ends[usize::from(!client)];
                end.conn.receive_eof();
                end.tainted = true;
            }
            Op::Idle { client, drop_held } => {
                let end = &mut ends[usize::from(!client)];
                if *drop_held {
                    end.log.held.clear();
                }
                end.conn.release_read_buf();
                end.conn.release_idle_buffers();
            }
        }

        for i in 0..2 {
            let end = &ends[i];
            check_buffers(&end.conn, end.received);
            let after = end.conn.buffer_stats().output_pending;
            let max = end.conn.config().max_pending_output;
            if let Some(growth) = allowance[i] {
                let bound = before[i]
                    .max(max.saturating_sub(1).saturating_add(growth.room))
                    .saturating_add(growth.always);
                assert!(
                    after <= bound,
                    "side {i}: output {before:?} -> {after} (limit {max}) after {op:?}"
                );
            }
        }
        note_close_replies(&mut ends);
        let [a, b] = &mut ends;
        check_model(a, b, exact);
        check_model(b, a, exact);
    }

    // Deliver everything that is left, and check that nothing sent was lost.
    for _ in 0..4 {
        for from in [0, 1] {
            let [a, b] = &mut ends;
            let (src, dst) = if from == 0 { (a, b) } else { (b, a) };
            while let Some(out) = src.conn.poll_transmit() {
                let n = out.chunk().len();
                dst.conn.receive(&out.chunk()[..n]);
                out.advance(n);
                dst.received += n;
            }
            assert!(
                !src.conn.wants_write(),
                "wants_write with nothing to transmit"
            );
            dst.log.drain(&mut dst.conn);
            check_buffers(&dst.conn, dst.received);
        }
        note_close_replies(&mut ends);
        let [a, b] = &mut ends;
        check_model(a, b, exact);
        check_model(b, a, exact);
    }
    if exact {
        for (receiver, sender) in [(0, 1), (1, 0)] {
            let clean_end = match ends[receiver].log.recs.last() {
                None => !ends[receiver].log.done,
                Some(Rec::Close(_)) => true,
                Some(Rec::Error(_)) => false,
                Some(_) => !ends[receiver].log.done,
            };
            if clean_end && !ends[receiver].tainted {
                assert!(
                    ends[sender].sent.is_empty(),
                    "messages lost: {:?}",
                    ends[sender].sent
                );
            }
        }
    }
});
