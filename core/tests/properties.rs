//! Property tests: round trips, independence from how the transport splits bytes, and
//! robustness against arbitrary input.

use proptest::prelude::*;
use wsio_core::frame::MAX_HEADER_LEN;
use wsio_core::testing::{Pair, drain_events, take_output};
use wsio_core::{
    Config, Connection, DeflateParams, Error, Event, KeySource, Message, MessageKind,
    ProtocolError, ReadMode, Role,
};

#[derive(Clone, Debug)]
enum Send {
    Whole(Message),
    /// The message written in pieces of these sizes through the streaming writer.
    Streamed(Message, Vec<usize>),
    Ping(Vec<u8>),
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,300}".prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
    ]
}

/// Messages of the sizes the fast path treats differently: tiny (up to 23 bytes, held inside
/// the message) and small (copied into the shared block), around the sharing threshold, and
/// large (16 KiB and up: reads end at their end).
fn sized_message() -> impl Strategy<Value = Message> {
    let size = prop_oneof![0usize..40, 900usize..1200, 16_000usize..70_000];
    (size, any::<bool>(), any::<u8>()).prop_map(|(size, text, seed)| {
        let bytes: Vec<u8> = (0..size)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect();
        if text {
            // Valid UTF-8 of about `size` bytes, with multi-byte characters.
            let s: String = bytes
                .iter()
                .map(|&b| char::from(b'a' + b % 26))
                .chain("é✓".chars())
                .collect();
            Message::text(s)
        } else {
            Message::binary(bytes)
        }
    })
}

fn send() -> impl Strategy<Value = Send> {
    prop_oneof![
        message().prop_map(Send::Whole),
        (message(), proptest::collection::vec(0usize..200, 0..8))
            .prop_map(|(m, c)| Send::Streamed(m, c)),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Send::Ping),
    ]
}

fn queue(conn: &mut Connection, sends: &[Send]) {
    for s in sends {
        match s {
            Send::Whole(m) => conn.send(m.clone()).unwrap(),
            Send::Streamed(m, cuts) => {
                conn.begin_message(m.kind()).unwrap();
                let mut rest = m.as_bytes();
                for &cut in cuts {
                    let (a, b) = rest.split_at(cut.min(rest.len()));
                    conn.write_chunk(a).unwrap();
                    rest = b;
                }
                conn.write_chunk(rest).unwrap();
                conn.end_message().unwrap();
            }
            Send::Ping(p) => conn.ping(p).unwrap(),
        }
    }
}

/// What the receiver must report for `sends`, in whole-message mode.
fn expected(sends: &[Send]) -> Vec<Event> {
    sends
        .iter()
        .map(|s| match s {
            Send::Whole(m) | Send::Streamed(m, _) => Event::Message(m.clone()),
            Send::Ping(p) => Event::Ping(p.clone().into()),
        })
        .collect()
}

/// Feeds `wire` in pieces ending at `cuts`, polling after every piece.
fn feed(conn: &mut Connection, wire: &[u8], cuts: &[usize]) -> Vec<Result<Event, Error>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(wire.len());
    let mut start = 0;
    let mut events = Vec::new();
    for cut in cuts {
        conn.receive(&wire[start..cut]);
        start = cut;
        events.extend(drain_events(conn));
    }
    events
}

fn small_fragments() -> Config {
    Config {
        fragment_size: 64,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_sequence_round_trips_both_ways(sends in proptest::collection::vec(send(), 0..12),
                                          cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
        let mut p = Pair::new(small_fragments());
        queue(&mut p.client, &sends);
        queue(&mut p.server, &sends);
        let to_server = take_output(&mut p.client);
        let to_client = take_output(&mut p.server);
        let at_server: Vec<_> = feed(&mut p.server, &to_server, &cuts).into_iter().map(Result::unwrap).collect();
        let at_client: Vec<_> = feed(&mut p.client, &to_client, &cuts).into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(at_server, expected(&sends));
        prop_assert_eq!(at_client, expected(&sends));
    }

    #[test]
    fn split_points_do_not_change_events(sends in proptest::collection::vec(send(), 1..10),
                                         cuts in proptest::collection::vec(any::<usize>(), 1..40),
                                         streaming in any::<bool>()) {
        let mut p = Pair::new(small_fragments());
        queue(&mut p.client, &sends);
        let wire = take_output(&mut p.client);
        let mode = if streaming { ReadMode::Streaming } else { ReadMode::Whole };
        let mut whole = Connection::new(Role::Server, Config::default());
        whole.set_read_mode(mode);
        let mut split = Connection::new(Role::Server, Config::default());
        split.set_read_mode(mode);
        let at_once = normalise(feed(&mut whole, &wire, &[]));
        let in_pieces = normalise(feed(&mut split, &wire, &cuts));
        prop_assert_eq!(at_once, in_pieces);
    }

    #[test]
    // The runtimes' read loop: each read sized by `prepare_read` (which may shorten it to end
    // at a large frame's end or to stay in the buffer's storage), straight into `read_buf`.
    // Small, medium and large (>= 16 KiB) frames, text and binary, arrive intact and in order
    // whatever the read size asked for.
    fn reads_sized_by_prepare_read_deliver_every_message(
        messages in proptest::collection::vec(sized_message(), 1..8),
        read_sizes in proptest::collection::vec(1usize..80_000, 1..16),
    ) {
        let mut client = Connection::new(Role::Client, Config::default());
        for m in &messages {
            client.send(m.clone()).unwrap();
        }
        let wire = take_output(&mut client);
        let mut server = Connection::new(Role::Server, Config::default());
        let (mut pos, mut received, mut reads) = (0, Vec::new(), 0);
        while pos < wire.len() {
            let asked = read_sizes[reads % read_sizes.len()];
            reads += 1;
            let n = server.prepare_read(asked).min(wire.len() - pos);
            prop_assert!(n > 0, "prepare_read({asked}) offered no room");
            server.read_buf().extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            while let Some(event) = server.poll_event().unwrap() {
                if let Event::Message(m) = event {
                    received.push(m);
                }
            }
        }
        prop_assert_eq!(received, messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        wire in proptest::collection::vec(any::<u8>(), 0..4000),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        role_is_server in any::<bool>(),
        streaming in any::<bool>(),
    ) {
        let config = Config {
            max_frame_size: 300,
            max_message_size: 1000,
            max_fragments: 16,
            max_pending_output: 512,
            key_source: KeySource::Seeded(1),
            ..Config::default()
        };
        let role = if role_is_server { Role::Server } else { Role::Client };
        let mut conn = Connection::new(role, config.clone());
        conn.set_read_mode(if streaming { ReadMode::Streaming } else { ReadMode::Whole });
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut start = 0;
        for cut in cuts {
            conn.receive(&wire[start..cut]);
            start = cut;
            drain_events(&mut conn);
            let stats = conn.buffer_stats();
            prop_assert!(stats.message_buffered <= config.max_message_size);
            // Unconsumed input is at most one frame (header and payload) plus what just arrived
            // that could not yet be parsed.
            prop_assert!(stats.read_buffered <= MAX_HEADER_LEN + config.max_frame_size + wire.len());
            // Automatic replies never push output past the limit by more than one control frame.
            prop_assert!(stats.output_pending <= config.max_pending_output + 2 * (MAX_HEADER_LEN + 125));
        }
        // A connection fed garbage ends in a well-defined way: still waiting, or closed.
        let _ = conn.poll_event();
    }
}

/// How a piece of the wire reaches the server in `however_fed` tests.
#[derive(Clone, Copy, Debug)]
enum Intake {
    /// `receive`, then every event drained.
    Receive,
    /// `receive` with no poll after it: the next piece follows at once.
    ReceiveOnly,
    /// Appended to `read_buf`, as the runtimes read, then every event drained.
    ReadBuf,
}

fn intake() -> impl Strategy<Value = Intake> {
    prop_oneof![
        Just(Intake::Receive),
        Just(Intake::ReceiveOnly),
        Just(Intake::ReadBuf)
    ]
}

/// Feeds `wire` in pieces of the given sizes (cycled), each by its intake; the last piece is
/// always followed by a poll.
fn feed_mixed(
    conn: &mut Connection,
    wire: &[u8],
    pieces: &[(usize, Intake)],
) -> Vec<Result<Event, Error>> {
    let (mut pos, mut events) = (0, Vec::new());
    for &(size, how) in pieces.iter().cycle() {
        if pos == wire.len() {
            break;
        }
        let piece = &wire[pos..(pos + size).min(wire.len())];
        pos += piece.len();
        match how {
            Intake::ReadBuf => conn.read_buf().extend_from_slice(piece),
            Intake::Receive | Intake::ReceiveOnly => conn.receive(piece),
        }
        if !matches!(how, Intake::ReceiveOnly) || pos == wire.len() {
            events.extend(drain_events(conn));
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    // `receive` unmasks a large frame's payload as it copies it in (from the frame's header
    // or in the middle of it), `read_buf` leaves it to `poll_event`: mixed in any order, with
    // or without a poll between pieces, and with large frames fragmented or between pings,
    // every message arrives as sent.
    fn large_frames_arrive_intact_however_fed(
        sends in proptest::collection::vec(prop_oneof![
            sized_message().prop_map(Send::Whole),
            (sized_message(), proptest::collection::vec(0usize..30_000, 0..4))
                .prop_map(|(m, c)| Send::Streamed(m, c)),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Send::Ping),
        ], 1..6),
        pieces in proptest::collection::vec((1usize..50_000, intake()), 1..12),
        fragment_size in 16_384usize..40_000,
        streaming in any::<bool>(),
    ) {
        let mut client = Connection::new(Role::Client, Config { fragment_size, ..Config::default() });
        queue(&mut client, &sends);
        let wire = take_output(&mut client);
        let mode = if streaming { ReadMode::Streaming } else { ReadMode::Whole };
        let mut server = Connection::new(Role::Server, Config::default());
        server.set_read_mode(mode);
        let events = feed_mixed(&mut server, &wire, &pieces);
        if streaming {
            // Against the same wire read at once into `read_buf`, where nothing is unmasked
            // on the way in.
            let mut reference = Connection::new(Role::Server, Config::default());
            reference.set_read_mode(mode);
            reference.read_buf().extend_from_slice(&wire);
            let at_once = drain_events(&mut reference);
            prop_assert_eq!(normalise(events), normalise(at_once));
        } else {
            let events: Vec<Event> = events.into_iter().map(Result::unwrap).collect();
            prop_assert_eq!(events, expected(&sends));
        }
    }

    #[test]
    // Compressed frames are unmasked on the way in like any other (and inflated later):
    // incompressible messages of 16 KiB and more, some with a compressible one between them.
    fn large_compressed_frames_arrive_intact_however_fed(
        messages in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 16_384..50_000).prop_map(Message::binary),
            sized_message(),
        ], 1..4),
        pieces in proptest::collection::vec((1usize..50_000, intake()), 1..12),
    ) {
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut client = Connection::with_deflate(Role::Client, Config::default(), Some(params));
        for m in &messages {
            client.send(m.clone()).unwrap();
        }
        let wire = take_output(&mut client);
        let mut server = Connection::with_deflate(Role::Server, Config::default(), Some(params));
        let events: Vec<Event> = feed_mixed(&mut server, &wire, &pieces)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let sent: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        prop_assert_eq!(events, sent);
    }

    #[test]
    // Bad UTF-8 in a large text frame fails the connection with 1007, wherever the bad byte
    // is and however the frame is fed, as when the payload is unmasked in the buffer.
    fn bad_utf8_in_a_large_frame_fails_however_fed(
        len in 16_384usize..70_000,
        bad_at in any::<proptest::sample::Index>(),
        pieces in proptest::collection::vec((1usize..50_000, intake()), 1..12),
        streaming in any::<bool>(),
    ) {
        let mut payload = vec![b'a'; len];
        payload[bad_at.index(len)] = 0xFF;
        let mut client = Connection::new(Role::Client, Config::default());
        client.send(Message::binary(payload)).unwrap();
        let mut wire = take_output(&mut client);
        // The header is not masked: turn the binary frame into a text one.
        wire[0] = 0x81;
        let mut server = Connection::new(Role::Server, Config::default());
        server.set_read_mode(if streaming { ReadMode::Streaming } else { ReadMode::Whole });
        let events = feed_mixed(&mut server, &wire, &pieces);
        // The first error; pieces fed after it find the connection closed.
        let first_error = events.iter().find(|e| e.is_err());
        prop_assert!(matches!(first_error, Some(Err(Error::Protocol(ProtocolError::InvalidUtf8)))),
                     "{:?}", first_error);
        let out = take_output(&mut server);
        // A close frame (with a reason) whose code is 1007.
        prop_assert_eq!(out[0], 0x88);
        prop_assert_eq!(&out[2..4], &[0x03, 0xEF][..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    // A large masked frame's header with any flags and opcode, then any bytes (its payload and
    // whatever follows), fed in pieces by any intake: `receive` unmasks what it takes for that
    // frame's payload before `poll_event` has judged the header. Never a panic, and the input
    // held stays within one frame and what arrived.
    fn any_bytes_after_a_large_masked_header_never_panic(
        b0 in any::<u8>(),
        len in 16_384u16..=u16::MAX,
        key in any::<[u8; 4]>(),
        rest in proptest::collection::vec(any::<u8>(), 0..70_000),
        pieces in proptest::collection::vec((1usize..30_000, intake()), 1..8),
        streaming in any::<bool>(),
    ) {
        let mut wire = vec![b0, 0xFE];
        wire.extend_from_slice(&len.to_be_bytes());
        wire.extend_from_slice(&key);
        wire.extend_from_slice(&rest);
        let config = Config::default();
        let mut server = Connection::new(Role::Server, config.clone());
        server.set_read_mode(if streaming { ReadMode::Streaming } else { ReadMode::Whole });
        feed_mixed(&mut server, &wire, &pieces);
        let stats = server.buffer_stats();
        prop_assert!(stats.read_buffered <= MAX_HEADER_LEN + config.max_frame_size + wire.len());
        let _ = server.poll_event();
    }
}

/// Joins streaming pieces so that runs that differ only in piece boundaries compare equal.
fn normalise(events: Vec<Result<Event, Error>>) -> Vec<Result<Event, Error>> {
    let mut out: Vec<Result<Event, Error>> = Vec::new();
    for event in events {
        if let (Ok(Event::MessageData(more)), Some(Ok(Event::MessageData(prev)))) =
            (&event, out.last_mut())
        {
            let mut joined = prev.to_vec();
            joined.extend_from_slice(more);
            *prev = joined.into();
            continue;
        }
        out.push(event);
    }
    out
}

#[test]
fn streamed_text_message_kind_is_reported() {
    let mut p = Pair::new(small_fragments());
    queue(
        &mut p.client,
        &[Send::Streamed(Message::text("abc"), vec![1])],
    );
    p.server.set_read_mode(ReadMode::Streaming);
    p.client_to_server();
    let events: Vec<_> = drain_events(&mut p.server)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events[0], Event::MessageStart(MessageKind::Text));
}
