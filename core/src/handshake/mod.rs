//! The HTTP/1.1 opening handshake of RFC 6455 section 4, without sockets.
//!
//! Everything here works on byte slices: the runtime reads from its socket, feeds what it read,
//! and writes out the bytes it is given back. Nothing blocks, sleeps or allocates without bound.
//!
//! # Server
//!
//! ```
//! use wsio_core::handshake::{AcceptOutcome, Upgrader};
//!
//! let upgrader = Upgrader::new().with_subprotocols(["chat"]);
//! let mut parser = upgrader.request_parser();
//! let from_socket = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x80";
//! match upgrader.accept_bytes(&mut parser, from_socket) {
//!     AcceptOutcome::NeedMore => { /* read more and call accept_bytes again */ }
//!     AcceptOutcome::Accepted { accepted, request: _, leftover } => {
//!         let to_socket = accepted.response_bytes(); // the 101 head
//!         assert!(to_socket.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//!         assert_eq!(accepted.protocol(), Some("chat"));
//!         assert_eq!(&leftover[..], b"\x81\x80"); // the first frame, for the connection
//!     }
//!     AcceptOutcome::Rejected(rejection) => {
//!         let _to_socket = rejection.to_bytes(); // a complete 4xx response; then close
//!     }
//! }
//! ```
//!
//! The steps can also be taken one by one: [`RequestParser::feed`] yields a [`Request`] and the
//! bytes after its head, [`Upgrader::upgrade`] checks it and returns [`Accepted`] or a
//! [`Rejection`]. With the `http` feature, [`Upgrader::upgrade_http`] does the same for an
//! `http::Request` (hyper, axum).
//!
//! # Client
//!
//! ```
//! use wsio_core::handshake::{ClientHandshake, ClientOptions, Parsed};
//!
//! let mut client = ClientHandshake::new("ws://example.com/chat", ClientOptions::default())?;
//! let _to_socket = client.request_bytes();
//! # let accept = wsio_core::handshake::accept_key(client.key());
//! # let from_socket = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
//! #     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
//! match client.feed(from_socket.as_bytes())? {
//!     Parsed::Partial => { /* read more and feed again */ }
//!     Parsed::Complete { value: connected, leftover } => {
//!         assert_eq!(connected.protocol, None);
//!         assert!(leftover.is_empty()); // otherwise: the server's first frames
//!     }
//! }
//! # Ok::<(), wsio_core::handshake::HandshakeError>(())
//! ```
//!
//! # Limits
//!
//! A head may be at most [`Limits::max_head_size`] bytes (default 8 KiB) with at most
//! [`Limits::max_headers`] fields (default 64); beyond either the peer gets a 431. Parsing is
//! incremental and linear: bytes are scanned once for the end of the head, and httparse runs once
//! the whole head is present, however finely the head was split.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::BytesMut;
use sha1::{Digest, Sha1};

mod client;
#[cfg(feature = "http")]
mod http_interop;
mod request;
mod response;
mod server;

pub use client::{ClientHandshake, ClientOptions, Connected, WsUrl};
pub use request::{Request, RequestParser};
pub use response::{Response, ResponseParser};
pub use server::{
    AcceptOutcome, Accepted, BufferPool, CheckOrigin, HeaderCheck, Rejection, RequestCheck,
    Upgrader,
};

/// The GUID that RFC 6455 appends to the client's key before hashing it.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version RFC 6455 defines, as sent in `Sec-WebSocket-Version`.
pub const VERSION: &str = "13";

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(sha1(key + GUID)).
///
/// The key is hashed as sent (its base64 text), which proves to the client that the server read
/// this very request and is not a cache or a non-WebSocket server echoing headers.
pub fn accept_key(key: impl AsRef<[u8]>) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_ref());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Size limits on an HTTP head, so a peer cannot make us buffer or index without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest head accepted, in bytes, counting the request or status line and the blank line
    /// that ends the head. Memory held per pending handshake grows up to this size. Default 8 KiB.
    pub max_head_size: usize,
    /// Largest number of header fields accepted. Default 64.
    pub max_headers: usize,
}

impl Limits {
    /// Default [`Limits::max_head_size`]: 8 KiB, what common servers allow for a request head.
    pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;
    /// Default [`Limits::max_headers`].
    pub const DEFAULT_MAX_HEADERS: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: Self::DEFAULT_MAX_HEAD_SIZE,
            max_headers: Self::DEFAULT_MAX_HEADERS,
        }
    }
}

/// The result of feeding bytes to an incremental parser.
#[derive(Debug)]
pub enum Parsed<T> {
    /// The head is not complete yet: read more bytes and feed them.
    Partial,
    /// The head is complete.
    Complete {
        /// What was parsed.
        value: T,
        /// The bytes that followed the head in the input. They belong to the WebSocket
        /// connection (its first frames) and must be handed to it, never dropped.
        leftover: BytesMut,
    },
}

/// One header field of a parsed head, in the order received.
///
/// Values are kept as bytes: HTTP allows non-UTF-8 octets in values, and a header we do not
/// interpret must not make the whole request fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The field name as sent; compare it case-insensitively.
    pub name: String,
    /// The field value without surrounding whitespace.
    pub value: Vec<u8>,
}

/// Why a handshake failed.
///
/// Variants cover both sides. On a server, [`HandshakeError::status`] gives the HTTP status to
/// answer with (a [`Rejection`] built from the error does this for you); the client-only
/// variants have no status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head did not end within [`Limits::max_head_size`] bytes (431).
    HeadTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The head has more than [`Limits::max_headers`] header fields (431).
    TooManyHeaders {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The head is not valid HTTP/1.x (400).
    Malformed(&'static str),
    /// The request method is not GET (405, with `Allow: GET`).
    MethodNotAllowed,
    /// The request or response is not HTTP/1.1 (400).
    NotHttp11,
    /// The request has no `Host` header (400).
    MissingHost,
    /// No `Upgrade` header with the `websocket` token (400 on a server).
    MissingUpgrade,
    /// No `Connection` header with the `upgrade` token (400 on a server).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` header (400).
    MissingKey,
    /// More than one `Sec-WebSocket-Key` header (400).
    DuplicateKey,
    /// `Sec-WebSocket-Key` is not the base64 form of exactly 16 bytes (400).
    InvalidKey,
    /// The origin check refused the request's `Origin` (403).
    OriginRejected,
    /// A request header the handshake must read has an unusable value, such as non-UTF-8 bytes
    /// in `Sec-WebSocket-Extensions` (400). Holds the header name.
    BadHeaderValue(&'static str),
    /// An application hook refused the request with this status and reason.
    Refused {
        /// An HTTP error status, 400 to 599.
        status: u16,
        /// A short, human-readable reason, sent as the response body.
        reason: String,
    },
    /// A header supplied by this side (settings, options, hooks) cannot be written to the wire:
    /// an invalid name or value, or a header the handshake itself controls. Holds the name.
    /// On a server this is a configuration error (500).
    InvalidHeader(String),
    /// The URL cannot be used for a WebSocket connection (client); says why.
    InvalidUrl(&'static str),
    /// The URL's scheme is neither `ws` nor `wss` (client). Holds the scheme.
    UnsupportedScheme(String),
    /// The server answered with this status instead of 101 (client).
    BadStatus(u16),
    /// `Sec-WebSocket-Accept` is missing, repeated or does not match our key (client).
    WrongAccept,
    /// The server chose a subprotocol we did not offer, or several (client). Holds its value.
    UnofferedProtocol(String),
    /// The server accepted an extension we did not offer (client). Holds the extension name.
    UnofferedExtension(String),
    /// The server's permessage-deflate answer does not fit our offer (RFC 7692 section 5).
    Extension(crate::deflate::NegotiationError),
    /// Bytes were fed after the handshake had already completed or failed: a caller bug.
    Finished,
}

impl HandshakeError {
    /// The HTTP status a server should answer with, or `None` for client-side errors and misuse.
    pub fn status(&self) -> Option<u16> {
        use HandshakeError::*;
        match self {
            HeadTooLarge { .. } | TooManyHeaders { .. } => Some(431),
            Malformed(_) | NotHttp11 | MissingHost | MissingUpgrade | MissingConnectionUpgrade => {
                Some(400)
            }
            MissingKey | DuplicateKey | InvalidKey | BadHeaderValue(_) => Some(400),
            MethodNotAllowed => Some(405),
            UnsupportedVersion => Some(426),
            OriginRejected => Some(403),
            Refused { status, .. } => Some(*status),
            InvalidHeader(_) => Some(500),
            InvalidUrl(_)
            | UnsupportedScheme(_)
            | BadStatus(_)
            | WrongAccept
            | UnofferedProtocol(_)
            | UnofferedExtension(_)
            | Extension(_)
            | Finished => None,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeError::*;
        match self {
            HeadTooLarge { limit } => write!(f, "HTTP head is larger than {limit} bytes"),
            TooManyHeaders { limit } => write!(f, "HTTP head has more than {limit} header fields"),
            Malformed(why) => write!(f, "malformed HTTP head: {why}"),
            MethodNotAllowed => f.write_str("a WebSocket handshake must use GET"),
            NotHttp11 => f.write_str("a WebSocket handshake requires HTTP/1.1"),
            MissingHost => f.write_str("missing Host header"),
            MissingUpgrade => f.write_str("missing 'Upgrade: websocket' header"),
            MissingConnectionUpgrade => f.write_str("missing 'Connection: upgrade' header"),
            UnsupportedVersion => f.write_str("Sec-WebSocket-Version must be 13"),
            MissingKey => f.write_str("missing Sec-WebSocket-Key header"),
            DuplicateKey => f.write_str("more than one Sec-WebSocket-Key header"),
            InvalidKey => f.write_str("Sec-WebSocket-Key must be 16 bytes in base64"),
            OriginRejected => f.write_str("origin not allowed"),
            BadHeaderValue(name) => write!(f, "invalid {name} header"),
            Refused { reason, .. } => f.write_str(reason),
            InvalidHeader(name) => write!(f, "header {name:?} cannot be sent"),
            InvalidUrl(why) => write!(f, "invalid WebSocket URL: {why}"),
            UnsupportedScheme(scheme) => {
                write!(f, "unsupported URL scheme {scheme:?}: expected ws or wss")
            }
            BadStatus(status) => write!(f, "expected status 101, got {status}"),
            WrongAccept => f.write_str("Sec-WebSocket-Accept does not match the key sent"),
            UnofferedProtocol(p) => {
                write!(f, "server chose subprotocol {p:?} that was not offered")
            }
            UnofferedExtension(e) => {
                write!(f, "server accepted extension {e:?} that was not offered")
            }
            Extension(e) => write!(f, "permessage-deflate negotiation failed: {e}"),
            Finished => f.write_str("the handshake has already finished"),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::Extension(e) => Some(e),
            _ => None,
        }
    }
}

/// Splits a comma-separated header value (`#element` in RFC 9110) into its elements, trimmed of
/// spaces and tabs, skipping empty ones.
///
/// A single pass: each byte is looked at a bounded number of times, so a value made of thousands
/// of commas and spaces costs linear time. Commas inside double-quoted strings (extension
/// parameters) do not split.
pub fn split_list(value: &[u8]) -> ListItems<'_> {
    ListItems { rest: value }
}

/// Iterator returned by [`split_list`].
#[derive(Clone, Debug)]
pub struct ListItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ListItems<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            // Skip separators and leading whitespace.
            let start = self
                .rest
                .iter()
                .position(|&b| !matches!(b, b',' | b' ' | b'\t'))?;
            let item = &self.rest[start..];
            // Find the comma that ends this element, outside quoted strings.
            let mut quoted = false;
            let mut escaped = false;
            let mut end = item.len();
            for (i, &b) in item.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if quoted && b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    quoted = !quoted;
                } else if b == b',' && !quoted {
                    end = i;
                    break;
                }
            }
            self.rest = item.get(end..).unwrap_or_default();
            let element = trim(&item[..end]);
            if !element.is_empty() {
                return Some(element);
            }
        }
    }
}

/// Trims spaces and tabs (HTTP's optional whitespace) from both ends.
pub(crate) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The values of every header called `name` (case-insensitive), in order.
pub(crate) fn values<'a, 'n>(
    headers: &'a [Header],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

/// Whether any header called `name` lists `token`, compared case-insensitively. Tokens may be
/// spread over repeated headers (`Connection: keep-alive` then `Connection: Upgrade`).
pub(crate) fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    values(headers, name).any(|v| split_list(v).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// Whether `name` is an HTTP token (RFC 9110 `tchar`s), so it can be written as a field name.
pub(crate) fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be written as a field value: no control characters other than tab, so
/// nothing can end the line early and smuggle in another header.
pub(crate) fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The reason phrase for the status codes a handshake produces.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ if (400..500).contains(&status) => "Client Error",
        _ => "Server Error",
    }
}

/// Buffers the bytes of an HTTP head until it is complete, in linear time overall.
///
/// Bytes are scanned once for the blank line that ends the head; the position is remembered
/// between calls, so a head arriving one byte at a time is not rescanned from the start. No more
/// than `max_head_size` bytes are ever buffered: beyond that the head is rejected at once.
#[derive(Debug)]
pub(crate) struct HeadBuffer {
    limits: Limits,
    buf: BytesMut,
    /// Where the next scan for the end of the head starts.
    resume: usize,
    finished: bool,
}

impl HeadBuffer {
    pub(crate) fn new(limits: Limits) -> Self {
        HeadBuffer {
            limits,
            buf: BytesMut::new(),
            resume: 0,
            finished: false,
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds `data`. Returns the complete head and the bytes after it, `None` if the head is
    /// still incomplete, or an error once the head cannot fit the size limit.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
    ) -> Result<Option<(BytesMut, BytesMut)>, HandshakeError> {
        if self.finished {
            return Err(HandshakeError::Finished);
        }
        // Take only what could still belong to a head within the limit; the rest can only be
        // leftover (if the head ends in time) or is never looked at (if it does not).
        let room = self.limits.max_head_size.saturating_sub(self.buf.len());
        let (now, rest) = data.split_at(room.min(data.len()));
        self.buf.extend_from_slice(now);
        match find_head_end(&self.buf, self.resume) {
            Ok(end) => {
                self.finished = true;
                let mut head = std::mem::take(&mut self.buf);
                let mut leftover = head.split_off(end);
                leftover.extend_from_slice(rest);
                Ok(Some((head, leftover)))
            }
            Err(resume) => {
                self.resume = resume;
                if self.buf.len() >= self.limits.max_head_size {
                    // The end was not within the limit, so the head is longer than allowed.
                    self.finished = true;
                    self.buf = BytesMut::new();
                    Err(HandshakeError::HeadTooLarge {
                        limit: self.limits.max_head_size,
                    })
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// Finds the end of an HTTP head (an empty line, CRLF or bare LF as httparse accepts) in
/// `buf`, starting at `from`. Returns the index just past it, or where to resume scanning
/// once more bytes have arrived.
fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut i = from;
    while let Some(offset) = buf
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == b'\n'))
    {
        i += offset;
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => return Ok(i + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(i + 3),
            // Not enough bytes yet to decide whether this newline ends the head.
            (None, _) | (Some(b'\r'), None) => return Err(i),
            _ => i += 1,
        }
    }
    Err(buf.len())
}

/// Names an httparse error for [`HandshakeError::Malformed`].
pub(crate) fn describe(error: httparse::Error) -> HandshakeError {
    let why = match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => "too many headers",
    };
    HandshakeError::Malformed(why)
}

/// How many httparse header slots to allocate: the limit, but never more than the head could
/// hold (each field line takes at least three bytes), so a huge configured limit costs nothing.
pub(crate) fn header_slots(limits: Limits, head_len: usize) -> usize {
    limits.max_headers.min(head_len / 3 + 1)
}

/// Copies httparse's borrowed headers into owned [`Header`]s, trimming values.
pub(crate) fn own_headers(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers
        .iter()
        .map(|h| Header {
            name: h.name.to_owned(),
            value: trim(h.value).to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn list_elements_are_trimmed_and_empty_ones_skipped() {
        let items: Vec<&[u8]> = split_list(b" a ,, b\t,c,  ,").collect();
        assert_eq!(items, [&b"a"[..], b"b", b"c"]);
        assert_eq!(split_list(b"").count(), 0);
        assert_eq!(split_list(b" , ,\t").count(), 0);
    }

    #[test]
    fn quoted_commas_do_not_split() {
        let items: Vec<&[u8]> = split_list(br#"x; p="a,\"b", y"#).collect();
        assert_eq!(items, [&br#"x; p="a,\"b""#[..], b"y"]);
        // An unterminated quote swallows the rest, without panicking.
        assert_eq!(split_list(br#"x; p="a, y"#).count(), 1);
    }

    #[test]
    fn tokens_span_repeated_headers() {
        let headers = vec![
            Header {
                name: "Connection".into(),
                value: b"keep-alive".to_vec(),
            },
            Header {
                name: "connection".into(),
                value: b" , UPGRADE".to_vec(),
            },
        ];
        assert!(has_token(&headers, "Connection", "upgrade"));
        assert!(!has_token(&headers, "Connection", "close"));
        assert!(!has_token(&headers, "Upgrade", "websocket"));
    }

    #[test]
    fn head_end_is_found_across_splits() {
        let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        for split in 0..head.len() {
            let mut buffer = HeadBuffer::new(Limits::default());
            let first = buffer.feed(&head[..split]).unwrap();
            let (h, left) = match first {
                // Complete already: the rest of the input goes straight to the connection.
                Some((h, mut left)) => {
                    left.extend_from_slice(&head[split..]);
                    (h, left)
                }
                None => buffer.feed(&head[split..]).unwrap().unwrap(),
            };
            assert_eq!(&h[..], &head[..head.len() - 4], "split at {split}");
            assert_eq!(&left[..], b"rest");
        }
    }

    #[test]
    fn bare_lf_ends_a_head() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nx", 0), Ok(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n", 0), Err(15));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r", 0), Err(15));
    }

    #[test]
    fn head_of_exactly_the_limit_is_accepted() {
        let head = b"GET / HTTP/1.1\r\n\r\n";
        let limits = Limits {
            max_head_size: head.len(),
            max_headers: 4,
        };
        let mut buffer = HeadBuffer::new(limits);
        assert!(buffer.feed(head).unwrap().is_some());
        let mut buffer = HeadBuffer::new(Limits {
            max_head_size: head.len() - 1,
            ..limits
        });
        assert_eq!(
            buffer.feed(head),
            Err(HandshakeError::HeadTooLarge {
                limit: head.len() - 1
            })
        );
        assert_eq!(buffer.feed(b"x"), Err(HandshakeError::Finished));
    }

    #[test]
    fn header_validation() {
        assert!(is_token(b"X-Custom_1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"Bad Name"));
        assert!(!is_token(b"a:b"));
        assert!(is_field_value("v\talue é".as_bytes()));
        assert!(!is_field_value(b"a\r\nInjected: 1"));
    }
}
