//! The client side: building the opening request for a `ws://` or `wss://` URL and checking
//! the server's answer.

use std::net::Ipv6Addr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, Bytes, BytesMut};

use super::{
    HandshakeError, Limits, Parsed, Response, ResponseParser, accept_key, has_token,
    is_field_value, is_token, split_list, trim, values,
};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::deflate::{DeflateParams, EXTENSION_NAME, accept_response, client_offer};
use crate::rng::Rng;

/// A parsed `ws://` or `wss://` URL: where to connect and what to put in the request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    tls: bool,
    host: String,
    port: u16,
    resource: String,
    host_header: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path][?query]` or the same with `wss`.
    ///
    /// The scheme is case-insensitive; IPv6 literals go in brackets (`ws://[::1]:9001/`); an
    /// empty path becomes `/`. Refused, each with a reason: other schemes, user info,
    /// fragments (RFC 6455 section 3 forbids them), bad ports, and anything that is not
    /// printable ASCII (percent-encode first), so nothing can break the request line.
    pub fn parse(url: &str) -> Result<WsUrl, HandshakeError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(HandshakeError::InvalidUrl("missing scheme"))?;
        let tls = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(HandshakeError::UnsupportedScheme(scheme.to_owned()));
        };
        if !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HandshakeError::InvalidUrl(
                "not printable ASCII (percent-encode it)",
            ));
        }
        if rest.contains('#') {
            return Err(HandshakeError::InvalidUrl("fragments are not allowed"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        let resource = match resource.as_bytes().first() {
            None => "/".to_owned(),
            Some(b'?') => format!("/{resource}"),
            Some(_) => resource.to_owned(),
        };
        if authority.contains('@') {
            return Err(HandshakeError::InvalidUrl("user info is not supported"));
        }

        let (host, bracketed, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inner, after) = v6
                .split_once(']')
                .ok_or(HandshakeError::InvalidUrl("unclosed IPv6 bracket"))?;
            if inner.parse::<Ipv6Addr>().is_err() {
                return Err(HandshakeError::InvalidUrl("invalid IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or(HandshakeError::InvalidUrl("junk after IPv6 address"))?,
                ),
            };
            (inner, true, port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let host_byte_ok =
                |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
            if !host.bytes().all(host_byte_ok) {
                return Err(HandshakeError::InvalidUrl("invalid character in host"));
            }
            (host, false, port)
        };
        if host.is_empty() {
            return Err(HandshakeError::InvalidUrl("missing host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = match port {
            // `host:` with an empty port means the default (RFC 3986 section 3.2.3).
            None | Some("") => default_port,
            Some(digits) => parse_port(digits)?,
        };

        let mut host_header = if bracketed {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        if port != default_port {
            host_header.push_str(&format!(":{port}"));
        }
        Ok(WsUrl {
            tls,
            host: host.to_owned(),
            port,
            resource,
            host_header,
        })
    }

    /// Whether the connection needs TLS (`wss`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host to connect to (and for TLS server name), without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to, the scheme's default (80 or 443) when none was given.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query, at least `/`.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value: the host, bracketed if IPv6, with the port unless it is the
    /// scheme's default.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }
}

fn parse_port(digits: &str) -> Result<u16, HandshakeError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HandshakeError::InvalidUrl("port is not a number"));
    }
    match digits.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(HandshakeError::InvalidUrl("port out of range")),
    }
}

/// What a client offers and adds to its opening request.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Subprotocols to offer, in our order of preference (`Sec-WebSocket-Protocol`).
    pub protocols: Vec<String>,
    /// Extra request headers (`Origin`, `Authorization`, `Cookie`, ...). A `Host` here
    /// replaces the one derived from the URL; the WebSocket headers cannot be set this way.
    pub headers: Vec<(String, String)>,
    /// Extension offers, each a `Sec-WebSocket-Extensions` element such as
    /// `permessage-deflate; client_max_window_bits`, most preferred first.
    pub extensions: Vec<String>,
    /// Settings of the connection: limits, timeouts, and in `config.deflate` whether to offer
    /// permessage-deflate. Its `key_source` also draws the random `Sec-WebSocket-Key` (the OS
    /// CSPRNG by default; a seeded source only for tests).
    pub config: Config,
    /// Size limits on the response head.
    pub limits: Limits,
}

/// Request headers the handshake writes itself; [`ClientOptions::headers`] may not repeat them.
const RESERVED_REQUEST: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// A successful client handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// The subprotocol the server chose, one of those offered, if any.
    pub protocol: Option<String>,
    /// Each extension the server accepted, as sent (name and parameters), in order. Every
    /// name was offered; checking the parameters is up to the extension's negotiation.
    pub extensions: Vec<String>,
    /// The whole response, for headers such as `Set-Cookie`.
    pub response: Response,
    /// The permessage-deflate parameters agreed, if the server accepted our offer.
    pub deflate: Option<DeflateParams>,
}

/// The client half of the opening handshake, sans-IO.
///
/// Create it for a URL, write [`ClientHandshake::request_bytes`] to the socket (after TLS if
/// [`ClientHandshake::needs_tls`]), then [`ClientHandshake::feed`] what the socket returns
/// until it completes.
#[derive(Debug)]
pub struct ClientHandshake {
    url: WsUrl,
    key: String,
    accept: String,
    request: Bytes,
    /// The request's header lines in order.
    lines: Vec<(String, String)>,
    protocols: Vec<String>,
    /// Names of the offered extensions, for checking the server's choice.
    extension_names: Vec<String>,
    parser: ResponseParser,
    config: Config,
}

impl ClientHandshake {
    /// Parses `url`, draws a random key and builds the request.
    ///
    /// Fails on an unusable URL ([`HandshakeError::InvalidUrl`],
    /// [`HandshakeError::UnsupportedScheme`]) or an option that cannot be written into the
    /// request ([`HandshakeError::InvalidHeader`]). With [`KeySource::Os`] this panics only if
    /// the operating system has no working random source (see [`Rng::fill`]).
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, HandshakeError> {
        Self::for_url(WsUrl::parse(url)?, options)
    }

    /// As [`ClientHandshake::new`], for an already parsed URL.
    pub fn for_url(url: WsUrl, options: ClientOptions) -> Result<Self, HandshakeError> {
        let invalid = |name: &str| HandshakeError::InvalidHeader(name.to_owned());
        if !options.protocols.iter().all(|p| is_token(p.as_bytes())) {
            return Err(invalid("Sec-WebSocket-Protocol"));
        }
        let mut extension_names = Vec::new();
        let mut offers = options.extensions.clone();
        offers.extend(client_offer(&options.config.deflate));
        for offer in &offers {
            if !is_field_value(offer.as_bytes()) || split_list(offer.as_bytes()).next().is_none() {
                return Err(invalid("Sec-WebSocket-Extensions"));
            }
            for element in split_list(offer.as_bytes()) {
                let name = extension_name(element);
                if !is_token(name) {
                    return Err(invalid("Sec-WebSocket-Extensions"));
                }
                // is_token guarantees ASCII, so this is lossless.
                extension_names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        let mut host = url.host_header().to_owned();
        for (name, value) in &options.headers {
            let reserved = RESERVED_REQUEST
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name));
            if reserved || !is_token(name.as_bytes()) || !is_field_value(value.as_bytes()) {
                return Err(invalid(name));
            }
            if name.eq_ignore_ascii_case("Host") {
                host = value.clone();
            }
        }

        let mut nonce = [0u8; 16];
        Rng::new(options.config.key_source.clone()).fill(&mut nonce);
        let key = BASE64.encode(nonce);

        // The request's header lines, kept so the `http` interop can build the same request.
        let mut lines: Vec<(String, String)> = vec![
            ("Host".into(), host),
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("Sec-WebSocket-Key".into(), key.clone()),
            ("Sec-WebSocket-Version".into(), super::VERSION.into()),
        ];
        if !options.protocols.is_empty() {
            lines.push((
                "Sec-WebSocket-Protocol".into(),
                options.protocols.join(", "),
            ));
        }
        if !offers.is_empty() {
            lines.push(("Sec-WebSocket-Extensions".into(), offers.join(", ")));
        }
        for (name, value) in options.headers {
            if !name.eq_ignore_ascii_case("Host") {
                lines.push((name, value));
            }
        }

        let mut out = BytesMut::with_capacity(256);
        out.put_slice(format!("GET {} HTTP/1.1\r\n", url.resource()).as_bytes());
        for (name, value) in &lines {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");

        Ok(ClientHandshake {
            accept: accept_key(&key),
            key,
            request: out.freeze(),
            lines,
            protocols: options.protocols,
            extension_names,
            parser: ResponseParser::new(options.limits),
            url,
            config: options.config,
        })
    }

    /// The opening request to write to the socket.
    pub fn request_bytes(&self) -> Bytes {
        self.request.clone()
    }

    /// The request's header fields in the order written, as in
    /// [`ClientHandshake::request_bytes`].
    pub fn request_headers(&self) -> &[(String, String)] {
        &self.lines
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URL connected to.
    pub fn url(&self) -> &WsUrl {
        &self.url
    }

    /// Whether the socket must be wrapped in TLS before the request is written (`wss`).
    pub fn needs_tls(&self) -> bool {
        self.url.is_tls()
    }

    /// Adds bytes read from the socket.
    ///
    /// Returns [`Parsed::Partial`] until the response head is complete, then checks it
    /// (see [`ClientHandshake::check_response`]). On success, `leftover` holds the bytes that
    /// followed the head (the server's first frames) for the connection. Errors are final.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Parsed<Connected>, HandshakeError> {
        match self.parser.feed(bytes)? {
            Parsed::Partial => Ok(Parsed::Partial),
            Parsed::Complete { value, leftover } => Ok(Parsed::Complete {
                value: self.check_response(value)?,
                leftover,
            }),
        }
    }

    /// Checks a response to our request: status 101 over HTTP/1.1, `Upgrade: websocket`,
    /// `Connection: upgrade`, the accept value for our key, and that the subprotocol and
    /// extensions chosen were offered. Public so that a response read by other means (an
    /// HTTP client library) gets the same checks.
    pub fn check_response(&self, response: Response) -> Result<Connected, HandshakeError> {
        if response.status != 101 {
            return Err(HandshakeError::BadStatus(response.status));
        }
        if response.version != 1 {
            return Err(HandshakeError::NotHttp11);
        }
        if !has_token(&response.headers, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !has_token(&response.headers, "Connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let mut accepts = values(&response.headers, "Sec-WebSocket-Accept");
        match (accepts.next(), accepts.next()) {
            (Some(accept), None) if trim(accept) == self.accept.as_bytes() => {}
            _ => return Err(HandshakeError::WrongAccept),
        }
        drop(accepts);
        let protocol = self.chosen_protocol(&response)?;
        let mut extensions = Vec::new();
        for value in values(&response.headers, "Sec-WebSocket-Extensions") {
            for element in split_list(value) {
                let name = extension_name(element);
                let offered = self
                    .extension_names
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
                let text = std::str::from_utf8(element);
                match (offered, text) {
                    (true, Ok(text)) => extensions.push(text.to_owned()),
                    _ => {
                        let name = String::from_utf8_lossy(name).into_owned();
                        return Err(HandshakeError::UnofferedExtension(name));
                    }
                }
            }
        }
        // permessage-deflate answers are checked against our offer; other extensions were
        // offered by the application, which checks their parameters itself.
        let deflate_answers: Vec<&str> = extensions
            .iter()
            .map(String::as_str)
            .filter(|e| {
                extension_name(e.as_bytes()).eq_ignore_ascii_case(EXTENSION_NAME.as_bytes())
            })
            .collect();
        let deflate = if self.config.deflate.enabled {
            accept_response(&deflate_answers, &self.config.deflate)
                .map_err(HandshakeError::Extension)?
        } else {
            None
        };
        Ok(Connected {
            protocol,
            extensions,
            response,
            deflate,
        })
    }

    /// The client connection after a successful handshake, with our settings and the
    /// negotiated extensions, already holding the bytes that followed the response head.
    pub fn connection(&self, connected: &Connected, leftover: &[u8]) -> Connection {
        let mut connection =
            Connection::with_deflate(Role::Client, self.config.clone(), connected.deflate);
        connection.receive(leftover);
        connection
    }

    /// The server's subprotocol: none, or exactly one that we offered.
    fn chosen_protocol(&self, response: &Response) -> Result<Option<String>, HandshakeError> {
        let mut headers = values(&response.headers, "Sec-WebSocket-Protocol");
        let Some(value) = headers.next() else {
            return Ok(None);
        };
        let unoffered =
            || HandshakeError::UnofferedProtocol(String::from_utf8_lossy(value).into_owned());
        if headers.next().is_some() {
            return Err(unoffered());
        }
        let value = trim(value);
        self.protocols
            .iter()
            .find(|p| p.as_bytes() == value)
            .map(|p| Some(p.clone()))
            .ok_or_else(unoffered)
    }
}

/// The name of an extension list element: what comes before its first `;`, trimmed.
fn extension_name(element: &[u8]) -> &[u8] {
    let end = element
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(element.len());
    trim(&element[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::KeySource;

    #[test]
    fn urls() {
        let url = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!(
            (url.host(), url.port(), url.resource()),
            ("example.com", 80, "/")
        );
        assert_eq!(url.host_header(), "example.com");
        assert!(!url.is_tls());

        let url = WsUrl::parse("WSS://example.com:443?x=1").unwrap();
        assert_eq!(
            (url.port(), url.resource(), url.host_header()),
            (443, "/?x=1", "example.com")
        );
        assert!(url.is_tls());

        let url = WsUrl::parse("ws://example.com:443/a/b?c").unwrap();
        assert_eq!(
            (url.resource(), url.host_header()),
            ("/a/b?c", "example.com:443")
        );

        let url = WsUrl::parse("wss://[::1]:9001/x").unwrap();
        assert_eq!(
            (url.host(), url.port(), url.host_header()),
            ("::1", 9001, "[::1]:9001")
        );
        let url = WsUrl::parse("ws://[2001:db8::1]").unwrap();
        assert_eq!(url.host_header(), "[2001:db8::1]");

        let url = WsUrl::parse("ws://127.0.0.1:/").unwrap();
        assert_eq!((url.port(), url.host_header()), (80, "127.0.0.1"));
    }

    #[test]
    fn bad_urls() {
        assert_eq!(
            WsUrl::parse("http://a/").unwrap_err(),
            HandshakeError::UnsupportedScheme("http".into())
        );
        for bad in [
            "example.com",
            "ws://",
            "ws:///path",
            "ws://a b/",
            "ws://a/b c",
            "ws://a/#frag",
            "ws://user@a/",
            "ws://a:0/",
            "ws://a:65536/",
            "ws://a:x/",
            "ws://a:1:2/",
            "ws://[::1/",
            "ws://[zz]/",
            "ws://[::1]x/",
            "ws://é/",
            "ws://a/\r\nX: y",
        ] {
            assert!(
                matches!(WsUrl::parse(bad), Err(HandshakeError::InvalidUrl(_))),
                "{bad} -> {:?}",
                WsUrl::parse(bad)
            );
        }
    }

    #[test]
    fn request_shape() {
        let options = ClientOptions {
            protocols: vec!["chat".into(), "superchat".into()],
            headers: vec![("Origin".into(), "http://example.com".into())],
            extensions: vec!["permessage-deflate; client_max_window_bits".into()],
            config: Config {
                key_source: KeySource::Seeded(1),
                ..Config::default()
            },
            limits: Limits::default(),
        };
        let client = ClientHandshake::new("ws://server.example.com:8080/chat", options).unwrap();
        let expected = format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
             Origin: http://example.com\r\n\r\n",
            client.key()
        );
        assert_eq!(client.request_bytes(), expected.as_bytes());
        assert_eq!(BASE64.decode(client.key()).unwrap().len(), 16);
    }

    #[test]
    fn keys_come_from_the_source() {
        let key = |source| {
            let options = ClientOptions {
                config: Config {
                    key_source: source,
                    ..Config::default()
                },
                ..ClientOptions::default()
            };
            ClientHandshake::new("ws://a/", options)
                .unwrap()
                .key()
                .to_owned()
        };
        assert_eq!(key(KeySource::Seeded(5)), key(KeySource::Seeded(5)));
        assert_ne!(key(KeySource::Seeded(5)), key(KeySource::Seeded(6)));
        assert_ne!(key(KeySource::Os), key(KeySource::Os));
    }

    #[test]
    fn host_override_and_invalid_options() {
        let options = ClientOptions {
            headers: vec![("host".into(), "proxy.example".into())],
            ..ClientOptions::default()
        };
        let client = ClientHandshake::new("ws://a/", options).unwrap();
        let request = client.request_bytes();
        let text = std::str::from_utf8(&request).unwrap();
        assert!(text.contains("\r\nHost: proxy.example\r\n"));
        assert_eq!(text.matches("ost: ").count(), 1);

        let bad = |options: ClientOptions| ClientHandshake::new("ws://a/", options).unwrap_err();
        let with_header = |n: &str, v: &str| ClientOptions {
            headers: vec![(n.into(), v.into())],
            ..ClientOptions::default()
        };
        assert!(matches!(
            bad(with_header("X", "a\r\nY: b")),
            HandshakeError::InvalidHeader(_)
        ));
        assert!(matches!(
            bad(with_header("Bad Name", "a")),
            HandshakeError::InvalidHeader(_)
        ));
        assert!(matches!(
            bad(with_header("Upgrade", "h2c")),
            HandshakeError::InvalidHeader(_)
        ));
        let protocols = ClientOptions {
            protocols: vec!["a b".into()],
            ..Default::default()
        };
        assert!(matches!(bad(protocols), HandshakeError::InvalidHeader(_)));
        let extensions = ClientOptions {
            extensions: vec![" , ".into()],
            ..Default::default()
        };
        assert!(matches!(bad(extensions), HandshakeError::InvalidHeader(_)));
    }
}
