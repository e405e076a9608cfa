//! A client and a server wired buffer to buffer with a fake clock.

use std::time::Duration;

use bytes::Bytes;
use wsio_core::testing::{Pair, drain_events, take_output, transfer};
use wsio_core::{
    CloseCode, CloseFrame, Config, Connection, Error, Event, Message, MessageKind, ReadMode, Role,
    State, TimeoutKind,
};

fn ok_events(conn: &mut Connection) -> Vec<Event> {
    drain_events(conn)
        .into_iter()
        .map(|e| e.expect("no error"))
        .collect()
}

#[test]
fn messages_both_ways() {
    let mut p = Pair::new(Config::default());
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    p.client.send(Message::text("from client")).unwrap();
    p.client.send(Message::binary(big.clone())).unwrap();
    p.server.send(Message::text("from server")).unwrap();
    p.server.send(Message::binary(Bytes::new())).unwrap();
    p.client_to_server();
    p.server_to_client();
    assert_eq!(
        ok_events(&mut p.server),
        [
            Event::Message(Message::text("from client")),
            Event::Message(Message::binary(big)),
        ]
    );
    assert_eq!(
        ok_events(&mut p.client),
        [
            Event::Message(Message::text("from server")),
            Event::Message(Message::binary(Bytes::new())),
        ]
    );
}

#[test]
fn fragmentation_with_interleaved_pings() {
    let mut p = Pair::new(Config {
        fragment_size: 4,
        ..Config::default()
    });
    p.client.begin_message(MessageKind::Text).unwrap();
    p.client.write_chunk("héllo ".as_bytes()).unwrap();
    p.client.ping(b"p1").unwrap();
    p.client
        .write_chunk("wörld, in fragments".as_bytes())
        .unwrap();
    p.client.ping(b"p2").unwrap();
    p.client.end_message().unwrap();
    // Split the wire into 3-byte pieces to cross every boundary.
    transfer(&mut p.client, &mut p.server, 3);
    assert_eq!(
        ok_events(&mut p.server),
        [
            Event::Ping(Bytes::from_static(b"p1")),
            Event::Ping(Bytes::from_static(b"p2")),
            Event::Message(Message::text("héllo wörld, in fragments")),
        ]
    );
    // Both pings were answered automatically, in order.
    p.server_to_client();
    assert_eq!(
        ok_events(&mut p.client),
        [
            Event::Pong(Bytes::from_static(b"p1")),
            Event::Pong(Bytes::from_static(b"p2")),
        ]
    );
}

#[test]
fn streaming_read_of_a_fragmented_message() {
    let mut p = Pair::new(Config {
        fragment_size: 1000,
        ..Config::default()
    });
    p.server.set_read_mode(ReadMode::Streaming);
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    p.client.begin_message(MessageKind::Binary).unwrap();
    for piece in payload.chunks(777) {
        p.client.write_chunk(piece).unwrap();
    }
    p.client.end_message().unwrap();
    // Deliver 333 bytes at a time, polling in between, as a socket read loop would.
    let wire = take_output(&mut p.client);
    let mut events = Vec::new();
    for piece in wire.chunks(333) {
        p.server.receive(piece);
        events.extend(ok_events(&mut p.server));
    }
    assert_eq!(
        events.first(),
        Some(&Event::MessageStart(MessageKind::Binary))
    );
    assert_eq!(events.last(), Some(&Event::MessageEnd));
    let mut got = Vec::new();
    for e in &events[1..events.len() - 1] {
        let Event::MessageData(d) = e else {
            panic!("{e:?}")
        };
        assert!(d.len() <= 333);
        got.extend_from_slice(d);
    }
    assert_eq!(got, payload);
}

#[test]
fn close_initiated_by_the_client() {
    let mut p = Pair::new(Config::default());
    p.client.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(p.client.state(), State::Closing);
    p.client_to_server();
    assert_eq!(
        ok_events(&mut p.server),
        [Event::Close(Some(CloseFrame::new(
            CloseCode::NORMAL,
            "done"
        )))]
    );
    assert_eq!(p.server.state(), State::Closed, "server echoed and is done");
    assert_eq!(
        p.server.send(Message::text("late")),
        Err(Error::SendAfterClose)
    );
    p.server_to_client();
    assert_eq!(
        ok_events(&mut p.client),
        [Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))]
    );
    assert_eq!(p.client.state(), State::Closed);
    assert_eq!(p.client.poll_event(), Err(Error::Closed));
    // No timer is left running once the handshake is complete.
    assert_eq!(p.client.poll_timeout(p.now), None);
}

#[test]
fn close_initiated_by_the_server_with_data_still_in_flight() {
    let mut p = Pair::new(Config::default());
    p.client.send(Message::text("crossing")).unwrap();
    p.server.close(CloseCode(4000), "app reason").unwrap();
    p.server_to_client();
    p.client_to_server();
    // The server still receives the data sent before the client saw its close.
    assert_eq!(
        ok_events(&mut p.server),
        [Event::Message(Message::text("crossing"))]
    );
    assert_eq!(
        ok_events(&mut p.client),
        [Event::Close(Some(CloseFrame::new(
            CloseCode(4000),
            "app reason"
        )))]
    );
    p.client_to_server();
    assert_eq!(
        ok_events(&mut p.server),
        [Event::Close(Some(CloseFrame::new(CloseCode(4000), "")))]
    );
    assert_eq!(
        (p.client.state(), p.server.state()),
        (State::Closed, State::Closed)
    );
}

#[test]
fn empty_close_is_echoed_empty_and_manual_close_reply_works() {
    let mut p = Pair::with_configs(
        Config::default(),
        Config {
            auto_close: false,
            ..Config::default()
        },
    );
    p.client.receive(&[]);
    // A close without status from the client, written by hand (masked, empty).
    p.server.receive(&[0x88, 0x80, 1, 2, 3, 4]);
    assert_eq!(ok_events(&mut p.server), [Event::Close(None)]);
    assert_eq!(
        p.server.state(),
        State::Closing,
        "auto_close is off: no reply yet"
    );
    assert!(take_output(&mut p.server).is_empty());
    p.server.close(CloseCode::GOING_AWAY, "bye").unwrap();
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(
        take_output(&mut p.server),
        [0x88, 0x05, 0x03, 0xE9, b'b', b'y', b'e']
    );

    let mut s = Connection::new(Role::Server, Config::default());
    s.receive(&[0x88, 0x80, 1, 2, 3, 4]);
    assert_eq!(ok_events(&mut s), [Event::Close(None)]);
    assert_eq!(
        take_output(&mut s),
        [0x88, 0x00],
        "an empty close is echoed empty"
    );
}

#[test]
fn close_timeout_when_the_peer_never_answers() {
    let config = Config {
        close_timeout: Duration::from_secs(3),
        ..Config::default()
    };
    let mut p = Pair::new(config);
    p.server.close(CloseCode::NORMAL, "").unwrap();
    let deadline = p.server.poll_timeout(p.now).expect("close timer armed");
    assert_eq!(deadline, p.now + Duration::from_secs(3));
    p.advance(Duration::from_millis(2999));
    assert_eq!(p.server.state(), State::Closing);
    assert_eq!(p.server.poll_event(), Ok(None));
    p.advance(Duration::from_millis(1));
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(
        p.server.poll_event(),
        Err(Error::Timeout(TimeoutKind::Close))
    );
    assert_eq!(p.server.poll_event(), Err(Error::Closed));
}

#[test]
fn heartbeat_pings_and_fails_without_pongs() {
    let config = Config {
        ping_interval: Some(Duration::from_secs(10)),
        pong_timeout: Duration::from_secs(4),
        ..Config::default()
    };
    let mut p = Pair::with_configs(Config::default(), config);
    assert_eq!(
        p.server.poll_timeout(p.now),
        Some(p.now + Duration::from_secs(10))
    );
    // A live peer: the ping is answered and the connection stays open across many intervals.
    for _ in 0..5 {
        p.advance(Duration::from_secs(10));
        p.server_to_client();
        assert!(matches!(ok_events(&mut p.client)[..], [Event::Ping(_)]));
        p.client_to_server();
        assert!(matches!(ok_events(&mut p.server)[..], [Event::Pong(_)]));
        assert_eq!(p.server.state(), State::Open);
    }
    // A dead peer: the next ping goes unanswered and the deadline fails the connection.
    p.advance(Duration::from_secs(10));
    assert!(p.server.wants_write());
    p.advance(Duration::from_secs(3));
    assert_eq!(p.server.state(), State::Open);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(
        p.server.poll_event(),
        Err(Error::Timeout(TimeoutKind::Heartbeat))
    );
}

#[test]
fn end_of_stream_without_close_is_abnormal() {
    let mut p = Pair::new(Config::default());
    p.client.send(Message::text("half")).unwrap();
    let out = take_output(&mut p.client);
    p.server.receive(&out[..4]);
    p.server.receive_eof();
    assert_eq!(p.server.poll_event(), Err(Error::AbnormalClosure));
    assert_eq!(p.server.state(), State::Closed);
    // After a complete close handshake, the end of stream is the expected ending.
    let mut p = Pair::new(Config::default());
    p.client.close(CloseCode::NORMAL, "").unwrap();
    p.client_to_server();
    ok_events(&mut p.server);
    p.server_to_client();
    assert!(matches!(ok_events(&mut p.client)[..], [Event::Close(_)]));
    p.client.receive_eof();
    assert_eq!(p.client.poll_event(), Err(Error::Closed));
}

#[test]
fn pending_output_is_bounded_and_pongs_coalesce() {
    let config = Config {
        max_pending_output: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(config);
    p.server.send(Message::binary(vec![0; 600])).unwrap();
    p.server.send(Message::binary(vec![0; 600])).unwrap();
    assert_eq!(
        p.server.send(Message::binary(vec![0; 10])),
        Err(Error::OutputFull)
    );
    // A client that pings without ever reading our output.
    for i in 0..100u8 {
        p.client.ping(&[i]).unwrap();
    }
    p.client_to_server();
    assert_eq!(ok_events(&mut p.server).len(), 100);
    assert!(
        p.server.buffer_stats().output_pending < 1300,
        "{:?}",
        p.server.buffer_stats()
    );
    // Once the output drains, only the latest pong is sent.
    p.server_to_client();
    let pongs: Vec<_> = ok_events(&mut p.client)
        .into_iter()
        .filter_map(|e| match e {
            Event::Pong(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(pongs, [Bytes::from_static(&[99])]);
    p.server.send(Message::text("room again")).unwrap();
}

/// Found while writing the connection_pair fuzz target's output invariant: heartbeat pings were
/// queued whatever the output held,
/// so a peer that never read our output, and kept the connection alive with unsolicited
/// pongs, made it grow by a ping per interval without end. Now a due ping waits in one slot
/// while the output is over its limit, and leaves once there is room.
#[test]
fn heartbeats_respect_the_output_limit() {
    let server_config = Config {
        max_pending_output: 100,
        ping_interval: Some(Duration::from_secs(1)),
        pong_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let mut p = Pair::with_configs(Config::default(), server_config);
    p.server.send(Message::binary(vec![7; 200])).unwrap();
    let full = p.server.buffer_stats().output_pending;
    assert!(full >= 100);
    for _ in 0..1000 {
        // The client keeps the heartbeat satisfied but never reads what the server sends.
        p.client.pong(b"alive").unwrap();
        p.client_to_server();
        assert!(matches!(ok_events(&mut p.server)[..], [Event::Pong(_)]));
        p.advance(Duration::from_secs(1));
        assert_eq!(p.server.buffer_stats().output_pending, full);
        assert!(p.server.wants_write());
    }
    assert_eq!(p.server.state(), State::Open);
    // Once the client reads, the waiting ping goes out, once, and is answered.
    p.server_to_client();
    let events = ok_events(&mut p.client);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], Event::Message(m) if m.len() == 200));
    assert!(matches!(&events[1], Event::Ping(_)));
    p.client_to_server();
    assert!(matches!(ok_events(&mut p.server)[..], [Event::Pong(_)]));

    // A peer that neither reads nor answers still times out while the ping waits.
    let mut p = Pair::with_configs(
        Config::default(),
        Config {
            pong_timeout: Duration::from_secs(5),
            ..p.server.config().clone()
        },
    );
    p.server.send(Message::binary(vec![7; 200])).unwrap();
    p.advance(Duration::from_secs(1));
    p.advance(Duration::from_secs(5));
    assert_eq!(
        p.server.poll_event(),
        Err(Error::Timeout(TimeoutKind::Heartbeat))
    );
}

/// Found while writing the ping-flood security test: with `max_pending_output` at 0 a waiting
/// pong could never leave (its slot waited for the output to be under 0 bytes), so
/// `wants_write` stayed true while `poll_transmit` had nothing, a busy loop for a runtime; and
/// `send` was refused even with nothing waiting, against the documented "a single message
/// larger than the limit is still accepted when nothing else waits".
#[test]
fn a_zero_output_limit_still_lets_one_frame_through_at_a_time() {
    let config = Config {
        max_pending_output: 0,
        ..Config::default()
    };
    let mut p = Pair::new(config);
    p.client.send(Message::text("one")).unwrap();
    assert_eq!(p.client.send(Message::text("two")), Err(Error::OutputFull));
    p.client_to_server();
    assert!(!p.client.wants_write());
    p.client.send(Message::text("two")).unwrap();
    p.client_to_server();
    assert_eq!(
        ok_events(&mut p.server),
        [
            Event::Message(Message::text("one")),
            Event::Message(Message::text("two"))
        ]
    );
    // Pings: the first pong goes out at once, later ones wait in the slot and leave when the
    // output is empty again, and then nothing is left to write.
    p.client.ping(b"a").unwrap();
    p.client_to_server();
    p.client.ping(b"b").unwrap();
    p.client_to_server();
    assert_eq!(ok_events(&mut p.server).len(), 2);
    let out = take_output(&mut p.server);
    assert!(!p.server.wants_write());
    p.client.receive(&out);
    assert_eq!(
        ok_events(&mut p.client),
        [
            Event::Pong(Bytes::from_static(b"a")),
            Event::Pong(Bytes::from_static(b"b"))
        ]
    );
}

#[test]
fn input_ready_tells_whether_a_whole_frame_is_buffered() {
    let mut client = Connection::new(Role::Client, Config::default());
    client.send(Message::binary(vec![7u8; 300])).unwrap();
    client.send(Message::text("second")).unwrap();
    let wire = take_output(&mut client);
    // 300 bytes need a 16-bit length: 2 + 2 + 4 (mask) header bytes.
    let first = 8 + 300;
    let mut server = Connection::new(Role::Server, Config::default());
    assert!(!server.input_ready(), "nothing received");
    server.receive(&wire[..3]);
    assert!(!server.input_ready(), "a partial header");
    server.receive(&wire[3..first - 1]);
    assert!(!server.input_ready(), "one payload byte missing");
    server.receive(&wire[first - 1..first + 1]);
    assert!(server.input_ready(), "the first frame is complete");
    assert!(matches!(server.poll_event(), Ok(Some(Event::Message(_)))));
    assert!(!server.input_ready(), "only a byte of the second frame");
    server.receive(&wire[first + 1..]);
    assert!(server.input_ready());
    assert_eq!(
        server.poll_event().unwrap(),
        Some(Event::Message(Message::text("second")))
    );
    assert!(!server.input_ready());
}

#[test]
fn small_messages_the_application_keeps_survive_block_reuse() {
    // Small payloads are unmasked into a shared block, reused once no message cut from it is
    // held. Messages kept across many later ones (every 97th here, the rest dropped at once)
    // must keep their bytes while the others go through reused and new blocks.
    fn payload(i: u32) -> Vec<u8> {
        (0..=(i % 60))
            .map(|k| (i.wrapping_mul(7) + k) as u8)
            .collect()
    }
    let mut client = Connection::new(Role::Client, Config::default());
    for i in 0..2000 {
        client.send(Message::binary(payload(i))).unwrap();
    }
    let wire = take_output(&mut client);
    let mut server = Connection::new(Role::Server, Config::default());
    let (mut count, mut kept) = (0, Vec::new());
    for chunk in wire.chunks(1000) {
        server.receive(chunk);
        while let Some(event) = server.poll_event().unwrap() {
            let Event::Message(m) = event else {
                panic!("unexpected {event:?}")
            };
            assert_eq!(m.as_bytes(), payload(count), "message {count}");
            if count % 97 == 0 {
                kept.push((count, m));
            }
            count += 1;
        }
    }
    assert_eq!(count, 2000);
    for (i, m) in kept {
        assert_eq!(m.as_bytes(), payload(i), "kept message {i}");
    }
}

#[test]
fn a_block_a_burst_filled_serves_the_next_burst_once_its_messages_are_dropped() {
    // Four 1 KiB payloads fill a 4 KiB small-payload block to the last byte, and a runtime
    // lets its buffers go while the application still holds the last message of the burst.
    // Once that message is dropped, the block must serve the thread's next connection rather
    // than be freed and a new one made and zeroed for it.
    let mut client = Connection::new(Role::Client, Config::default());
    for i in 0..4u8 {
        client.send(Message::binary(vec![i; 1024])).unwrap();
    }
    let wire = take_output(&mut client);
    // Read as the runtimes read: into a 64 KiB buffer, of which the burst is a small part
    // (a payload of at least half of what is left would be handed out of it instead).
    let read = |conn: &mut Connection| {
        assert!(conn.prepare_read(64 * 1024) >= wire.len());
        conn.read_buf().extend_from_slice(&wire);
    };
    let mut server = Connection::new(Role::Server, Config::default());
    read(&mut server);
    let burst: Vec<Event> = ok_events(&mut server);
    assert_eq!(burst.len(), 4);
    let starts: Vec<usize> = burst
        .iter()
        .map(|e| match e {
            Event::Message(m) => m.as_bytes().as_ptr() as usize,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let block = starts[0]..starts[0] + 4096;
    assert!(
        starts.iter().all(|p| block.contains(p)),
        "the four payloads share one block: {starts:x?}"
    );
    assert!(server.release_read_buf());
    server.release_idle_buffers();
    drop(burst);
    // Were the block freed, an allocation of its size would now take its memory.
    let elsewhere = vec![0u8; 4096];

    let mut next = Connection::new(Role::Server, Config::default());
    read(&mut next);
    let Some(Event::Message(m)) = next.poll_event().unwrap() else {
        panic!("expected a message");
    };
    assert_eq!(m.as_bytes(), &[0; 1024][..]);
    let at = m.as_bytes().as_ptr() as usize;
    assert!(
        block.contains(&at),
        "payload at {at:x}, not in the block at {:x} (elsewhere at {:x})",
        block.start,
        elsewhere.as_ptr() as usize
    );
}

#[test]
fn steady_reads_stay_in_the_read_buffers_own_storage() {
    // 1,000-byte messages read 4,096 bytes at a time: nearly every read leaves the start of a
    // frame behind. The next read is shortened by what is held, so that it fits the same
    // storage (the pooled 4,096 bytes plus room for a frame header) instead of moving
    // everything to a larger allocation.
    const STORAGE: usize = 4096 + 14;
    let mut client = Connection::new(Role::Client, Config::default());
    for i in 0..100u8 {
        client.send(Message::binary(vec![i; 1000])).unwrap();
    }
    let wire = take_output(&mut client);
    let mut server = Connection::new(Role::Server, Config::default());
    let (mut pos, mut received) = (0, 0u8);
    while pos < wire.len() {
        let n = server.prepare_read(4096).min(wire.len() - pos);
        let stats = server.buffer_stats();
        assert!(n >= 2048, "a read is shortened by less than half: {n}");
        assert!(stats.read_buffered + n <= STORAGE, "{stats:?}, read {n}");
        server.receive(&wire[pos..pos + n]);
        pos += n;
        let stats = server.buffer_stats();
        assert!(stats.read_capacity <= STORAGE, "the buffer grew: {stats:?}");
        for event in ok_events(&mut server) {
            assert_eq!(event, Event::Message(Message::binary(vec![received; 1000])));
            received += 1;
        }
    }
    assert_eq!(received, 100);
}

#[test]
fn prepare_read_ends_reads_at_the_end_of_a_large_frame() {
    let config = Config {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 20,
        ..Config::default()
    };
    let mut client = Connection::new(Role::Client, config.clone());
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    client.send(Message::binary(payload.clone())).unwrap();
    client.send(Message::text("next")).unwrap();
    let wire = take_output(&mut client);
    // 100,000 bytes need a 64-bit length: 2 + 8 + 4 (mask) header bytes.
    let frame_len = 14 + payload.len();

    for mode in [ReadMode::Whole, ReadMode::Streaming] {
        let mut server = Connection::new(Role::Server, config.clone());
        server.set_read_mode(mode);
        assert_eq!(server.prepare_read(65536), 65536, "no frame in progress");
        server.receive(&wire[..1000]);
        let mut events = ok_events(&mut server);
        let rest = frame_len - 1000;
        assert_eq!(server.prepare_read(1 << 20), rest, "{mode:?}");
        assert_eq!(server.prepare_read(65536), 65536, "{mode:?}");
        let stats = server.buffer_stats();
        if mode == ReadMode::Whole {
            // Room for the whole frame was reserved once.
            assert!(
                stats.read_capacity >= stats.read_buffered + rest,
                "{stats:?}"
            );
        } else {
            // Streamed pieces leave as they come: nothing reserved ahead.
            assert!(stats.read_capacity < 64 * 1024, "{stats:?}");
        }
        server.receive(&wire[1000..frame_len]);
        events.extend(ok_events(&mut server));
        let data: usize = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => m.len(),
                Event::MessageData(d) => d.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(data, payload.len(), "{mode:?}");
        assert_eq!(server.prepare_read(65536), 65536, "the frame is complete");
        server.receive(&wire[frame_len..frame_len + 3]);
        let _ = drain_events(&mut server);
        assert_eq!(
            server.prepare_read(65536),
            65536,
            "small frames never shorten a read"
        );
    }
}
