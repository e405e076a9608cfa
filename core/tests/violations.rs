//! Every protocol violation yields its typed error and queues the close frame with the right
//! code (1002 protocol error, 1007 invalid payload, 1009 too big). Frames are built by hand here,
//! independently of the encoder under test.

use wsio_core::testing::{drain_events, take_output};
use wsio_core::{
    CloseCode, CloseFrame, Config, Connection, Error, Event, Message, ProtocolError, Role, State,
};

const KEY: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

/// Raw frame bytes: `first` is the whole first header byte (FIN, RSV, opcode).
fn raw(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame, as a client sends it.
fn from_client(first: u8, payload: &[u8]) -> Vec<u8> {
    raw(first, payload, Some(KEY))
}

/// Feeds `wire` to a connection and returns the error it failed with (after any events) and
/// the close code it queued, read back by a peer connection.
fn failure(role: Role, config: Config, wire: &[u8]) -> (ProtocolError, Option<CloseCode>) {
    let mut conn = Connection::new(role, config);
    conn.receive(wire);
    let events = drain_events(&mut conn);
    let error = match events.last() {
        Some(Err(Error::Protocol(e))) => *e,
        other => panic!("expected a protocol error, got {other:?} after {events:?}"),
    };
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        conn.poll_event(),
        Err(Error::Closed),
        "no input is processed after a failure"
    );
    assert_eq!(conn.send(Message::text("x")), Err(Error::Closed));
    let peer_role = if role == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    let mut peer = Connection::new(peer_role, Config::default());
    let output = take_output(&mut conn);
    // A server's close is unmasked, a client's masked: re-frame a client's for a server peer.
    peer.receive(&output);
    let code = match peer.poll_event() {
        Ok(Some(Event::Close(Some(CloseFrame { code, .. })))) => Some(code),
        other => panic!("expected a close frame, got {other:?}"),
    };
    (error, code)
}

fn server_fails(wire: &[u8]) -> (ProtocolError, Option<CloseCode>) {
    failure(Role::Server, Config::default(), wire)
}

const PROTOCOL: Option<CloseCode> = Some(CloseCode::PROTOCOL_ERROR);
const INVALID: Option<CloseCode> = Some(CloseCode::INVALID_PAYLOAD);
const TOO_BIG: Option<CloseCode> = Some(CloseCode::MESSAGE_TOO_BIG);

#[test]
fn reserved_bits_without_an_extension() {
    for rsv in [0x40, 0x20, 0x10] {
        assert_eq!(
            server_fails(&from_client(0x81 | rsv, b"hi")),
            (ProtocolError::ReservedBits, PROTOCOL)
        );
    }
    // Also on control frames and continuations.
    assert_eq!(
        server_fails(&from_client(0x89 | 0x40, b"")),
        (ProtocolError::ReservedBits, PROTOCOL)
    );
}

#[test]
fn reserved_opcodes() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            server_fails(&from_client(0x80 | op, b"")),
            (ProtocolError::ReservedOpcode(op), PROTOCOL)
        );
    }
}

#[test]
fn bad_control_frames() {
    assert_eq!(
        server_fails(&from_client(0x09, b"no fin")),
        (ProtocolError::FragmentedControl, PROTOCOL)
    );
    assert_eq!(
        server_fails(&from_client(0x89, &[0; 126])),
        (ProtocolError::ControlTooLong, PROTOCOL)
    );
    assert_eq!(
        server_fails(&from_client(0x88, &[0; 126])),
        (ProtocolError::ControlTooLong, PROTOCOL)
    );
}

#[test]
fn bad_continuation() {
    assert_eq!(
        server_fails(&from_client(0x80, b"x")),
        (ProtocolError::UnexpectedContinuation, PROTOCOL)
    );
    let mut wire = from_client(0x01, b"frag");
    wire.extend(from_client(0x81, b"new"));
    assert_eq!(
        server_fails(&wire),
        (ProtocolError::ExpectedContinuation, PROTOCOL)
    );
    let mut wire = from_client(0x02, b"frag");
    wire.extend(from_client(0x82, b"new"));
    assert_eq!(
        server_fails(&wire),
        (ProtocolError::ExpectedContinuation, PROTOCOL)
    );
}

#[test]
fn wrong_masking_direction() {
    assert_eq!(
        server_fails(&raw(0x81, b"hi", None)),
        (ProtocolError::UnmaskedFrame, PROTOCOL)
    );
    let client_gets_masked = failure(
        Role::Client,
        Config::default(),
        &raw(0x81, b"hi", Some(KEY)),
    );
    assert_eq!(client_gets_masked, (ProtocolError::MaskedFrame, PROTOCOL));
}

#[test]
fn length_with_high_bit_set() {
    let wire = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4];
    assert_eq!(
        server_fails(&wire),
        (ProtocolError::InvalidLength, PROTOCOL)
    );
}

#[test]
fn bad_close_frames() {
    assert_eq!(
        server_fails(&from_client(0x88, &[0x03])),
        (ProtocolError::InvalidClosePayload, PROTOCOL)
    );
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let wire = from_client(0x88, &code.to_be_bytes());
        assert_eq!(
            server_fails(&wire),
            (ProtocolError::InvalidCloseCode(code), PROTOCOL),
            "code {code}"
        );
    }
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bad \xff reason");
    assert_eq!(
        server_fails(&from_client(0x88, &payload)),
        (ProtocolError::InvalidUtf8, INVALID)
    );
}

#[test]
fn invalid_utf8_fails_on_arrival() {
    // Whole frame.
    assert_eq!(
        server_fails(&from_client(0x81, b"ok \xc0\xaf")),
        (ProtocolError::InvalidUtf8, INVALID)
    );
    // Only part of a long frame has arrived: the bad byte is enough.
    let mut payload = b"valid start \xed\xa0\x80".to_vec();
    payload.extend(std::iter::repeat_n(b'a', 1000));
    let wire = from_client(0x81, &payload);
    assert_eq!(
        server_fails(&wire[..30]),
        (ProtocolError::InvalidUtf8, INVALID)
    );
    // Inside a later fragment, before the message ends.
    let mut wire = from_client(0x01, b"fine");
    wire.extend(from_client(0x00, b"\xf4\x90"));
    assert_eq!(server_fails(&wire), (ProtocolError::InvalidUtf8, INVALID));
    // A message that ends inside a code point.
    assert_eq!(
        server_fails(&from_client(0x81, "€".as_bytes()[..2].as_ref())),
        (ProtocolError::InvalidUtf8, INVALID)
    );
}

#[test]
fn a_code_point_split_across_frames_is_fine() {
    let euro = "€".as_bytes();
    let mut wire = from_client(0x01, &euro[..1]);
    wire.extend(from_client(0x89, b"ping in between"));
    wire.extend(from_client(0x80, &euro[1..]));
    let mut s = Connection::new(Role::Server, Config::default());
    s.receive(&wire);
    let events: Vec<_> = drain_events(&mut s)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        events,
        [
            Event::Ping("ping in between".into()),
            Event::Message(Message::text("€"))
        ]
    );
}

#[test]
fn size_limits() {
    let small = Config {
        max_frame_size: 100,
        max_message_size: 150,
        max_fragments: 3,
        ..Config::default()
    };
    // The declared length alone fails the frame: nothing of it needs to arrive.
    let header_only = &from_client(0x82, &[0; 101])[..8];
    assert_eq!(
        failure(Role::Server, small.clone(), header_only),
        (ProtocolError::FrameTooLarge, TOO_BIG)
    );
    let mut wire = from_client(0x02, &[0; 100]);
    wire.extend(&from_client(0x00, &[0; 51])[..8]);
    assert_eq!(
        failure(Role::Server, small.clone(), &wire),
        (ProtocolError::MessageTooLarge, TOO_BIG)
    );
    let mut wire = Vec::new();
    for _ in 0..3 {
        wire.extend(from_client(if wire.is_empty() { 0x02 } else { 0x00 }, b""));
    }
    wire.extend(from_client(0x80, b""));
    assert_eq!(
        failure(Role::Server, small.clone(), &wire),
        (ProtocolError::TooManyFragments, TOO_BIG)
    );
    // Within the limits, the same shapes pass.
    let mut s = Connection::new(Role::Server, small);
    let mut ok = from_client(0x02, &[1; 100]);
    ok.extend(from_client(0x80, &[2; 50]));
    s.receive(&ok);
    let Ok(Some(Event::Message(m))) = s.poll_event() else {
        panic!()
    };
    assert_eq!(m.len(), 150);
}

#[test]
fn declared_length_is_never_allocated() {
    // 2^62 bytes declared, a few sent: the engine must neither allocate nor fail before the limit
    // check, and the read buffer holds only what arrived.
    let mut s = Connection::new(
        Role::Server,
        Config {
            max_frame_size: usize::MAX,
            max_message_size: usize::MAX,
            ..Config::default()
        },
    );
    let mut wire = vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
    wire.extend_from_slice(&KEY);
    wire.extend_from_slice(&[0; 64]);
    s.receive(&wire);
    assert_eq!(s.poll_event(), Ok(None));
    let stats = s.buffer_stats();
    assert!(
        stats.read_capacity < 4096 && stats.message_buffered == 0,
        "{stats:?}"
    );
}

#[test]
fn misuse_is_reported_as_local_errors() {
    let mut c = Connection::new(Role::Client, Config::default());
    assert_eq!(c.ping(&[0; 126]), Err(Error::ControlPayloadTooLong));
    assert_eq!(
        c.close(CloseCode::NO_STATUS_RECEIVED, ""),
        Err(Error::InvalidCloseCode(1005))
    );
    assert_eq!(
        c.close(CloseCode::ABNORMAL_CLOSURE, ""),
        Err(Error::InvalidCloseCode(1006))
    );
    assert_eq!(
        c.close(CloseCode::TLS_HANDSHAKE, ""),
        Err(Error::InvalidCloseCode(1015))
    );
    assert_eq!(
        c.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(Error::ControlPayloadTooLong)
    );
    assert_eq!(c.write_chunk(b"x"), Err(Error::NoMessageInProgress));
    c.begin_message(wsio_core::MessageKind::Binary).unwrap();
    assert_eq!(c.send(Message::text("x")), Err(Error::MessageInProgress));
    c.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(c.send(Message::text("x")), Err(Error::SendAfterClose));
    assert_eq!(c.ping(b""), Err(Error::SendAfterClose));
    assert_eq!(c.close(CloseCode::NORMAL, ""), Err(Error::SendAfterClose));
    assert!(!Error::SendAfterClose.is_peer_fault());
}

#[test]
fn a_fragment_limit_of_zero_refuses_even_a_one_frame_message_the_same_way_in_both_modes() {
    // Found by the fuzzer: the small-frame fast path skipped the fragment count, so whole-mode
    // reads validated (and accepted, or failed on UTF-8) what streamed reads refused.
    for mode in [wsio_core::ReadMode::Whole, wsio_core::ReadMode::Streaming] {
        for (first, payload) in [(0x81, &b"ok"[..]), (0x81, &[0xff][..]), (0x82, &[][..])] {
            let config = Config {
                max_fragments: 0,
                ..Config::default()
            };
            let mut conn = Connection::new(Role::Server, config);
            conn.set_read_mode(mode);
            conn.receive(&from_client(first, payload));
            assert_eq!(
                drain_events(&mut conn),
                vec![Err(Error::Protocol(ProtocolError::TooManyFragments))],
                "{mode:?} {first:#x} {payload:?}"
            );
        }
    }
}
