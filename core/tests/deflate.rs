//! permessage-deflate on the wire: RFC 7692 examples, round trips and bounded inflation.

use bytes::Bytes;
use proptest::prelude::*;
use wsio_core::testing::{drain_events, take_output};
use wsio_core::{
    CloseCode, CloseFrame, Config, Connection, DeflateConfig, DeflateParams, Error, Event,
    KeySource, Message, MessageKind, PreparedMessage, ProtocolError, ReadMode, Role, SendOptions,
};

fn params(server_bits: u8, client_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }
}

fn config() -> Config {
    Config {
        deflate: DeflateConfig {
            enabled: true,
            threshold: 0,
            ..DeflateConfig::default()
        },
        key_source: KeySource::Seeded(7),
        ..Config::default()
    }
}

fn pair_with(server_bits: u8, client_bits: u8, config: Config) -> (Connection, Connection) {
    let p = params(server_bits, client_bits);
    (
        Connection::with_deflate(Role::Client, config.clone(), Some(p)),
        Connection::with_deflate(Role::Server, config, Some(p)),
    )
}

fn ok_events(conn: &mut Connection) -> Vec<Event> {
    drain_events(conn)
        .into_iter()
        .map(|e| e.expect("no error"))
        .collect()
}

/// RFC 7692 section 7.2.3.1: "Hello" compressed, in one unmasked frame.
const HELLO: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_compressed_hello() {
    let (mut client, mut server) = pair_with(15, 15, config());
    client.receive(&HELLO);
    assert_eq!(
        ok_events(&mut client),
        [Event::Message(Message::text("Hello"))]
    );
    server.send(Message::text("Hello")).unwrap();
    assert_eq!(
        take_output(&mut server),
        HELLO,
        "our compressor produces the RFC's bytes"
    );
}

#[test]
fn rfc7692_same_message_again_without_context_takeover() {
    // 7.2.3.2: without context takeover the second message is byte-identical to the first.
    let (mut client, mut server) = pair_with(15, 15, config());
    client.receive(&HELLO);
    client.receive(&HELLO);
    assert_eq!(
        ok_events(&mut client),
        vec![Event::Message(Message::text("Hello")); 2]
    );
    server.send(Message::text("Hello")).unwrap();
    server.send(Message::text("Hello")).unwrap();
    assert_eq!(take_output(&mut server), [HELLO, HELLO].concat());
}

#[test]
fn rfc7692_context_takeover_from_a_peer_that_keeps_it() {
    // 7.2.3.2, second message with context takeover: `f2 00 11 00 00` refers to the first.
    let keeps_context = DeflateParams {
        server_no_context_takeover: false,
        ..params(15, 15)
    };
    let mut client = Connection::with_deflate(Role::Client, config(), Some(keeps_context));
    client.receive(&HELLO);
    client.receive(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        ok_events(&mut client),
        vec![Event::Message(Message::text("Hello")); 2]
    );
}

#[test]
fn rfc7692_hello_in_a_stored_block() {
    // 7.2.3.3: DEFLATE with no compression.
    let (mut client, _) = pair_with(15, 15, config());
    client.receive(&[
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ]);
    assert_eq!(
        ok_events(&mut client),
        [Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn rfc7692_fragmented_compressed_hello() {
    // 7.2.3.1, fragmented: RSV1 on the first frame only.
    let wire = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    for mode in [ReadMode::Whole, ReadMode::Streaming] {
        let (mut client, _) = pair_with(15, 15, config());
        client.set_read_mode(mode);
        client.receive(&wire);
        let events = ok_events(&mut client);
        let text: Vec<u8> = events
            .iter()
            .flat_map(|e| match e {
                Event::Message(m) => m.as_bytes().to_vec(),
                Event::MessageData(d) => d.to_vec(),
                _ => vec![],
            })
            .collect();
        assert_eq!(text, b"Hello", "{mode:?}: {events:?}");
    }
    // Our streaming writer makes the same shape: RSV1 on the first frame, none after.
    let (_, mut server) = pair_with(
        15,
        15,
        Config {
            fragment_size: 3,
            ..config()
        },
    );
    server.begin_message(MessageKind::Text).unwrap();
    server.write_chunk(b"Hello").unwrap();
    server.end_message().unwrap();
    let out = take_output(&mut server);
    let mut headers = Vec::new();
    let mut rest = &out[..];
    while let Some((h, n)) = wsio_core::frame::FrameHeader::parse(rest).unwrap() {
        headers.push(h);
        rest = &rest[n + h.payload_len as usize..];
    }
    assert!(headers.len() >= 2, "{headers:?}");
    assert!(
        headers[0].rsv1 && !headers[0].fin,
        "first frame: RSV1 + text, no FIN"
    );
    assert!(
        headers[1..].iter().all(|h| !h.rsv1),
        "continuations never carry RSV1"
    );
    assert!(headers.last().unwrap().fin);
    let (mut client, _) = pair_with(15, 15, config());
    client.receive(&out);
    assert_eq!(
        ok_events(&mut client),
        [Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn rfc7692_empty_message() {
    // 7.2.3.6: an empty message compresses to a single 0x00 byte.
    let (mut client, mut server) = pair_with(15, 15, config());
    server.send(Message::text("")).unwrap();
    let out = take_output(&mut server);
    assert_eq!(out, [0xc1, 0x01, 0x00]);
    client.receive(&out);
    assert_eq!(ok_events(&mut client), [Event::Message(Message::text(""))]);
}

#[test]
fn control_frames_are_never_compressed_and_rsv1_on_continuation_fails() {
    let (mut client, mut server) = pair_with(15, 15, config());
    server.ping(b"ping payload that is long enough").unwrap();
    server
        .close(CloseCode::NORMAL, "a reason long enough to be compressed")
        .unwrap();
    let out = take_output(&mut server);
    assert_eq!(out[0], 0x89, "ping without RSV1");
    client.receive(&out);
    assert!(matches!(
        &ok_events(&mut client)[..],
        [
            Event::Ping(_),
            Event::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                ..
            }))
        ]
    ));

    let (mut client, _) = pair_with(15, 15, config());
    client.receive(&[
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0xC0, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ]);
    assert_eq!(
        drain_events(&mut client).pop(),
        Some(Err(Error::Protocol(ProtocolError::ReservedBits)))
    );
    let (mut client, _) = pair_with(15, 15, config());
    client.receive(&[0xC9, 0x00]);
    assert_eq!(
        drain_events(&mut client).pop(),
        Some(Err(Error::Protocol(ProtocolError::ReservedBits)))
    );
}

#[test]
fn threshold_and_per_message_opt_out() {
    let threshold = Config {
        deflate: DeflateConfig {
            enabled: true,
            threshold: 10,
            ..DeflateConfig::default()
        },
        ..config()
    };
    let (_, mut server) = pair_with(15, 15, threshold);
    server.send(Message::text("short")).unwrap();
    assert_eq!(
        take_output(&mut server)[0],
        0x81,
        "below the threshold: plain"
    );
    server
        .send(Message::text("long enough to compress"))
        .unwrap();
    assert_eq!(take_output(&mut server)[0], 0xC1);
    server
        .send_with(
            Message::text("long enough to compress"),
            SendOptions { compress: false },
        )
        .unwrap();
    assert_eq!(take_output(&mut server)[0], 0x81, "opted out");
}

#[test]
fn decompression_bomb_closes_with_1009_and_bounded_memory() {
    // About 1 KiB of DEFLATE that inflates to 1 GiB of zeros.
    let mut compressed = Vec::new();
    {
        use flate2::{Compress, Compression, FlushCompress};
        let mut c = Compress::new(Compression::best(), false);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            let mut chunk = Vec::with_capacity(4096);
            c.compress_vec(&zeros, &mut chunk, FlushCompress::None)
                .unwrap();
            compressed.extend_from_slice(&chunk);
        }
        let mut chunk = Vec::with_capacity(4096);
        c.compress_vec(&[], &mut chunk, FlushCompress::Sync)
            .unwrap();
        compressed.extend_from_slice(&chunk);
    }
    assert!(compressed.len() < 1100 * 1024, "{} bytes", compressed.len());
    let limit = 16 << 20;
    for mode in [ReadMode::Whole, ReadMode::Streaming] {
        let cfg = Config {
            max_message_size: limit,
            ..config()
        };
        let (mut client, mut server) = pair_with(15, 15, cfg);
        server.set_read_mode(mode);
        // Frame it as the client would: masked, RSV1, binary.
        let mut frame = vec![0xC2, 0xFF];
        frame.extend_from_slice(&(compressed.len() as u64).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&compressed);
        server.receive(&frame);
        let mut produced = 0usize;
        let outcome = loop {
            match server.poll_event() {
                Ok(Some(Event::MessageData(d))) => produced += d.len(),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the whole frame is there"),
                Err(e) => break e,
            }
            let stats = server.buffer_stats();
            assert!(stats.message_buffered <= 2 * limit);
        };
        assert_eq!(
            outcome,
            Error::Protocol(ProtocolError::MessageTooLarge),
            "{mode:?}"
        );
        assert!(
            produced <= limit + 32 * 1024,
            "{mode:?}: streamed {produced} bytes"
        );
        client.receive(&take_output(&mut server));
        assert!(matches!(
            &ok_events(&mut client)[..],
            [Event::Close(Some(CloseFrame {
                code: CloseCode::MESSAGE_TOO_BIG,
                ..
            }))]
        ));
        let _ = client;
    }
}

#[test]
fn corrupt_deflate_data_fails_with_1002() {
    let (mut client, _) = pair_with(15, 15, config());
    client.receive(&[0xc1, 0x03, 0xff, 0xff, 0xff]);
    assert_eq!(
        drain_events(&mut client).pop(),
        Some(Err(Error::Protocol(ProtocolError::BadCompression)))
    );
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    let (mut client, mut server) = pair_with(15, 15, config());
    // Compress invalid UTF-8 by sending it as binary, then flip the opcode to text.
    server
        .send(Message::binary(Bytes::from_static(
            b"valid, then \xff invalid",
        )))
        .unwrap();
    let mut out = take_output(&mut server);
    out[0] = 0xC1;
    client.receive(&out);
    assert_eq!(
        drain_events(&mut client).pop(),
        Some(Err(Error::Protocol(ProtocolError::InvalidUtf8)))
    );
}

#[test]
fn prepared_message_is_encoded_once_and_fits_each_connection() {
    let deflate = DeflateConfig {
        enabled: true,
        threshold: 0,
        ..DeflateConfig::default()
    };
    let text = "a broadcast message, repeated: ".repeat(50);
    let prepared = PreparedMessage::new(Message::text(text.clone()), Some(&deflate));
    assert!(prepared.is_compressed());
    let mut outputs = Vec::new();
    for (params, role) in [
        (Some(params(15, 15)), Role::Server),
        (Some(params(15, 15)), Role::Server),
        (Some(params(10, 15)), Role::Server),
        (None, Role::Server),
        (Some(params(15, 15)), Role::Client),
    ] {
        let mut conn = Connection::with_deflate(role, config(), params);
        conn.send_prepared(&prepared).unwrap();
        let out = take_output(&mut conn);
        let peer_role = if role == Role::Server {
            Role::Client
        } else {
            Role::Server
        };
        let mut peer = Connection::with_deflate(peer_role, config(), params);
        peer.receive(&out);
        assert_eq!(
            ok_events(&mut peer),
            [Event::Message(Message::text(text.clone()))]
        );
        outputs.push(out);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "the same bytes on every matching connection"
    );
    assert_eq!(outputs[0][0], 0xC1);
    assert_eq!(
        outputs[2][0], 0x81,
        "a smaller negotiated window gets the plain encoding"
    );
    assert_eq!(outputs[3][0], 0x81, "no deflate: plain");
    assert_eq!(outputs[4][0], 0xC1, "a client masks a compressed copy");
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,400}".prop_map(Message::text),
        // Compressible and incompressible binary alike.
        proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..5000)
            .prop_map(Message::binary),
    ]
}

/// Sends `messages` from `from` (whole or streamed in `piece`-sized writes) and delivers the
/// wire to `to` in `piece`-sized reads; checks every payload arrives intact.
fn exchange(
    from: &mut Connection,
    to: &mut Connection,
    messages: &[Message],
    streamed: bool,
    piece: usize,
) -> Result<(), TestCaseError> {
    for m in messages {
        if streamed {
            from.begin_message(m.kind()).unwrap();
            for chunk in m.as_bytes().chunks(piece) {
                from.write_chunk(chunk).unwrap();
            }
            from.end_message().unwrap();
        } else {
            from.send(m.clone()).unwrap();
        }
    }
    let wire = take_output(from);
    let mut received: Vec<Vec<u8>> = Vec::new();
    for part in wire.chunks(piece) {
        to.receive(part);
        for e in drain_events(to) {
            match e.unwrap() {
                Event::Message(m) => received.push(m.as_bytes().to_vec()),
                Event::MessageStart(_) => received.push(Vec::new()),
                Event::MessageData(d) => received.last_mut().unwrap().extend_from_slice(&d),
                _ => {}
            }
        }
    }
    let sent: Vec<Vec<u8>> = messages.iter().map(|m| m.as_bytes().to_vec()).collect();
    prop_assert_eq!(received, sent);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips_at_every_window_size(messages in proptest::collection::vec(message(), 1..6),
                                       server_bits in 8u8..=15, client_bits in 8u8..=15,
                                       streamed in any::<bool>(), piece in 1usize..700,
                                       streaming_reader in any::<bool>()) {
        let cfg = Config { fragment_size: 256, ..config() };
        let (mut client, mut server) = pair_with(server_bits, client_bits, cfg);
        let mode = if streaming_reader { ReadMode::Streaming } else { ReadMode::Whole };
        client.set_read_mode(mode);
        server.set_read_mode(mode);
        exchange(&mut client, &mut server, &messages, streamed, piece)?;
        exchange(&mut server, &mut client, &messages, streamed, piece)?;
    }
}

#[test]
fn a_compressed_message_split_into_frames_at_every_boundary() {
    let text = "permessage-deflate split at every byte: ".repeat(8);
    let (_, mut server) = pair_with(15, 15, config());
    server.send(Message::text(text.clone())).unwrap();
    let frame = take_output(&mut server);
    let (head_len, payload) = if frame[1] == 126 {
        (4, &frame[4..])
    } else {
        (2, &frame[2..])
    };
    assert!(payload.len() > 10 && head_len > 0);
    for cut in 0..=payload.len() {
        for mode in [ReadMode::Whole, ReadMode::Streaming] {
            let mut wire = vec![0x41, cut as u8];
            wire.extend_from_slice(&payload[..cut]);
            let rest = &payload[cut..];
            wire.extend_from_slice(&[0x80, rest.len() as u8]);
            wire.extend_from_slice(rest);
            let (mut client, _) = pair_with(15, 15, config());
            client.set_read_mode(mode);
            client.receive(&wire);
            let got: Vec<u8> = ok_events(&mut client)
                .into_iter()
                .flat_map(|e| match e {
                    Event::Message(m) => m.as_bytes().to_vec(),
                    Event::MessageData(d) => d.to_vec(),
                    _ => vec![],
                })
                .collect();
            assert_eq!(got, text.as_bytes(), "cut {cut} {mode:?}");
        }
    }
}

/// Fuzzing found (deflate_frames) that the error, and so the close code, of a bad compressed
/// text message depended on how the transport split it: read in one piece, the bad DEFLATE
/// data was reported (1002) before the invalid UTF-8 inflated just ahead of it; read byte by
/// byte, the UTF-8 (1007). Likewise the size limit (1009) could hide bad UTF-8 inflated in the
/// same step. Now the checks follow the inflated stream: its first fault is the one reported.
#[test]
fn the_error_of_a_bad_compressed_message_does_not_depend_on_the_split() {
    use flate2::{Compress, Compression, FlushCompress};

    /// Raw DEFLATE of `out`, sync-flushed; then either the 4-byte tail is stripped (a valid
    /// message) or kept and followed by a block of the reserved type 3 (invalid data).
    fn payload(out: &[u8], then_invalid: bool) -> Vec<u8> {
        let mut c = Compress::new(Compression::best(), false);
        let mut p = Vec::with_capacity(out.len() + 64);
        c.compress_vec(out, &mut p, FlushCompress::Sync).unwrap();
        assert!(p.ends_with(&[0, 0, 0xFF, 0xFF]));
        if then_invalid {
            p.push(0x07);
        } else {
            p.truncate(p.len() - 4);
        }
        p
    }
    let mut text_then_bad = b"ok ".to_vec();
    text_then_bad.extend_from_slice(&[0xFF; 3]);
    let mut bad_then_long = vec![0xFF];
    bad_then_long.extend_from_slice(&[b'a'; 1000]);
    let long = [b'a'; 1000];
    let cases = [
        // Bad UTF-8, then bad DEFLATE data: 1007 whatever the split.
        (
            payload(&text_then_bad, true),
            1 << 20,
            ProtocolError::InvalidUtf8,
        ),
        // Bad UTF-8 in the first byte of a message that also passes the limit: 1007.
        (
            payload(&bad_then_long, false),
            100,
            ProtocolError::InvalidUtf8,
        ),
        // Valid text over the limit, then bad data: 1009.
        (payload(&long, true), 100, ProtocolError::MessageTooLarge),
        // Valid text within the limit, then bad data: 1002.
        (payload(&long, true), 2000, ProtocolError::BadCompression),
    ];
    for (payload, max_message_size, expected) in cases {
        assert!(payload.len() < 126 && payload.len() < max_message_size);
        let mut wire = vec![0xC1, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        wire.extend(&payload);
        for piece in [wire.len(), 1, 2, 3, 7] {
            let mut server = Connection::with_deflate(
                Role::Server,
                Config {
                    max_message_size,
                    ..config()
                },
                Some(params(15, 15)),
            );
            let mut got = None;
            for chunk in wire.chunks(piece) {
                server.receive(chunk);
                if let Some(Err(e)) = drain_events(&mut server).pop() {
                    got = Some(e);
                    break;
                }
            }
            assert_eq!(
                got,
                Some(Error::Protocol(expected)),
                "limit {max_message_size}, pieces of {piece}"
            );
            let close = take_output(&mut server);
            assert_eq!(
                u16::from_be_bytes([close[2], close[3]]),
                expected.close_code().0
            );
        }
    }
}
