//! Re-creates the ws advisory "Memory exhaustion DoS from tiny fragments and data chunks"
//! (and the `maxFragments` bypass fixed by websockets/ws#2329): a peer sent a flood of tiny or
//! empty fragments, each costing the receiver a wrapper object far larger than its payload,
//! so modest traffic made ws hold far more memory than its documented message-size limit
//! and the process died of OOM; empty continuation frames were not even counted.
//!
//! wsio copies the payload of a fragmented message into one buffer (no per-fragment object),
//! counts every frame, empty ones included, against `Config::max_fragments` (1009 past it),
//! and keeps nothing per fragment in streaming mode.

use wsio_core::testing::{drain_events, take_output};
use wsio_core::{Config, Connection, Error, Event, Message, ProtocolError, ReadMode, Role};
use wsio_tests::{CountingAlloc, frame, measure, sent_close_code};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `n` continuation frames (not final) with `payload` each, as a client sends them.
fn continuations(n: usize, payload: &[u8]) -> Vec<u8> {
    let one = frame(Role::Server, 0x00, payload);
    one.repeat(n)
}

#[test]
fn a_flood_of_empty_continuations_is_counted_and_refused_with_1009() {
    let config = Config::default();
    let max = config.max_fragments;
    let mut server = Connection::new(Role::Server, config);
    server.receive(&frame(Role::Server, 0x01, b""));
    let flood = continuations(1000, b"");
    let mut frames = 1;
    let ((), usage) = measure(|| {
        // A million empty frames, fed a thousand at a time; it must stop at the limit.
        for _ in 0..1000 {
            server.receive(&flood);
            match drain_events(&mut server).pop() {
                None => frames += 1000,
                Some(Err(e)) => {
                    assert_eq!(e, Error::Protocol(ProtocolError::TooManyFragments));
                    return;
                }
                Some(other) => panic!("{other:?}"),
            }
        }
        panic!("a million empty fragments were accepted");
    });
    assert!(
        frames <= max && frames + 1000 > max,
        "refused after {frames}"
    );
    assert_eq!(sent_close_code(&take_output(&mut server)), Some(1009));
    // Nothing was kept per fragment: only the read buffer for one batch.
    assert!(usage.peak < 4 * flood.len(), "{usage:?}");
    assert_eq!(server.buffer_stats().message_buffered, 0);
}

#[test]
fn the_fragment_limit_is_exact_for_empty_and_one_byte_frames() {
    for payload in [&b""[..], b"a"] {
        let config = Config {
            max_fragments: 10,
            ..Config::default()
        };
        // 10 frames: accepted.
        let mut server = Connection::new(Role::Server, config.clone());
        let mut wire = frame(Role::Server, 0x01, payload);
        wire.extend(continuations(8, payload));
        wire.extend(frame(Role::Server, 0x80, payload));
        server.receive(&wire);
        let text = String::from_utf8(payload.repeat(10)).unwrap();
        assert_eq!(
            server.poll_event(),
            Ok(Some(Event::Message(Message::text(text))))
        );
        // 11: refused on the 11th header.
        let mut server = Connection::new(Role::Server, config);
        let mut wire = frame(Role::Server, 0x01, payload);
        wire.extend(continuations(9, payload));
        wire.extend(frame(Role::Server, 0x80, payload));
        server.receive(&wire);
        assert_eq!(
            server.poll_event(),
            Err(Error::Protocol(ProtocolError::TooManyFragments))
        );
    }
}

#[test]
fn one_byte_fragments_cost_about_one_byte_each() {
    // 60,000 one-byte fragments, under the default fragment limit: the message is assembled
    // in one buffer, so memory follows the payload, not the frame count.
    let n = 60_000;
    let mut server = Connection::new(Role::Server, Config::default());
    let mut wire = frame(Role::Server, 0x02, b"a");
    wire.extend(continuations(n - 2, b"a"));
    wire.extend(frame(Role::Server, 0x80, b"a"));
    let (message, usage) = measure(|| {
        let mut message = None;
        for chunk in wire.chunks(4096) {
            server.receive(chunk);
            let stats = server.buffer_stats();
            assert!(stats.message_buffered <= n && stats.read_buffered <= 4096 + 7);
            if let Some(event) = drain_events(&mut server).pop() {
                message = Some(event);
            }
        }
        message
    });
    assert_eq!(
        message,
        Some(Ok(Event::Message(Message::binary(vec![b'a'; n]))))
    );
    // The assembly buffer doubles up to 64 KiB; a wrapper per fragment would be megabytes.
    assert!(usage.peak < 4 * n + 3 * 4096, "{usage:?}");
    assert!(usage.calls < 200, "{usage:?}");
}

#[test]
fn the_message_limit_holds_for_tiny_fragments_however_many() {
    let config = Config {
        max_message_size: 4096,
        max_fragments: usize::MAX,
        ..Config::default()
    };
    let mut server = Connection::new(Role::Server, config);
    server.receive(&frame(Role::Server, 0x02, b"a"));
    let batch = continuations(1024, b"a");
    let ((), usage) = measure(|| {
        for _ in 0..100 {
            server.receive(&batch);
            if let Some(Err(e)) = drain_events(&mut server).pop() {
                assert_eq!(e, Error::Protocol(ProtocolError::MessageTooLarge));
                return;
            }
        }
        panic!("the limit never tripped");
    });
    assert!(usage.peak < 4 * 4096 + 2 * batch.len(), "{usage:?}");
}

#[test]
fn streaming_keeps_nothing_per_fragment() {
    // In streaming mode each piece goes straight to the application: the engine's own
    // memory stays at one read, however many fragments pass.
    let config = Config {
        max_fragments: usize::MAX,
        max_message_size: usize::MAX,
        ..Config::default()
    };
    let mut server = Connection::new(Role::Server, config);
    server.set_read_mode(ReadMode::Streaming);
    server.receive(&frame(Role::Server, 0x02, b"a"));
    let batch = continuations(1024, b"a");
    let mut pieces = 0;
    let ((), usage) = measure(|| {
        for _ in 0..200 {
            server.receive(&batch);
            // Each event is handled and dropped, as an application forwarding pieces does.
            loop {
                match server.poll_event() {
                    Ok(Some(Event::MessageData(p))) => pieces += p.len(),
                    Ok(Some(Event::MessageStart(_))) => {}
                    Ok(None) => break,
                    other => panic!("{other:?}"),
                }
            }
            let stats = server.buffer_stats();
            assert_eq!((stats.read_buffered, stats.message_buffered), (0, 0));
        }
    });
    assert_eq!(pieces, 1 + 200 * 1024);
    assert!(usage.peak < 4 * batch.len(), "{usage:?}");
}

/// Reads as a runtime does them: reserve 4 KiB in the connection's buffer, read what arrived.
fn read(conn: &mut Connection, bytes: &[u8]) {
    let buf = conn.read_buf();
    buf.reserve(4096);
    buf.extend_from_slice(bytes);
}

#[test]
fn tiny_messages_kept_by_the_application_cost_what_they_carry() {
    // The "data chunks" half of the advisory: a thousand one-byte messages, each in its own
    // read, kept by the application (a queue of messages bounded by their size, say). Each
    // used to be a view into its own 4 KiB read buffer: 4 MB held for 1,000 bytes.
    for mode in [ReadMode::Whole, ReadMode::Streaming] {
        let mut server = Connection::new(Role::Server, Config::default());
        server.set_read_mode(mode);
        let message = frame(Role::Server, 0x82, b"x");
        let (kept, usage) = measure(|| {
            let mut kept = Vec::with_capacity(1000);
            for _ in 0..1000 {
                read(&mut server, &message);
                while let Some(event) = server.poll_event().unwrap() {
                    match event {
                        Event::Message(m) => kept.push(m.into_bytes()),
                        Event::MessageData(piece) => kept.push(piece),
                        _ => {}
                    }
                }
            }
            kept
        });
        assert_eq!(kept.len(), 1000);
        assert!(kept.iter().all(|b| b[..] == b"x"[..]));
        // The handles' vector, a small allocation per message and one read buffer.
        assert!(
            usage.retained < 1000 * 64 + 32 * 1000 + 3 * 4096,
            "{mode:?}: {usage:?}"
        );
    }
}

#[test]
fn a_large_message_is_still_handed_over_without_a_copy() {
    // The other side of the trade: a large single-frame message is split out of the read
    // buffer, not copied, so receiving it allocates nothing once its bytes are in.
    let mut server = Connection::new(Role::Server, Config::default());
    read(&mut server, &frame(Role::Server, 0x82, &vec![7; 1 << 20]));
    let (event, usage) = measure(|| server.poll_event());
    let Ok(Some(Event::Message(m))) = event else {
        panic!("{event:?}");
    };
    assert_eq!(m.len(), 1 << 20);
    assert!(usage.total < 1024, "{usage:?}");
}
