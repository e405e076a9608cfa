//! Re-creates gorilla/websocket CVE-2020-27813: before 1.4.1 the running length of a
//! fragmented message was a signed 64-bit sum of declared frame lengths, so a small first
//! fragment followed by a continuation declaring close to 2^63 bytes overflowed it to a
//! negative number that passed the read limit, and the server allocated and read without
//! bound (denial of service).
//!
//! wsio adds a declared length to the message size only after checking it against the frame
//! and message limits in unsigned arithmetic wide enough for any sum it can meet (the sum of
//! what arrived plus one declared length below 2^63), so every limit holds exactly, and with
//! the limits disabled the sum still cannot wrap.

use wsio_core::testing::{drain_events, take_output};
use wsio_core::{Config, Connection, Error, Event, Message, ProtocolError, ReadMode, Role};
use wsio_tests::{CountingAlloc, frame, header, measure, sent_close_code, warm_thread};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

#[test]
fn a_small_fragment_then_a_near_2_pow_63_continuation_is_refused_with_1009() {
    // The client's close frame is masked: its first mask key would allocate the thread's
    // 4 KiB buffer of random bytes inside the measurement.
    warm_thread();
    for role in ROLES {
        for declared in [(1u64 << 63) - 1, (1 << 63) - 2, (1 << 62) + 1] {
            // The limits a careful application sets: large, but not everything.
            let config = Config {
                max_frame_size: usize::MAX,
                max_message_size: (1 << 62) + 1,
                ..Config::default()
            };
            let mut conn = Connection::new(role, config);
            let mut wire = frame(role, 0x02, b"x");
            wire.extend(header(role, 0x80, declared));
            conn.receive(&wire);
            let (result, usage) = measure(|| conn.poll_event());
            assert_eq!(
                result,
                Err(Error::Protocol(ProtocolError::MessageTooLarge)),
                "{role:?} {declared:#x}"
            );
            assert!(usage.largest < 4096, "{usage:?}");
            assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1009));
        }
    }
}

#[test]
fn without_limits_the_sum_does_not_wrap_and_nothing_is_allocated_for_it() {
    for role in ROLES {
        let config = Config {
            max_frame_size: usize::MAX,
            max_message_size: usize::MAX,
            ..Config::default()
        };
        let mut conn = Connection::new(role, config);
        conn.set_read_mode(ReadMode::Streaming);
        let mut wire = frame(role, 0x02, b"x");
        wire.extend(header(role, 0x00, (1 << 63) - 1));
        wire.extend(vec![0u8; 1000]);
        conn.receive(&wire);
        let (events, usage) = measure(|| drain_events(&mut conn));
        // The message goes on: its pieces arrive, nothing wraps, nothing is reserved ahead.
        let data: usize = events
            .iter()
            .map(|e| match e {
                Ok(Event::MessageData(piece)) => piece.len(),
                Ok(Event::MessageStart(_)) => 0,
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(data, 1001);
        assert!(usage.largest < 4096, "{usage:?}");
        assert_eq!(conn.buffer_stats().read_buffered, 0);
    }
}

#[test]
fn the_message_limit_counts_every_fragment_exactly() {
    for role in ROLES {
        let config = Config {
            max_message_size: 100,
            ..Config::default()
        };
        // 60 + 40 = 100 bytes: accepted.
        let mut conn = Connection::new(role, config.clone());
        let mut wire = frame(role, 0x02, &[1; 60]);
        wire.extend(frame(role, 0x80, &[2; 40]));
        conn.receive(&wire);
        let Ok(Some(Event::Message(m))) = conn.poll_event() else {
            panic!("100 bytes within a limit of 100");
        };
        assert_eq!(
            m,
            Message::binary([[1u8; 60].as_slice(), &[2; 40]].concat())
        );
        // 60 + 41: refused as soon as the second header declares it, before its payload.
        let mut conn = Connection::new(role, config);
        let mut wire = frame(role, 0x02, &[1; 60]);
        wire.extend(header(role, 0x80, 41));
        conn.receive(&wire);
        assert_eq!(
            conn.poll_event(),
            Err(Error::Protocol(ProtocolError::MessageTooLarge))
        );
        assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1009));
    }
}

#[test]
fn many_fragments_each_under_the_frame_limit_still_meet_the_message_limit() {
    // Fragments of 1 KiB under a 4 KiB frame limit add up to the 64 KiB message limit.
    let config = Config {
        max_frame_size: 4096,
        max_message_size: 64 << 10,
        ..Config::default()
    };
    let mut conn = Connection::new(Role::Server, config);
    conn.receive(&frame(Role::Server, 0x02, &[0; 1024]));
    let mut frames = 1;
    let error = loop {
        conn.receive(&frame(Role::Server, 0x00, &[0; 1024]));
        frames += 1;
        match conn.poll_event() {
            Ok(None) => assert!(conn.buffer_stats().message_buffered <= 64 << 10),
            Err(e) => break e,
            Ok(Some(e)) => panic!("{e:?}"),
        }
    };
    assert_eq!(error, Error::Protocol(ProtocolError::MessageTooLarge));
    assert_eq!(frames, 65, "the 65th KiB passes the limit");
}
