//! The frame decoder of a connection, in both roles and both read modes, fed hostile bytes in
//! arbitrary pieces.
//!
//! Input: 7 bytes of settings, then the wire bytes.
//! - byte 0: bit 0 client role, bit 1 auto-pong off, bit 2 auto-close off
//! - bytes 1-4: max frame size, max message size, max fragments, max pending output
//! - bytes 5-6: seed of the chunking
//!
//! The same bytes go through three connections: whole-message mode in one piece, whole-message
//! mode in small pieces, streaming mode in other pieces. Their event logs (streamed messages
//! reassembled) and their output must be identical, buffers must stay bounded by what arrived,
//! and the output (automatic pongs, close frames) must be accepted by a peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_core::{Config, Connection, KeySource, ReadMode, Role};
use wsio_fuzz::{Chunker, Log, MAX_CONTROL_FRAME, check_buffers, limit, peer_accepts, take_output};

struct Run {
    log: Log,
    output: Vec<u8>,
}

fn run(role: Role, config: &Config, mode: ReadMode, pieces: &[&[u8]], seed: u64) -> Run {
    let mut conn = Connection::new(role, config.clone());
    conn.set_read_mode(mode);
    let mut log = Log::default();
    let mut received = 0;
    for piece in pieces {
        conn.receive(piece);
        received += piece.len();
        log.drain(&mut conn);
        check_buffers(&conn, received);
        // Automatic replies wait for the transport; pings cannot push them past the limit by
        // more than one pong and one close frame.
        let pending = conn.buffer_stats().output_pending;
        assert!(
            pending
                <= config
                    .max_pending_output
                    .saturating_add(2 * MAX_CONTROL_FRAME),
            "output {pending} over limit {}",
            config.max_pending_output
        );
    }
    conn.receive_eof();
    log.drain(&mut conn);
    assert!(
        log.done,
        "end of stream must end the connection: {:?}",
        log.recs
    );
    let output = take_output(&mut conn, &mut Chunker::new(seed));
    Run { log, output }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, wire)) = data.split_first_chunk::<7>() else {
        return;
    };
    let role = if head[0] & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let config = Config {
        max_frame_size: limit(head[1]),
        max_message_size: limit(head[2]),
        max_fragments: limit(head[3]),
        max_pending_output: limit(head[4]),
        auto_pong: head[0] & 2 == 0,
        auto_close: head[0] & 4 == 0,
        key_source: KeySource::Seeded(7),
        ..Config::default()
    };
    let seed = u64::from(u16::from_le_bytes([head[5], head[6]]));

    let whole = run(role, &config, ReadMode::Whole, &[wire], seed);
    let pieces = Chunker::new(seed).split(wire);
    let chunked = run(role, &config, ReadMode::Whole, &pieces, seed);
    let pieces = Chunker::new(seed ^ 0xABCD).split(wire);
    let streamed = run(role, &config, ReadMode::Streaming, &pieces, seed);

    assert_eq!(
        whole.log.recs, chunked.log.recs,
        "chunking changed the events"
    );
    assert_eq!(
        whole.log.recs, streamed.log.recs,
        "streaming changed the events"
    );
    assert_eq!(whole.output, chunked.output, "chunking changed the output");
    assert_eq!(
        whole.output, streamed.output,
        "streaming changed the output"
    );

    let peer = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    peer_accepts(peer, None, &whole.output);
});
