//! Re-creates tungstenite CVE-2023-43669 (RUSTSEC-2023-0065): before 0.20.1 tungstenite
//! re-parsed the whole opening request each time more bytes arrived and did not bound the
//! length of a header, so a client that sent a long header a few bytes at a time made the
//! server spend minutes of CPU (thousands of parse attempts over up to megabytes each).
//!
//! wsio scans each arriving byte once for the end of the head, runs httparse once on a
//! complete head, and refuses a head longer than `Limits::max_head_size` with 431 the moment
//! it passes the limit, holding no more than the limit meanwhile. Work is measured by what the
//! parser allocates (a parser that re-parsed on every read would allocate its header table on
//! every read), never by wall time.

use wsio_core::handshake::{
    AcceptOutcome, HandshakeError, Limits, Parsed, RequestParser, ResponseParser, Upgrader,
};
use wsio_tests::{CountingAlloc, measure};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A valid opening request (RFC 6455 section 1.3, with an origin matching its host) whose
/// `Cookie` header is padded to `pad` bytes: the long header of the advisory.
fn request_head(pad: usize) -> Vec<u8> {
    let mut head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://server.example.com\r\nSec-WebSocket-Version: 13\r\nCookie: "
        .to_vec();
    head.extend(std::iter::repeat_n(b'c', pad));
    head.extend_from_slice(b"\r\n\r\n");
    head
}

/// Feeds `head` to an upgrader's parser `piece` bytes at a time; returns the index of the
/// piece that completed it, checking on the way that only what arrived is buffered.
fn accept_in_pieces(upgrader: &Upgrader, head: &[u8], piece: usize) -> usize {
    let mut parser = upgrader.request_parser();
    let mut fed = 0;
    for (i, chunk) in head.chunks(piece).enumerate() {
        fed += chunk.len();
        match upgrader.accept_bytes(&mut parser, chunk) {
            AcceptOutcome::NeedMore => assert_eq!(parser.buffered(), fed),
            AcceptOutcome::Accepted {
                accepted, request, ..
            } => {
                assert_eq!(accepted.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
                let cookie = request.header("Cookie").expect("the long header");
                assert_eq!(cookie.len(), head.len() - request_head(0).len());
                assert!(cookie.iter().all(|&b| b == b'c'));
                return i;
            }
            AcceptOutcome::Rejected(r) => panic!("rejected: {r}"),
        }
    }
    panic!("the head never completed");
}

#[test]
fn a_long_header_sent_byte_by_byte_is_parsed_once() {
    let upgrader = Upgrader::new();
    let head = request_head(7000);
    assert!(head.len() < Limits::DEFAULT_MAX_HEAD_SIZE);
    let (_, at_once) = measure(|| accept_in_pieces(&upgrader, &head, head.len()));
    let (last, byte_by_byte) = measure(|| accept_in_pieces(&upgrader, &head, 1));
    assert_eq!(last, head.len() - 1, "completes on the very last byte");
    // Byte by byte, the buffer grows by doubling (a few dozen allocations) and the head is
    // parsed once, as in one go. A parse per read would cost a header table per byte: over
    // 7,000 allocations and megabytes in total.
    assert!(
        byte_by_byte.calls <= at_once.calls + 40,
        "{byte_by_byte:?} vs {at_once:?}"
    );
    assert!(
        byte_by_byte.total <= at_once.total + 4 * head.len(),
        "{byte_by_byte:?} vs {at_once:?}"
    );
}

#[test]
fn work_grows_linearly_with_the_header() {
    // Four times the header costs about four times the allocation, not sixteen.
    let upgrader = Upgrader::new().with_limits(Limits {
        max_head_size: 1 << 20,
        ..Limits::default()
    });
    let cost = |pad| measure(|| accept_in_pieces(&upgrader, &request_head(pad), 3)).1;
    let (small, large) = (cost(50_000), cost(200_000));
    assert!(large.total <= 5 * small.total, "{small:?} vs {large:?}");
    assert!(large.calls <= small.calls + 20, "{small:?} vs {large:?}");
}

#[test]
fn a_header_past_the_limit_is_refused_at_the_limit_with_431() {
    let upgrader = Upgrader::new();
    let limit = Limits::DEFAULT_MAX_HEAD_SIZE;
    // A header that never ends, one byte at a time: refused on byte `limit`, not later, and
    // never more than the limit held.
    let mut parser = upgrader.request_parser();
    let endless = request_head(1 << 20);
    let (refused_at, usage) = measure(|| {
        for (i, byte) in endless.iter().enumerate() {
            match upgrader.accept_bytes(&mut parser, std::slice::from_ref(byte)) {
                AcceptOutcome::NeedMore => assert!(parser.buffered() < limit),
                AcceptOutcome::Rejected(rejection) => {
                    assert_eq!(rejection.status(), 431);
                    assert!(rejection.to_bytes().starts_with(b"HTTP/1.1 431 "));
                    return i;
                }
                AcceptOutcome::Accepted { .. } => panic!("accepted an endless head"),
            }
        }
        panic!("never refused");
    });
    assert_eq!(refused_at + 1, limit);
    assert!(usage.peak < 4 * limit, "{usage:?}");
    // Whatever follows is not buffered: the parser is finished.
    assert_eq!(parser.buffered(), 0);
    assert!(matches!(
        upgrader.accept_bytes(&mut parser, &endless[limit..]),
        AcceptOutcome::Rejected(r) if *r.error() == HandshakeError::Finished
    ));

    // The same in one read of a megabyte: only the limit is ever copied.
    let (result, usage) = measure(|| RequestParser::default().feed(&endless).map(|_| ()));
    assert_eq!(result, Err(HandshakeError::HeadTooLarge { limit }));
    assert!(usage.peak < 4 * limit, "{usage:?}");
}

#[test]
fn a_slow_client_sending_header_by_header_is_accepted_with_the_right_result() {
    // One header line per read, as a slowloris client sends them.
    let upgrader = Upgrader::new();
    let head = request_head(10);
    let mut parser = upgrader.request_parser();
    let mut fed = 0;
    let lines: Vec<&[u8]> = head.split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        fed += line.len();
        match upgrader.accept_bytes(&mut parser, line) {
            AcceptOutcome::NeedMore => {
                assert!(i < lines.len() - 1);
                assert_eq!(parser.buffered(), fed);
            }
            AcceptOutcome::Accepted { request, .. } => {
                assert_eq!(i, lines.len() - 1);
                assert_eq!(request.header("cookie"), Some(&b"cccccccccc"[..]));
            }
            AcceptOutcome::Rejected(r) => panic!("{r}"),
        }
    }
}

#[test]
fn the_client_side_is_bounded_the_same_way() {
    let mut response = b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ".to_vec();
    response.extend(std::iter::repeat_n(b'x', 1 << 20));
    let mut parser = ResponseParser::default();
    let limit = Limits::DEFAULT_MAX_HEAD_SIZE;
    let mut refused = None;
    for (i, chunk) in response.chunks(5).enumerate() {
        match parser.feed(chunk) {
            Ok(Parsed::Partial) => assert!(parser.buffered() < limit),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
            Ok(Parsed::Complete { .. }) => panic!("completed an endless head"),
        }
    }
    let (i, error) = refused.expect("refused");
    assert_eq!(error, HandshakeError::HeadTooLarge { limit });
    assert_eq!(
        i,
        (limit - 1) / 5,
        "refused in the read that passed the limit"
    );
}
