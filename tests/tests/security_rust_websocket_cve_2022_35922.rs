//! Re-creates rust-websocket CVE-2022-35922 (RUSTSEC-2022-0035, "unbounded memory allocation
//! based on untrusted length"): before 0.26.5 the `websocket` crate allocated a frame's
//! declared payload length up front, so one header declaring an exabyte made a server or
//! client abort with out-of-memory.
//!
//! wsio never allocates by a declared length: a frame over `Config::max_frame_size` fails
//! with 1009 on its header alone; below the limit, buffers grow only with the bytes that
//! arrive; and a 64-bit length with the high bit set (RFC 6455 section 5.2 forbids it) fails
//! with 1002.

use wsio_core::{
    Config, Connection, Error, Event, ProtocolError, ReadMode, Role, testing::drain_events,
    testing::take_output,
};
use wsio_tests::{CountingAlloc, header, measure, sent_close_code, warm_thread};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn unlimited() -> Config {
    Config {
        max_frame_size: usize::MAX,
        max_message_size: usize::MAX,
        ..Config::default()
    }
}

#[test]
fn a_declared_length_over_the_limit_fails_on_the_header_with_1009() {
    // The client's close frame is masked: its first mask key would allocate the thread's
    // 4 KiB buffer of random bytes inside the measurement.
    warm_thread();
    for role in ROLES {
        for len in [(16 << 20) + 1, 1 << 32, 1 << 62, (1 << 63) - 1] {
            let mut conn = Connection::new(role, Config::default());
            let (result, usage) = measure(|| {
                conn.receive(&header(role, 0x82, len));
                conn.poll_event()
            });
            assert_eq!(result, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
            assert!(usage.largest < 4096, "{role:?} {len}: {usage:?}");
            assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1009));
        }
    }
}

#[test]
fn below_the_limit_only_what_arrived_is_held() {
    for role in ROLES {
        for mode in [ReadMode::Whole, ReadMode::Streaming] {
            let mut conn = Connection::new(role, unlimited());
            conn.set_read_mode(mode);
            conn.receive(&header(role, 0x82, 1 << 62));
            let mut streamed = 0;
            let ((), usage) = measure(|| {
                // 1 MiB of the declared 4 EiB, in reads of 4 KiB.
                for _ in 0..256 {
                    conn.receive(&[0x55; 4096]);
                    for event in drain_events(&mut conn) {
                        match event {
                            Ok(Event::MessageStart(_)) => {}
                            Ok(Event::MessageData(piece)) => streamed += piece.len(),
                            other => panic!("{other:?}"),
                        }
                    }
                }
            });
            let stats = conn.buffer_stats();
            match mode {
                // A single frame stays in the read buffer until complete: 1 MiB of it.
                ReadMode::Whole => {
                    assert_eq!(stats.read_buffered, 1 << 20);
                    assert!(stats.read_capacity <= 2 << 20, "{stats:?}");
                    assert!(usage.peak <= 3 << 20, "{usage:?}");
                }
                // Streaming hands each piece out as it arrives and keeps nothing.
                ReadMode::Streaming => {
                    assert_eq!(streamed, 1 << 20);
                    assert_eq!(stats.read_buffered, 0);
                    assert!(usage.peak <= 64 << 10, "{usage:?}");
                }
            }
            assert!(usage.largest <= 2 << 20, "{role:?} {mode:?}: {usage:?}");
        }
    }
}

#[test]
fn a_length_with_the_high_bit_set_fails_with_1002() {
    for role in ROLES {
        for len in [1u64 << 63, u64::MAX, (1 << 63) + 5] {
            let mut wire = header(role, 0x82, 0);
            // The 8-byte extended length form, whatever the value: 127, then the length.
            wire.truncate(1);
            wire.push(if role == Role::Server { 0xFF } else { 0x7F });
            wire.extend_from_slice(&len.to_be_bytes());
            if role == Role::Server {
                wire.extend_from_slice(&wsio_tests::KEY);
            }
            let mut conn = Connection::new(role, unlimited());
            conn.receive(&wire);
            assert_eq!(
                conn.poll_event(),
                Err(Error::Protocol(ProtocolError::InvalidLength)),
                "{role:?} {len:#x}"
            );
            assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1002));
            assert!(conn.buffer_stats().read_capacity < 4096);
        }
    }
}

#[test]
fn a_control_frame_declaring_a_long_payload_fails_before_it_arrives() {
    for role in ROLES {
        for opcode in [0x88, 0x89, 0x8A] {
            let mut conn = Connection::new(role, unlimited());
            conn.receive(&header(role, opcode, 1 << 40));
            assert_eq!(
                conn.poll_event(),
                Err(Error::Protocol(ProtocolError::ControlTooLong))
            );
            assert_eq!(sent_close_code(&take_output(&mut conn)), Some(1002));
        }
    }
}
