//! The server's answer to the opening request, parsed incrementally with httparse.

use bytes::BytesMut;

use super::{
    HandshakeError, HeadBuffer, Header, Limits, Parsed, describe, header_slots, own_headers, values,
};

/// A parsed HTTP/1.x response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, such as 101.
    pub status: u16,
    /// The reason phrase as sent (informational only; may be empty).
    pub reason: String,
    /// The minor version of HTTP/1.x: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The header fields in the order received.
    pub headers: Vec<Header>,
}

impl Response {
    /// Parses a response head from `bytes` in one go.
    ///
    /// Returns [`Parsed::Partial`] if the head is not complete yet; use a [`ResponseParser`] to
    /// continue with more bytes without rescanning.
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Parsed<Response>, HandshakeError> {
        ResponseParser::new(limits).feed(bytes)
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        values(&self.headers, name).next()
    }

    /// The values of every header called `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        values(&self.headers, name)
    }
}

/// Parses a response head fed in pieces as they arrive from the socket.
///
/// Linear in the total input however it is split: see [`Limits`] for the bounds applied.
#[derive(Debug)]
pub struct ResponseParser {
    head: HeadBuffer,
}

impl ResponseParser {
    /// Creates a parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ResponseParser {
            head: HeadBuffer::new(limits),
        }
    }

    /// Adds bytes read from the socket.
    ///
    /// Returns [`Parsed::Partial`] until the head is complete, then the response and any bytes
    /// that followed it (the server's first frames). Errors and completion are final; feeding
    /// afterwards returns [`HandshakeError::Finished`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Parsed<Response>, HandshakeError> {
        let Some((head, leftover)) = self.head.feed(bytes)? else {
            return Ok(Parsed::Partial);
        };
        let response = parse_head(&head, self.head.limits())?;
        Ok(Parsed::Complete {
            value: response,
            leftover,
        })
    }

    /// How many bytes are buffered while waiting for the end of the head.
    pub fn buffered(&self) -> usize {
        self.head.buffered()
    }
}

impl Default for ResponseParser {
    /// A parser with the default [`Limits`].
    fn default() -> Self {
        ResponseParser::new(Limits::default())
    }
}

/// Runs httparse over a complete head.
fn parse_head(head: &BytesMut, limits: Limits) -> Result<Response, HandshakeError> {
    let mut slots = vec![httparse::EMPTY_HEADER; header_slots(limits, head.len())];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("empty response")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(error) => return Err(describe(error)),
    }
    match (parsed.code, parsed.version) {
        (Some(status), Some(version)) => Ok(Response {
            status,
            reason: parsed.reason.unwrap_or_default().to_owned(),
            version,
            headers: own_headers(parsed.headers),
        }),
        _ => Err(HandshakeError::Malformed("incomplete status line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_leftover() {
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        match Response::parse(input, Limits::default()).unwrap() {
            Parsed::Complete { value, leftover } => {
                assert_eq!(value.status, 101);
                assert_eq!(value.reason, "Switching Protocols");
                assert_eq!(value.header("UPGRADE"), Some(&b"websocket"[..]));
                assert_eq!(&leftover[..], b"\x81\x00");
            }
            Parsed::Partial => panic!("expected a complete head"),
        }
    }

    #[test]
    fn too_many_headers() {
        let limits = Limits {
            max_headers: 1,
            ..Limits::default()
        };
        let input = b"HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        assert_eq!(
            Response::parse(input, limits).unwrap_err(),
            HandshakeError::TooManyHeaders { limit: 1 }
        );
    }
}
