//! Re-creates ws CVE-2024-37890: a request with more headers than Node's
//! `server.maxHeadersCount` crashed a ws server (ws before 8.17.1, 7.5.10, 6.2.3, 5.2.4): the
//! headers it needed were cut off and it dereferenced one that was missing.
//!
//! wsio counts header fields against `Limits::max_headers` and answers a complete 431
//! response; the table httparse fills is sized by the limit and never by the count a peer
//! sends, and a huge configured limit still costs no more than the head can hold.

use wsio_core::handshake::{
    AcceptOutcome, ClientHandshake, ClientOptions, HandshakeError, Limits, Parsed, Request,
    Response, Upgrader,
};
use wsio_tests::{CountingAlloc, measure};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// An opening request with `extra` two-letter headers (as in the advisory's proof of
/// concept) before the WebSocket ones, so a parser that stops counting early loses those.
fn request_with(extra: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..extra {
        head.extend_from_slice(format!("x{i}: x\r\n").as_bytes());
    }
    head.extend_from_slice(
        b"Host: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    head
}

fn big_head_limits(max_headers: usize) -> Limits {
    Limits {
        max_head_size: 1 << 20,
        max_headers,
    }
}

#[test]
fn too_many_headers_get_a_complete_431() {
    let upgrader = Upgrader::new().with_limits(big_head_limits(64));
    let head = request_with(2000);
    let mut parser = upgrader.request_parser();
    let (outcome, usage) = measure(|| upgrader.accept_bytes(&mut parser, &head));
    let AcceptOutcome::Rejected(rejection) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        *rejection.error(),
        HandshakeError::TooManyHeaders { limit: 64 }
    );
    // A whole HTTP response, so the client learns why, and a parseable one.
    let bytes = rejection.to_bytes();
    let Ok(Parsed::Complete { value, leftover }) = Response::parse(&bytes, Limits::default())
    else {
        panic!("unparseable rejection");
    };
    assert_eq!(value.status, 431);
    assert_eq!(leftover, rejection.body().as_bytes());
    // The work is a copy of the head and a table of 64 slots, not 2,000.
    assert!(usage.largest <= head.len() + 64 * 64, "{usage:?}");
}

#[test]
fn the_limit_is_exact_and_every_header_is_kept() {
    // The request carries 5 headers of its own.
    let limits = big_head_limits(105);
    let Ok(Parsed::Complete { value, .. }) = Request::parse(&request_with(100), limits) else {
        panic!("105 headers within a limit of 105");
    };
    assert_eq!(value.headers.len(), 105);
    assert_eq!(value.header("x99"), Some(&b"x"[..]));
    let upgrader = Upgrader::new().with_limits(limits);
    assert!(upgrader.upgrade(&value).is_ok());
    assert_eq!(
        Request::parse(&request_with(101), limits).unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 105 }
    );
}

#[test]
fn a_huge_configured_limit_costs_only_what_the_head_holds() {
    // No header limit at all: the table is bounded by the head (a field line takes at least
    // three bytes), not by the configured count.
    let limits = big_head_limits(usize::MAX);
    let head = request_with(2000);
    let (parsed, usage) = measure(|| Request::parse(&head, limits).map(|_| ()));
    assert!(parsed.is_ok());
    // One httparse slot is a name and a value: two slices.
    let slot = 2 * size_of::<&[u8]>();
    assert!(usage.largest <= (head.len() / 3 + 1) * slot, "{usage:?}");
}

#[test]
fn a_server_sending_too_many_headers_fails_the_client_cleanly() {
    let options = ClientOptions::default();
    let mut client = ClientHandshake::new("ws://a.example/", options).unwrap();
    let mut response = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    for i in 0..2000 {
        response.extend_from_slice(format!("x{i}: x\r\n").as_bytes());
    }
    response.extend_from_slice(b"\r\n");
    // The default head limit (8 KiB) or the header count trips first; either is a clean error.
    let error = client.feed(&response).unwrap_err();
    assert!(
        matches!(
            error,
            HandshakeError::TooManyHeaders { limit: 64 } | HandshakeError::HeadTooLarge { .. }
        ),
        "{error:?}"
    );
    let mut client = ClientHandshake::new("ws://a.example/", ClientOptions::default()).unwrap();
    let small = [&response[..34], b"a: 1\r\n".repeat(65).as_slice(), b"\r\n"].concat();
    assert_eq!(
        client.feed(&small).unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 64 }
    );
}
