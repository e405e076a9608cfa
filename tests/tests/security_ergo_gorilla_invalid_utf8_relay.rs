//! Re-creates the invalid-UTF-8 relay of the Ergo IRC server (fixed in Ergo commit 71871ca):
//! gorilla/websocket leaves checking that received text is UTF-8 to the application; Ergo
//! assumed the library did it, so one websocket client could send invalid UTF-8 in a text
//! frame, Ergo relayed it to other websocket clients in text frames, and their browsers
//! failed those connections.
//!
//! wsio validates every text message and close reason as it arrives (RFC 6455 section 8.1)
//! and fails the connection with 1007 at the first byte that cannot be UTF-8, wherever it
//! sits in the message and however the message is split into frames, reads or modes; a text
//! message that reaches the application is valid UTF-8 by construction.

use wsio_core::testing::{drain_events, take_output};
use wsio_core::{
    Config, Connection, DeflateParams, Error, Event, Message, ProtocolError, ReadMode, Role,
};
use wsio_tests::{frame, sent_close_code};

/// Text with code points of every length.
const TEXT: &str = "a\u{e9}\u{20ac}\u{1F600}z \u{3ba}\u{3cc}\u{3c3}\u{3bc}\u{3b5} \u{10FFFF}!";

/// Byte sequences that can never appear in UTF-8, each failing on its last byte: a byte that
/// is never valid, a lone continuation byte, an overlong lead, a surrogate, and a code point
/// above U+10FFFF.
const BAD: [&[u8]; 5] = [b"\xFF", b"\x80", b"\xC0", b"\xED\xA0", b"\xF4\x90"];

/// Every way `TEXT` can be corrupted: each bad sequence inserted at each byte offset.
fn corruptions() -> Vec<(Vec<u8>, usize)> {
    let text = TEXT.as_bytes();
    let mut out = Vec::new();
    for bad in BAD {
        for at in 0..=text.len() {
            let mut message = text[..at].to_vec();
            message.extend_from_slice(bad);
            message.extend_from_slice(&text[at..]);
            // The first impossible byte: the first whose prefix can no longer be completed
            // into UTF-8 (std's error has a length then, rather than "incomplete").
            let first_bad = (0..message.len())
                .find(|&i| {
                    std::str::from_utf8(&message[..=i]).is_err_and(|e| e.error_len().is_some())
                })
                .expect("corrupted");
            out.push((message, first_bad));
        }
    }
    out
}

/// Feeds `wire` in reads of `piece` bytes and returns how many bytes had been read when the
/// connection failed, and with what.
fn fail_point(conn: &mut Connection, wire: &[u8], piece: usize) -> (usize, Error) {
    let mut fed = 0;
    for chunk in wire.chunks(piece) {
        conn.receive(chunk);
        fed += chunk.len();
        if let Some(Err(e)) = drain_events(conn).pop() {
            return (fed, e);
        }
    }
    panic!("invalid UTF-8 accepted");
}

#[test]
fn every_position_whole_and_split_fails_with_1007_on_arrival() {
    for (message, first_bad) in corruptions() {
        for mode in [ReadMode::Whole, ReadMode::Streaming] {
            // One frame, read a byte at a time: it fails on the read that brings the first
            // impossible byte, not at the end of the message.
            let mut server = Connection::new(Role::Server, Config::default());
            server.set_read_mode(mode);
            let wire = frame(Role::Server, 0x81, &message);
            let header = wire.len() - message.len();
            let (fed, error) = fail_point(&mut server, &wire, 1);
            assert_eq!(error, Error::Protocol(ProtocolError::InvalidUtf8));
            assert_eq!(
                fed,
                header + first_bad + 1,
                "{message:02x?}: failed after {fed} bytes"
            );
            assert_eq!(sent_close_code(&take_output(&mut server)), Some(1007));

            // Split into two fragments at every offset, each fragment split across reads.
            for cut in 0..=message.len() {
                let mut server = Connection::new(Role::Server, Config::default());
                server.set_read_mode(mode);
                let mut wire = frame(Role::Server, 0x01, &message[..cut]);
                wire.extend(frame(Role::Server, 0x80, &message[cut..]));
                let (_, error) = fail_point(&mut server, &wire, 3);
                assert_eq!(error, Error::Protocol(ProtocolError::InvalidUtf8));
                assert_eq!(sent_close_code(&take_output(&mut server)), Some(1007));
            }
        }
    }
}

#[test]
fn a_message_ending_inside_a_code_point_fails_at_its_end() {
    let text = TEXT.as_bytes();
    for cut in 1..text.len() {
        if std::str::from_utf8(&text[..cut]).is_ok() {
            continue;
        }
        // A final frame that stops inside a code point; then the same bytes as a prefix of a
        // longer message, which is fine until the message ends.
        let mut client = Connection::new(Role::Client, Config::default());
        client.receive(&frame(Role::Client, 0x81, &text[..cut]));
        assert_eq!(
            client.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
        let mut client = Connection::new(Role::Client, Config::default());
        client.receive(&frame(Role::Client, 0x01, &text[..cut]));
        assert_eq!(client.poll_event(), Ok(None));
        client.receive(&frame(Role::Client, 0x80, &text[cut..]));
        assert_eq!(
            client.poll_event(),
            Ok(Some(Event::Message(Message::text(TEXT))))
        );
    }
}

#[test]
fn invalid_utf8_in_a_compressed_message_fails_with_1007() {
    let params = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut config = Config::default();
    config.deflate.threshold = 0;
    for (message, _) in corruptions() {
        // Let our own compressor make the payload (as binary), then mark it as text.
        let mut sender = Connection::with_deflate(Role::Server, config.clone(), Some(params));
        sender.send(Message::binary(message.clone())).unwrap();
        let mut wire = take_output(&mut sender);
        assert_eq!(wire[0], 0xC2, "sent compressed");
        wire[0] = 0xC1;
        for mode in [ReadMode::Whole, ReadMode::Streaming] {
            for piece in [wire.len(), 1] {
                let mut client =
                    Connection::with_deflate(Role::Client, config.clone(), Some(params));
                client.set_read_mode(mode);
                let (_, error) = fail_point(&mut client, &wire, piece);
                assert_eq!(error, Error::Protocol(ProtocolError::InvalidUtf8));
                assert_eq!(sent_close_code(&take_output(&mut client)), Some(1007));
            }
        }
    }
}

#[test]
fn invalid_utf8_in_a_close_reason_fails_with_1007() {
    for (message, _) in corruptions() {
        let reason = &message[..message.len().min(123)];
        if std::str::from_utf8(reason).is_ok() {
            continue;
        }
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&frame(Role::Server, 0x88, &payload));
        assert_eq!(
            server.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
        assert_eq!(sent_close_code(&take_output(&mut server)), Some(1007));
    }
}

#[test]
fn valid_text_passes_at_every_split() {
    let text = TEXT.as_bytes();
    for cut in 0..=text.len() {
        for piece in [1, 2, 5] {
            let mut server = Connection::new(Role::Server, Config::default());
            let mut wire = frame(Role::Server, 0x01, &text[..cut]);
            wire.extend(frame(Role::Server, 0x80, &text[cut..]));
            let mut events = Vec::new();
            for chunk in wire.chunks(piece) {
                server.receive(chunk);
                events.extend(drain_events(&mut server));
            }
            assert_eq!(events, [Ok(Event::Message(Message::text(TEXT)))]);
        }
    }
}
