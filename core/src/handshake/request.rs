//! The client's opening request, parsed incrementally with httparse.

use bytes::BytesMut;

use super::{
    HandshakeError, HeadBuffer, Header, Limits, Parsed, describe, header_slots, own_headers, values,
};

/// A parsed HTTP/1.x request head.
///
/// Owned, so it outlives the read buffer and can be handed to hooks and the application (for
/// routing on the path, cookies, authentication headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `GET`. Case-sensitive, as in HTTP.
    pub method: String,
    /// The request target as sent: path and query, such as `/chat?room=1`.
    pub target: String,
    /// The minor version of HTTP/1.x: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The header fields in the order received.
    pub headers: Vec<Header>,
}

impl Request {
    /// Parses a request head from `bytes` in one go.
    ///
    /// Returns [`Parsed::Partial`] if the head is not complete yet; then feed the bytes read so
    /// far and the next ones to a [`RequestParser`] instead of calling this again, which would
    /// scan from the start each time.
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Parsed<Request>, HandshakeError> {
        RequestParser::new(limits).feed(bytes)
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        values(&self.headers, name).next()
    }

    /// The values of every header called `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        values(&self.headers, name)
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }
}

/// Parses a request head fed in pieces as they arrive from the socket.
///
/// Linear in the total input however it is split: see [`Limits`] for the bounds applied.
#[derive(Debug)]
pub struct RequestParser {
    head: HeadBuffer,
}

impl RequestParser {
    /// Creates a parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            head: HeadBuffer::new(limits),
        }
    }

    /// Adds bytes read from the socket.
    ///
    /// Returns [`Parsed::Partial`] until the head is complete, then the request and any bytes
    /// that followed it. Errors ([`HandshakeError::HeadTooLarge`] as soon as the head passes the
    /// size limit, [`HandshakeError::TooManyHeaders`], [`HandshakeError::Malformed`]) are final;
    /// so is completion: feeding afterwards returns [`HandshakeError::Finished`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Parsed<Request>, HandshakeError> {
        let Some((head, leftover)) = self.head.feed(bytes)? else {
            return Ok(Parsed::Partial);
        };
        let request = parse_head(&head, self.head.limits())?;
        Ok(Parsed::Complete {
            value: request,
            leftover,
        })
    }

    /// How many bytes are buffered while waiting for the end of the head.
    pub fn buffered(&self) -> usize {
        self.head.buffered()
    }
}

impl Default for RequestParser {
    /// A parser with the default [`Limits`].
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

/// Runs httparse over a complete head.
fn parse_head(head: &BytesMut, limits: Limits) -> Result<Request, HandshakeError> {
    let mut slots = vec![httparse::EMPTY_HEADER; header_slots(limits, head.len())];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        // The buffer ends with an empty line, so httparse only wants more when the head was
        // nothing but empty lines.
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("empty request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(error) => return Err(describe(error)),
    }
    match (parsed.method, parsed.path, parsed.version) {
        (Some(method), Some(target), Some(version)) => Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version,
            headers: own_headers(parsed.headers),
        }),
        _ => Err(HandshakeError::Malformed("incomplete request line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nX-Two:  spaced  \r\n\r\n";

    fn complete(parsed: Parsed<Request>) -> (Request, BytesMut) {
        match parsed {
            Parsed::Complete { value, leftover } => (value, leftover),
            Parsed::Partial => panic!("expected a complete head"),
        }
    }

    #[test]
    fn parses_fields() {
        let (request, leftover) = complete(Request::parse(SAMPLE, Limits::default()).unwrap());
        assert_eq!(request.method, "GET");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), Some("x=1"));
        assert_eq!(request.version, 1);
        assert_eq!(request.header("x-two"), Some(&b"spaced"[..]));
        assert!(leftover.is_empty());
    }

    #[test]
    fn partial_then_complete_then_finished() {
        let mut parser = RequestParser::default();
        assert!(matches!(
            parser.feed(&SAMPLE[..10]).unwrap(),
            Parsed::Partial
        ));
        assert_eq!(parser.buffered(), 10);
        let (_, leftover) = complete(parser.feed(&[&SAMPLE[10..], b"tail"].concat()).unwrap());
        assert_eq!(&leftover[..], b"tail");
        assert_eq!(parser.feed(b"x").unwrap_err(), HandshakeError::Finished);
    }

    #[test]
    fn only_empty_lines_is_malformed() {
        let error = Request::parse(b"\r\n\r\n", Limits::default()).unwrap_err();
        assert_eq!(error.status(), Some(400));
    }

    #[test]
    fn garbage_is_malformed() {
        for input in [
            &b"\x00\x01\n\n"[..],
            b"GET\n\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b": x\n\n",
        ] {
            let error = Request::parse(input, Limits::default()).unwrap_err();
            assert_eq!(error.status(), Some(400), "{input:?}: {error}");
        }
    }
}
