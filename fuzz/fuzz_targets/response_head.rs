//! The client's response head parser and the checks of the server's 101, on hostile bytes in
//! pieces.
//!
//! Input: 4 bytes of settings, then the bytes from the socket.
//! - byte 0: max head size, byte 1: max header count (see `limit`)
//! - bytes 2-3: seed of the chunking; bit 0 of byte 2 also offers compression
//!
//! The client's key comes from a fixed seed, so seeds (and the fuzzer) can hold a response
//! with the right `Sec-WebSocket-Accept` and reach the checks behind it.
//!
//! Checked: feeding in pieces gives what parsing in one go gives (same response or error,
//! same leftover); no more than the head limit is buffered; an accepted response has the right
//! accept value, a subprotocol we offered and deflate parameters within our offer; the client
//! connection made from the leftover does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_core::handshake::{
    ClientHandshake, ClientOptions, HandshakeError, Limits, Parsed, Response, ResponseParser,
    accept_key,
};
use wsio_core::{Config, KeySource};
use wsio_fuzz::{Chunker, Log, limit};

/// The seed of the client's key: `accept_key` of the key it gives is what seeds carry.
pub const KEY_SEED: u64 = 1;

#[derive(Debug, PartialEq)]
enum Outcome<T> {
    Partial,
    Complete(T, Vec<u8>),
    Failed(HandshakeError),
}

fn client(deflate: bool, limits: Limits) -> ClientHandshake {
    let mut config = Config {
        key_source: KeySource::Seeded(KEY_SEED),
        ..Config::default()
    };
    config.deflate.enabled = deflate;
    let options = ClientOptions {
        protocols: vec!["chat".into(), "superchat".into()],
        extensions: vec!["x-test".into()],
        config,
        limits,
        ..ClientOptions::default()
    };
    ClientHandshake::new("ws://example.com/chat", options).expect("valid options")
}

fuzz_target!(|data: &[u8]| {
    let Some((head, input)) = data.split_first_chunk::<4>() else {
        return;
    };
    let limits = Limits {
        max_head_size: limit(head[0]),
        max_headers: limit(head[1]),
    };
    let seed = u64::from(u16::from_le_bytes([head[2], head[3]]));
    let deflate = head[2] & 1 != 0;

    // The bare parser, in one go and in pieces.
    let at_once = match Response::parse(input, limits) {
        Ok(Parsed::Partial) => Outcome::Partial,
        Ok(Parsed::Complete { value, leftover }) => Outcome::Complete(value, leftover.to_vec()),
        Err(e) => Outcome::Failed(e),
    };
    let mut parser = ResponseParser::new(limits);
    let mut in_pieces = Outcome::Partial;
    let mut fed = 0;
    let mut pieces = Chunker::new(seed).split(input);
    if pieces.is_empty() {
        // A read of zero bytes is still a call to `feed`.
        pieces.push(&[]);
    }
    for piece in pieces {
        fed += piece.len();
        match parser.feed(piece) {
            Ok(Parsed::Partial) => assert!(parser.buffered() <= limits.max_head_size.min(fed)),
            Ok(Parsed::Complete { value, leftover }) => {
                let mut rest = leftover.to_vec();
                rest.extend_from_slice(&input[fed..]);
                in_pieces = Outcome::Complete(value, rest);
                break;
            }
            Err(e) => {
                in_pieces = Outcome::Failed(e);
                break;
            }
        }
    }
    assert_eq!(at_once, in_pieces, "splitting the input changed the result");

    // The whole client handshake, in pieces, against its own checks applied in one go.
    let mut handshake = client(deflate, limits);
    let expected = match at_once {
        Outcome::Complete(response, leftover) => {
            assert!(input.len() - leftover.len() <= limits.max_head_size);
            match handshake.check_response(response) {
                Ok(connected) => Outcome::Complete(connected, leftover),
                Err(e) => Outcome::Failed(e),
            }
        }
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Partial => Outcome::Partial,
    };
    let mut fed = 0;
    let mut got = Outcome::Partial;
    let mut pieces = Chunker::new(seed ^ 0x5555).split(input);
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    for piece in pieces {
        fed += piece.len();
        match handshake.feed(piece) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { value, leftover }) => {
                let mut rest = leftover.to_vec();
                rest.extend_from_slice(&input[fed..]);
                got = Outcome::Complete(value, rest);
                break;
            }
            Err(e) => {
                got = Outcome::Failed(e);
                break;
            }
        }
    }
    assert_eq!(expected, got, "the handshake disagrees with its own checks");

    let Outcome::Complete(connected, leftover) = got else {
        return;
    };
    // Accepted: the server proved it read our key, and chose only what we offered.
    let accept = connected.response.header("Sec-WebSocket-Accept").unwrap();
    assert_eq!(
        std::str::from_utf8(accept)
            .unwrap()
            .trim_matches([' ', '\t']),
        accept_key(handshake.key())
    );
    assert_eq!(connected.response.status, 101);
    if let Some(protocol) = &connected.protocol {
        assert!(protocol == "chat" || protocol == "superchat");
    }
    if let Some(params) = connected.deflate {
        assert!(deflate, "deflate agreed without an offer");
        assert!((8..=15).contains(&params.server_max_window_bits));
        assert!((8..=15).contains(&params.client_max_window_bits));
    }
    let mut conn = handshake.connection(&connected, &leftover);
    let mut log = Log::default();
    log.drain(&mut conn);
});
