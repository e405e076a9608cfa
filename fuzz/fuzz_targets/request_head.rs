//! The server's request head parser and the upgrade decision, on hostile bytes in pieces.
//!
//! Input: 4 bytes of settings, then the bytes from the socket.
//! - byte 0: max head size, byte 1: max header count (see `limit`)
//! - bytes 2-3: seed of the chunking; bit 0 of byte 2 also turns compression on
//!
//! Checked: parsing in pieces gives exactly what parsing in one go gives (same request, same
//! error, same leftover bytes); no more than the head limit is ever buffered; an accepted
//! request gets a 101 that parses and carries the right accept value; a refusal is a complete
//! HTTP error response; the connection made from the leftover bytes does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_core::deflate::{DeflateConfig, accept_response};
use wsio_core::handshake::{
    AcceptOutcome, HandshakeError, Limits, Parsed, Request, RequestParser, Response, Upgrader,
    accept_key,
};
use wsio_fuzz::{Chunker, Log, limit};

/// What parsing produced, in a comparable form.
#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Complete(Request, Vec<u8>),
    Failed(HandshakeError),
}

fn in_pieces(limits: Limits, input: &[u8], chunker: &mut Chunker) -> Outcome {
    let mut parser = RequestParser::new(limits);
    let mut pieces = chunker.split(input);
    if pieces.is_empty() {
        // A read of zero bytes is still a call to `feed`.
        pieces.push(&[]);
    }
    let mut fed = 0;
    for piece in &pieces {
        fed += piece.len();
        match parser.feed(piece) {
            Ok(Parsed::Partial) => {
                assert!(parser.buffered() <= limits.max_head_size);
                assert!(parser.buffered() <= fed);
            }
            Ok(Parsed::Complete { value, leftover }) => {
                // The bytes after this piece would be read later: they belong to the leftover.
                let mut rest = leftover.to_vec();
                rest.extend_from_slice(&input[fed..]);
                assert_eq!(parser.feed(b"x").unwrap_err(), HandshakeError::Finished);
                return Outcome::Complete(value, rest);
            }
            Err(e) => {
                assert_eq!(parser.feed(b"x").unwrap_err(), HandshakeError::Finished);
                return Outcome::Failed(e);
            }
        }
    }
    Outcome::Partial
}

/// Parses a response we generated: it must be complete; returns it and its body.
fn parse_response(bytes: &[u8]) -> (Response, Vec<u8>) {
    match Response::parse(bytes, Limits::default()) {
        Ok(Parsed::Complete { value, leftover }) => (value, leftover.to_vec()),
        other => panic!("our own response does not parse: {other:?}"),
    }
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

    let at_once = match Request::parse(input, limits) {
        Ok(Parsed::Partial) => Outcome::Partial,
        Ok(Parsed::Complete { value, leftover }) => Outcome::Complete(value, leftover.to_vec()),
        Err(e) => Outcome::Failed(e),
    };
    let pieces = in_pieces(limits, input, &mut Chunker::new(seed));
    assert_eq!(at_once, pieces, "splitting the input changed the result");

    let (request, leftover) = match at_once {
        Outcome::Complete(request, leftover) => (request, leftover),
        Outcome::Failed(e) => {
            // Every parse failure maps to a 4xx the server can send.
            let status = e.status().expect("a parse error has a status");
            assert!((400..500).contains(&status), "{e:?} -> {status}");
            return;
        }
        Outcome::Partial => {
            assert!(input.len() < limits.max_head_size);
            return;
        }
    };
    assert!(input.len() - leftover.len() <= limits.max_head_size);
    assert!(request.headers.len() <= limits.max_headers);

    let deflate = head[2] & 1 != 0;
    let upgrader = Upgrader::new()
        .with_subprotocols(["chat", "superchat"])
        .with_compression(deflate);
    let mut parser = upgrader.request_parser();
    let outcome = upgrader.accept_bytes(&mut parser, &input[..input.len() - leftover.len()]);
    let accepted = match outcome {
        AcceptOutcome::Accepted { accepted, .. } => accepted,
        AcceptOutcome::Rejected(rejection) => {
            let (response, body) = parse_response(&rejection.to_bytes());
            assert_eq!(response.status, rejection.status());
            assert!((400..600).contains(&response.status));
            let length = response.header("Content-Length").expect("a body length");
            assert_eq!(length, body.len().to_string().as_bytes());
            assert_eq!(body, rejection.body().as_bytes());
            return;
        }
        AcceptOutcome::NeedMore => panic!("a complete head needs more"),
    };
    assert_eq!(upgrader.upgrade(&request).as_ref(), Ok(&accepted));

    let (response, body) = parse_response(&accepted.response_bytes());
    assert_eq!(response.status, 101);
    assert!(body.is_empty(), "a 101 has no body");
    let key = request.header("Sec-WebSocket-Key").unwrap();
    let accept = response.header("Sec-WebSocket-Accept").unwrap();
    assert_eq!(accept, accept_key(key).as_bytes());
    if let Some(protocol) = accepted.protocol() {
        assert!(protocol == "chat" || protocol == "superchat");
    }
    // What the server agreed to, a client that offered compression accepts, with the same
    // server window.
    if let Some(params) = accepted.deflate() {
        let answer = accepted.extensions().expect("deflate is announced");
        let client = DeflateConfig {
            enabled: true,
            ..DeflateConfig::default()
        };
        let agreed = accept_response(&[answer], &client).unwrap().unwrap();
        assert_eq!(agreed.server_max_window_bits, params.server_max_window_bits);
        assert!((8..=15).contains(&params.client_max_window_bits));
    }

    let mut conn = upgrader.connection(&accepted, &leftover);
    let mut log = Log::default();
    log.drain(&mut conn);
});
