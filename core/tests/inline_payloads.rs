//! Small payloads (up to `payload::INLINE_CAPACITY` bytes) are unmasked into the message
//! itself, a word at a time when 24 bytes can be read from the payload's start and byte by
//! byte at the end of the input. These tests check every length around that limit, in both
//! places and both roles, against frames built by hand (independently of the encoder), and
//! that invalid UTF-8 in such a payload fails with 1007 wherever the bad byte is. A server
//! writes such a payload back a word at a time too: its frames are checked against the same
//! hand-built frames, and compression still applies to them.

use wsio_core::payload::INLINE_CAPACITY;
use wsio_core::testing::{drain_events, take_output};
use wsio_core::{
    CloseCode, Config, Connection, DeflateConfig, DeflateParams, Error, Event, Message, Payload,
    ProtocolError, Role, SendOptions, State,
};

/// Raw frame bytes, FIN set: `opcode` 1 (text) or 2 (binary), masked with `key` if given.
fn frame(opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut out = vec![0x80 | opcode];
    match key {
        Some(key) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => {
            out.push(payload.len() as u8);
            out.extend_from_slice(payload);
        }
    }
    out
}

/// Every length from empty to well past the inline limit.
fn lengths() -> impl Iterator<Item = usize> {
    0..=INLINE_CAPACITY + 9
}

/// A payload of `len` bytes with every byte distinct from its neighbours and from the key, so
/// a byte unmasked with the wrong key byte, or taken from the wrong place, shows.
fn binary(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5A)
        .collect()
}

/// Valid UTF-8 of exactly `len` bytes, with multi-byte characters where they fit (so the
/// non-ASCII validation runs, not only the ASCII shortcut).
fn text(len: usize) -> String {
    let mut s = String::new();
    for c in "é✓a😀bc".chars().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('z');
    }
    s
}

fn received(role: Role, wire: &[u8]) -> Vec<Message> {
    let mut conn = Connection::new(role, Config::default());
    conn.receive(wire);
    drain_events(&mut conn)
        .into_iter()
        .map(|e| match e {
            Ok(Event::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

#[test]
fn every_small_length_arrives_intact_at_the_end_of_the_input_and_before_more_frames() {
    let keys = [[0x37, 0xFA, 0x21, 0x3D], [0xFF, 0x00, 0x80, 0x01]];
    for len in lengths() {
        let data = binary(len);
        let chars = text(len);
        for (role, key) in [
            (Role::Server, Some(keys[0])),
            (Role::Server, Some(keys[1])),
            (Role::Client, None),
        ] {
            let cases = [
                (2, data.clone(), Message::binary(data.clone())),
                (1, chars.clone().into_bytes(), Message::text(chars.clone())),
            ];
            for (opcode, payload, message) in cases {
                // Alone: nothing follows the payload, so it cannot be read by the word.
                let alone = frame(opcode, &payload, key);
                assert_eq!(
                    received(role, &alone),
                    std::slice::from_ref(&message),
                    "{role:?} {len} alone"
                );
                // Followed by a frame of 30 bytes: the words read past the payload into it,
                // and it must still arrive whole.
                let next = binary(30);
                let mut wire = alone.clone();
                wire.extend(frame(2, &next, key));
                assert_eq!(
                    received(role, &wire),
                    [message.clone(), Message::binary(next)],
                    "{role:?} {len} followed"
                );
                // Byte by byte: the frame arrives in pieces, the last byte last.
                let mut conn = Connection::new(role, Config::default());
                let mut got = Vec::new();
                for b in &alone {
                    conn.receive(std::slice::from_ref(b));
                    got.extend(drain_events(&mut conn));
                }
                assert_eq!(
                    got,
                    [Ok(Event::Message(message))],
                    "{role:?} {len} in pieces"
                );
            }
        }
    }
}

#[test]
fn invalid_utf8_in_a_small_text_payload_fails_with_1007_wherever_the_bad_byte_is() {
    for len in 1..=INLINE_CAPACITY {
        for at in 0..len {
            let mut payload = vec![b'a'; len];
            // 0xFF is never valid UTF-8; 0xC3 at the end is a truncated sequence.
            payload[at] = 0xFF;
            let mut truncated = vec![b'b'; len];
            truncated[len - 1] = 0xC3;
            for bad in [payload, truncated] {
                for followed in [false, true] {
                    let mut wire = frame(1, &bad, Some([1, 2, 3, 4]));
                    if followed {
                        wire.extend(frame(2, &binary(30), Some([1, 2, 3, 4])));
                    }
                    let mut server = Connection::new(Role::Server, Config::default());
                    server.receive(&wire);
                    let events = drain_events(&mut server);
                    assert_eq!(
                        events,
                        [Err(Error::Protocol(ProtocolError::InvalidUtf8))],
                        "{bad:x?} followed: {followed}"
                    );
                    assert_eq!(server.state(), State::Closed);
                    // The close frame queued (unmasked, with a short reason) carries 1007.
                    let out = take_output(&mut server);
                    assert_eq!(out[0], 0x88);
                    assert_eq!(
                        CloseCode(u16::from_be_bytes([out[2], out[3]])),
                        CloseCode::INVALID_PAYLOAD
                    );
                }
            }
        }
    }
}

#[test]
fn a_small_payload_compares_as_the_bytes_it_holds() {
    let m = received(
        Role::Server,
        &frame(2, b"sixteen bytes!!!", Some([9, 8, 7, 6])),
    );
    let Message::Binary(payload) = &m[0] else {
        panic!("binary expected")
    };
    assert_eq!(payload, b"sixteen bytes!!!");
    assert_eq!(payload.len(), 16);
    assert_eq!(*payload, Payload::from(b"sixteen bytes!!!".to_vec()));
    assert_eq!(payload.clone().into_bytes(), &b"sixteen bytes!!!"[..]);
    assert_eq!(format!("{payload:?}"), "b\"sixteen bytes!!!\"");
}

/// Client frames of every small length, text and binary, as a server receives them (so each
/// payload is held inline), with the unmasked frames a server must write to echo them.
fn echo_cases() -> (Vec<Message>, Vec<u8>) {
    let key = Some([0x37, 0xFA, 0x21, 0x3D]);
    let (mut wire, mut expected) = (Vec::new(), Vec::new());
    for len in lengths() {
        for (opcode, payload) in [(2, binary(len)), (1, text(len).into_bytes())] {
            wire.extend(frame(opcode, &payload, key));
            expected.extend(frame(opcode, &payload, None));
        }
    }
    (received(Role::Server, &wire), expected)
}

#[test]
fn a_server_echoes_every_small_length_as_the_frame_built_by_hand() {
    let (messages, expected) = echo_cases();
    assert_eq!(messages.len(), 2 * lengths().count());
    // Sent one after another without writing in between, the frames start at every offset of
    // the output buffer and run past its first allocation (about 1.4 KiB in all).
    let mut server = Connection::new(Role::Server, Config::default());
    for m in &messages {
        server.send(m.clone()).unwrap();
    }
    assert_eq!(server.output_pending(), expected.len());
    assert_eq!(take_output(&mut server), expected);
    // Written out after each one: every frame starts a fresh buffer.
    let mut server = Connection::new(Role::Server, Config::default());
    let mut written = Vec::new();
    for m in messages {
        server.send(m).unwrap();
        written.extend(take_output(&mut server));
    }
    assert_eq!(written, expected);
}

#[test]
fn a_small_reply_is_still_compressed_when_deflate_asks_for_it() {
    let params = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    // Threshold 0: every message is compressed, however small.
    let config = Config {
        deflate: DeflateConfig {
            enabled: true,
            threshold: 0,
            ..DeflateConfig::default()
        },
        ..Config::default()
    };
    let (messages, plain) = echo_cases();
    let mut server = Connection::with_deflate(Role::Server, config.clone(), Some(params));
    let mut client = Connection::with_deflate(Role::Client, config, Some(params));
    for m in &messages {
        server.send(m.clone()).unwrap();
        let out = take_output(&mut server);
        assert_eq!(out[0] & 0x40, 0x40, "RSV1 (compressed) on {m:?}");
        client.receive(&out);
        assert_eq!(
            drain_events(&mut client),
            [Ok(Event::Message(m.clone()))],
            "{m:?} round trip"
        );
    }
    // Compression turned off for the message: the plain frames again.
    let mut written = Vec::new();
    for m in messages {
        server
            .send_with(m, SendOptions { compress: false })
            .unwrap();
        written.extend(take_output(&mut server));
    }
    assert_eq!(written, plain);
}
