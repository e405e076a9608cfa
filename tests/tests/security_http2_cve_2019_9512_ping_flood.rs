//! Re-creates the "Ping Flood" of CVE-2019-9512 (one of the HTTP/2 denial-of-service
//! advisories of August 2019), applied to WebSocket: the attacker sends pings continually and
//! never reads, and the peer queues a pong for each, so its output queue grows without bound
//! in memory and CPU.
//!
//! wsio answers pings automatically but bounds what waits for the transport: once the output
//! passes `Config::max_pending_output`, further automatic pongs coalesce into one slot (only
//! the latest ping is answered, as RFC 6455 section 5.5.3 allows), heartbeat pings wait in
//! one slot too, and the output never grows by more than one control frame past the limit.

use wsio_core::testing::{drain_events, take_output};
use wsio_core::{Config, Connection, Event, Message, Role};
use wsio_tests::{CountingAlloc, frame, measure};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The largest control frame: a 125-byte payload and a 14-byte header.
const MAX_CONTROL_FRAME: usize = 139;

#[test]
fn a_peer_that_pings_and_never_reads_gets_bounded_output() {
    for limit in [0, 1000, 64 << 10] {
        let config = Config {
            max_pending_output: limit,
            ..Config::default()
        };
        let mut server = Connection::new(Role::Server, config);
        let ping = frame(Role::Server, 0x89, &[0xAB; 125]);
        let batch = ping.repeat(1000);
        let ((), usage) = measure(|| {
            // 100,000 maximal pings (13 MiB), and our output is never read.
            for _ in 0..100 {
                server.receive(&batch);
                let events = drain_events(&mut server);
                assert_eq!(events.len(), 1000);
                assert!(events.iter().all(|e| matches!(e, Ok(Event::Ping(_)))));
                let pending = server.buffer_stats().output_pending;
                assert!(
                    pending < limit.max(1) + MAX_CONTROL_FRAME,
                    "{pending} over {limit}"
                );
            }
        });
        // One batch in the read buffer and its events (each ping's payload copied out) at a
        // time, and the bounded output: not the 13 MiB of pongs owed.
        assert!(
            usage.peak < 3 * batch.len() + 2 * limit + (64 << 10),
            "{usage:?}"
        );
        // When the peer finally reads, it finds the answers that fit and one pong for the
        // latest ping, nothing more.
        let out = take_output(&mut server);
        assert!(out.len() < limit.max(1) + 2 * MAX_CONTROL_FRAME);
        let mut client = Connection::new(Role::Client, Config::default());
        client.receive(&out);
        let pongs = drain_events(&mut client);
        assert!(!pongs.is_empty());
        assert!(
            pongs
                .iter()
                .all(|e| matches!(e, Ok(Event::Pong(p)) if p[..] == [0xAB; 125]))
        );
    }
}

#[test]
fn the_coalesced_pong_answers_the_latest_ping() {
    let config = Config {
        max_pending_output: 10,
        ..Config::default()
    };
    let mut server = Connection::new(Role::Server, config);
    for i in 0..100u8 {
        server.receive(&frame(Role::Server, 0x89, &[i]));
    }
    assert_eq!(drain_events(&mut server).len(), 100);
    let out = take_output(&mut server);
    let mut client = Connection::new(Role::Client, Config::default());
    client.receive(&out);
    let pongs: Vec<_> = drain_events(&mut client)
        .into_iter()
        .map(|e| match e {
            Ok(Event::Pong(p)) => p[0],
            other => panic!("{other:?}"),
        })
        .collect();
    // The pongs that fit under the limit (3 bytes each), then the one for the last ping.
    assert_eq!(pongs, [0, 1, 2, 3, 99]);
}

#[test]
fn pings_interleaved_with_our_sends_do_not_bypass_the_limit() {
    // The application keeps sending while the peer pings and never reads: sends are refused
    // once the output is full, and pongs coalesce.
    let config = Config {
        max_pending_output: 4096,
        ..Config::default()
    };
    let mut server = Connection::new(Role::Server, config);
    let mut refused = 0;
    for i in 0..10_000u32 {
        server.receive(&frame(Role::Server, 0x89, &i.to_be_bytes()));
        drain_events(&mut server);
        if server.send(Message::binary(vec![0; 100])).is_err() {
            refused += 1;
        }
        let pending = server.buffer_stats().output_pending;
        assert!(pending < 4096 + 102 + MAX_CONTROL_FRAME, "{pending}");
    }
    assert!(refused > 9_900, "{refused}");
}
