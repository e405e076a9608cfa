//! Re-creates python-websockets CVE-2018-1000518 (CWE-409, improper handling of highly
//! compressed data): websockets 4 and earlier inflated a permessage-deflate message whole
//! before checking its size, so a few kilobytes that inflate to gigabytes (a decompression
//! bomb) exhausted a server's or client's memory.
//!
//! wsio inflates at most 32 KiB per step and counts every inflated byte against
//! `Config::max_message_size` as it is produced: a bomb fails with 1009 once it passes the
//! limit, having cost at most the limit in memory (whole-message mode) or one step
//! (streaming mode), whether it comes in one frame or many.

use flate2::{Compress, Compression, FlushCompress};
use wsio_core::testing::{drain_events, take_output};
use wsio_core::{Config, Connection, DeflateParams, Error, Event, ProtocolError, ReadMode, Role};
use wsio_tests::{CountingAlloc, frame, measure, sent_close_code};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `size` zero bytes compressed as a permessage-deflate payload (sync flush, tail removed):
/// about a thousand to one.
fn bomb(size: usize) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(size / 1000 + 1024);
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len());
        let before = c.total_in();
        while c.total_in() - before < n as u64 {
            let done = (c.total_in() - before) as usize;
            out.reserve(4096);
            c.compress_vec(&zeros[done..n], &mut out, FlushCompress::None)
                .unwrap();
        }
        left -= n;
    }
    loop {
        out.reserve(4096);
        c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
        if out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
    out.truncate(out.len() - 4);
    out
}

fn params() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

/// Feeds `wire` to `conn` in reads of 16 KiB, dropping each event as an application that
/// processes pieces as they come does, and returns the error it ends with, checking the
/// engine's own buffers on the way.
fn run(conn: &mut Connection, wire: &[u8]) -> Error {
    let max = conn.config().max_message_size;
    for chunk in wire.chunks(16 << 10) {
        conn.receive(chunk);
        loop {
            match conn.poll_event() {
                Ok(None) => break,
                Ok(Some(Event::MessageStart(_) | Event::MessageData(_))) => {}
                Err(e) => return e,
                Ok(Some(other)) => panic!("{other:?}"),
            }
            assert!(conn.buffer_stats().message_buffered <= max + 1);
        }
    }
    panic!("the bomb was accepted");
}

#[test]
fn a_quarter_gigabyte_bomb_fails_with_1009_at_the_limit() {
    let bomb = bomb(256 << 20);
    assert!(bomb.len() < 512 << 10, "compressed: {}", bomb.len());
    for role in [Role::Server, Role::Client] {
        for mode in [ReadMode::Whole, ReadMode::Streaming] {
            let config = Config {
                max_message_size: 1 << 20,
                ..Config::default()
            };
            let mut conn = Connection::with_deflate(role, config, Some(params()));
            conn.set_read_mode(mode);
            let wire = frame(role, 0xC2, &bomb);
            let (error, usage) = measure(|| run(&mut conn, &wire));
            assert_eq!(error, Error::Protocol(ProtocolError::MessageTooLarge));
            assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1009));
            // Whole mode holds the limit (in a doubling vector) plus the frame as it arrives;
            // streaming holds a step at a time. Nothing near the 256 MiB it would inflate to.
            let bound = match mode {
                ReadMode::Whole => 2 * (1 << 20) + 2 * wire.len() + (64 << 10),
                ReadMode::Streaming => 2 * wire.len() + (128 << 10),
            };
            assert!(usage.peak < bound, "{role:?} {mode:?}: {usage:?}");
        }
    }
}

#[test]
fn a_bomb_split_over_many_fragments_fails_the_same_way() {
    let bomb = bomb(64 << 20);
    let config = Config {
        max_message_size: 1 << 20,
        ..Config::default()
    };
    let mut server = Connection::with_deflate(Role::Server, config, Some(params()));
    // The first fragment carries RSV1; the rest are continuations of 1 KiB.
    let mut wire = Vec::new();
    for (i, piece) in bomb.chunks(1024).enumerate() {
        let first = if i == 0 { 0x42 } else { 0x00 };
        wire.extend(frame(Role::Server, first, piece));
    }
    let (error, usage) = measure(|| run(&mut server, &wire));
    assert_eq!(error, Error::Protocol(ProtocolError::MessageTooLarge));
    assert!(usage.peak < 3 << 20, "{usage:?}");
}

#[test]
fn the_limit_is_exact_on_inflated_bytes() {
    // Exactly the limit inflates; one byte more fails.
    for (size, ok) in [(100_000, true), (100_001, false)] {
        let config = Config {
            max_message_size: 100_000,
            ..Config::default()
        };
        let mut server = Connection::with_deflate(Role::Server, config, Some(params()));
        server.receive(&frame(Role::Server, 0xC2, &bomb(size)));
        let event = server.poll_event();
        if ok {
            let Ok(Some(Event::Message(m))) = event else {
                panic!("{event:?}");
            };
            assert_eq!(m.len(), size);
            assert!(m.as_bytes().iter().all(|&b| b == 0));
        } else {
            assert_eq!(event, Err(Error::Protocol(ProtocolError::MessageTooLarge)));
        }
    }
}

#[test]
fn streamed_pieces_of_a_compressed_message_cost_what_they_carry() {
    // A compressed message read in streaming mode, its frame arriving a byte at a time: each
    // piece handed out must not carry a 32 KiB inflate buffer behind a few bytes, or an
    // application that keeps the pieces of one message holds thousands of times its size.
    let text: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let mut c = Compress::new(Compression::fast(), false);
    let mut payload = Vec::with_capacity(text.len() + 1024);
    c.compress_vec(&text, &mut payload, FlushCompress::Sync)
        .unwrap();
    payload.truncate(payload.len() - 4);
    let wire = frame(Role::Server, 0xC2, &payload);
    let mut server = Connection::with_deflate(Role::Server, Config::default(), Some(params()));
    server.set_read_mode(ReadMode::Streaming);
    let (pieces, usage) = measure(|| {
        let mut pieces = Vec::new();
        for byte in &wire {
            server.receive(std::slice::from_ref(byte));
            for event in drain_events(&mut server) {
                match event.unwrap() {
                    Event::MessageData(piece) => pieces.push(piece),
                    Event::MessageStart(_) | Event::MessageEnd => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        pieces
    });
    let received: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(received, text);
    assert!(pieces.len() > 100, "arrived in {} pieces", pieces.len());
    // What the application holds: the pieces' bytes and their handles, not 32 KiB each.
    assert!(
        usage.retained < 4 * text.len() + 64 * pieces.len() + (64 << 10),
        "{} pieces hold {usage:?}",
        pieces.len()
    );
}
