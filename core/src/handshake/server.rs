//! The server side: checking an opening request and answering it with a 101 or an HTTP error.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, Bytes, BytesMut};

use super::{
    HandshakeError, Limits, Parsed, Request, RequestParser, accept_key, has_token, is_field_value,
    is_token, reason_phrase, split_list, trim, values,
};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::deflate::{DeflateParams, negotiate_server};

/// A pool of write buffers shared by connections, as gorilla/websocket's `WriteBufferPool`.
///
/// Many mostly idle connections each holding a write buffer waste memory; with a pool a runtime
/// takes a buffer only while it has something to write and returns it afterwards. The core
/// never calls the pool: it only carries the setting from the [`Upgrader`] to the runtime.
pub trait BufferPool: Send + Sync {
    /// Takes a buffer, or `None` when the pool is empty (the runtime then allocates one of
    /// [`Upgrader::write_buffer_size`] bytes).
    fn get(&self) -> Option<BytesMut>;
    /// Returns a buffer the runtime no longer needs.
    fn put(&self, buffer: BytesMut);
}

/// A hook that sees the whole request (path, query, headers) and may refuse it, for routing
/// and authentication before the connection is upgraded.
pub type RequestCheck = Arc<dyn Fn(&Request) -> Result<(), Rejection> + Send + Sync>;

/// A hook called with each request header (name, value) that may refuse the request.
pub type HeaderCheck = Arc<dyn Fn(&str, &[u8]) -> Result<(), Rejection> + Send + Sync>;

/// How the server decides whether to accept a request's `Origin`, as gorilla's `CheckOrigin`.
///
/// Browsers send `Origin` on cross-site WebSocket requests but do not apply the same-origin
/// policy to them, so without this check any web page could open a connection with the user's
/// cookies (cross-site WebSocket hijacking).
#[derive(Clone, Default)]
pub enum CheckOrigin {
    /// Accept a request without `Origin` (not from a browser), or whose single `Origin` has a
    /// host and port equal to the `Host` header, ignoring ASCII case. Ports are compared as
    /// written: `http://a.com` does not match `Host: a.com:80`.
    #[default]
    SameHost,
    /// Accept exactly when the closure returns true.
    Custom(Arc<dyn Fn(&Request) -> bool + Send + Sync>),
}

impl CheckOrigin {
    /// Wraps a closure as a custom check.
    pub fn custom(check: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Self {
        CheckOrigin::Custom(Arc::new(check))
    }

    /// Whether `request` passes this check.
    pub fn allows(&self, request: &Request) -> bool {
        match self {
            CheckOrigin::SameHost => same_host(request),
            CheckOrigin::Custom(check) => check(request),
        }
    }
}

impl fmt::Debug for CheckOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckOrigin::SameHost => f.write_str("SameHost"),
            CheckOrigin::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The default origin check: see [`CheckOrigin::SameHost`].
fn same_host(request: &Request) -> bool {
    let mut origins = request.header_values("Origin");
    let Some(origin) = origins.next() else {
        return true;
    };
    if origins.next().is_some() {
        return false;
    }
    let (Some(authority), Some(host)) = (origin_authority(origin), request.header("Host")) else {
        return false;
    };
    authority.eq_ignore_ascii_case(host)
}

/// The host[:port] of a serialized origin such as `https://example.com:8443`; `None` for
/// `null` or anything without a scheme.
fn origin_authority(origin: &[u8]) -> Option<&[u8]> {
    let start = origin.windows(3).position(|w| w == b"://")? + 3;
    let rest = &origin[start..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    // Origins carry no user info, but a URL might: what follows the last `@` is the host.
    let authority = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    (!authority.is_empty()).then_some(authority)
}

/// The server's handshake settings, named as gorilla/websocket names them, and the checks
/// that turn a [`Request`] into an [`Accepted`] upgrade or a [`Rejection`].
///
/// Build one per listener and share it (it is `Clone`, hooks are `Arc`s). Fields are public;
/// the `with_*` methods are shorthands for setting them.
#[derive(Clone)]
pub struct Upgrader {
    /// Size of the buffer the runtime reads the socket into. Default 4096.
    pub read_buffer_size: usize,
    /// Size of the buffer the runtime batches writes in. Default 4096.
    pub write_buffer_size: usize,
    /// Where runtimes take write buffers from, instead of one per connection. Default none.
    pub write_buffer_pool: Option<Arc<dyn BufferPool>>,
    /// Subprotocols this server speaks, most preferred first. The first one the client also
    /// offered is chosen; none is chosen if they share none (the client then decides whether
    /// to go on). Compared exactly, as RFC 6455 tokens are.
    pub subprotocols: Vec<String>,
    /// The `Origin` policy; the default refuses cross-origin requests with 403.
    pub check_origin: CheckOrigin,
    /// Settings of the connections this upgrader accepts: limits, timeouts, and in
    /// `config.deflate` whether to negotiate permessage-deflate (gorilla's
    /// `EnableCompression`, default off) and at which level.
    pub config: Config,
    /// A hook that may refuse a request (for its path, query, credentials). Runs after the
    /// protocol checks. Default none.
    pub check_request: Option<RequestCheck>,
    /// A hook called with each header that may refuse the request. Default none.
    pub check_header: Option<HeaderCheck>,
    /// Headers added to every 101 response (`Set-Cookie`, ...). Headers the handshake writes
    /// itself are not allowed here.
    pub response_headers: Vec<(String, String)>,
    /// Size limits on the request head.
    pub limits: Limits,
}

impl Default for Upgrader {
    fn default() -> Self {
        Upgrader {
            read_buffer_size: 4096,
            write_buffer_size: 4096,
            write_buffer_pool: None,
            subprotocols: Vec::new(),
            check_origin: CheckOrigin::SameHost,
            config: Config::default(),
            check_request: None,
            check_header: None,
            response_headers: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl fmt::Debug for Upgrader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrader")
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field(
                "write_buffer_pool",
                &self.write_buffer_pool.as_ref().map(|_| ".."),
            )
            .field("subprotocols", &self.subprotocols)
            .field("check_origin", &self.check_origin)
            .field("config", &self.config)
            .field("check_request", &self.check_request.as_ref().map(|_| ".."))
            .field("check_header", &self.check_header.as_ref().map(|_| ".."))
            .field("response_headers", &self.response_headers)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Headers the 101 response writes itself; settings and hooks may not add them again.
const RESERVED_101: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// Headers a rejection writes itself.
const RESERVED_REJECTION: &[&str] = &[
    "Content-Type",
    "Content-Length",
    "Connection",
    "Transfer-Encoding",
];

/// Checks that a header can be written (valid name and value, not one we write ourselves).
fn check_header_line(name: &str, value: &str, reserved: &[&str]) -> Result<(), HandshakeError> {
    if is_token(name.as_bytes())
        && is_field_value(value.as_bytes())
        && !reserved.iter().any(|r| r.eq_ignore_ascii_case(name))
    {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader(name.to_owned()))
    }
}

impl Upgrader {
    /// An upgrader with the default settings.
    pub fn new() -> Self {
        Upgrader::default()
    }

    /// Sets [`Upgrader::subprotocols`], most preferred first.
    pub fn with_subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the origin check with a closure returning whether to accept.
    pub fn with_check_origin(
        mut self,
        check: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.check_origin = CheckOrigin::custom(check);
        self
    }

    /// Sets [`Upgrader::check_request`].
    pub fn with_check_request(
        mut self,
        check: impl Fn(&Request) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.check_request = Some(Arc::new(check));
        self
    }

    /// Sets [`Upgrader::check_header`].
    pub fn with_check_header(
        mut self,
        check: impl Fn(&str, &[u8]) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.check_header = Some(Arc::new(check));
        self
    }

    /// Adds a header to every 101 response.
    pub fn with_response_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`Upgrader::limits`].
    /// Turns permessage-deflate negotiation on or off (gorilla's `EnableCompression`).
    pub fn with_compression(mut self, enabled: bool) -> Self {
        self.config.deflate.enabled = enabled;
        self
    }

    /// Sets the settings of accepted connections.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the limits on the request head.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A parser for the request head with this upgrader's limits.
    pub fn request_parser(&self) -> RequestParser {
        RequestParser::new(self.limits)
    }

    /// Checks an opening request and prepares the 101 answer, or says why and how to refuse.
    /// Decides whether `request` is a WebSocket upgrade this server accepts.
    ///
    /// Checks, in order: GET (405), HTTP/1.1 (400), one `Host` (400), `Upgrade: websocket`
    /// (400), `Connection: upgrade` (400), `Sec-WebSocket-Version: 13` (426), a single
    /// `Sec-WebSocket-Key` of 16 bytes (400), the origin (403), the request hook, the header
    /// hook; then chooses the subprotocol and collects the extension offers.
    pub fn upgrade(&self, request: &Request) -> Result<Accepted, Rejection> {
        if request.method != "GET" {
            return Err(HandshakeError::MethodNotAllowed.into());
        }
        if request.version != 1 {
            return Err(HandshakeError::NotHttp11.into());
        }
        match request.header_values("Host").count() {
            0 => return Err(HandshakeError::MissingHost.into()),
            1 => {}
            _ => return Err(HandshakeError::Malformed("more than one Host header").into()),
        }
        if !has_token(&request.headers, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade.into());
        }
        if !has_token(&request.headers, "Connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade.into());
        }
        if !has_token(&request.headers, "Sec-WebSocket-Version", super::VERSION) {
            return Err(HandshakeError::UnsupportedVersion.into());
        }
        let key = client_key(request)?;
        if !self.check_origin.allows(request) {
            return Err(HandshakeError::OriginRejected.into());
        }
        if let Some(check) = &self.check_request {
            check(request)?;
        }
        if let Some(check) = &self.check_header {
            for header in &request.headers {
                check(&header.name, &header.value)?;
            }
        }
        for (name, value) in &self.response_headers {
            check_header_line(name, value, RESERVED_101)?;
        }

        let mut extension_offers = Vec::new();
        for value in values(&request.headers, "Sec-WebSocket-Extensions") {
            let value = std::str::from_utf8(value)
                .map_err(|_| HandshakeError::BadHeaderValue("Sec-WebSocket-Extensions"))?;
            if !value.is_empty() {
                extension_offers.push(value.to_owned());
            }
        }

        let offers: Vec<&str> = extension_offers.iter().map(String::as_str).collect();
        let (deflate, extensions) = match negotiate_server(&offers, &self.config.deflate) {
            Some((params, response)) => (Some(params), Some(response)),
            None => (None, None),
        };
        Ok(Accepted {
            accept: accept_key(key),
            protocol: self.choose_protocol(request),
            extension_offers,
            extensions,
            deflate,
            headers: self.response_headers.clone(),
        })
    }

    /// The first of our subprotocols that the client offered, in our order of preference.
    fn choose_protocol(&self, request: &Request) -> Option<String> {
        // One pass over the client's offers, then one lookup per server protocol.
        let offered: Vec<&[u8]> = values(&request.headers, "Sec-WebSocket-Protocol")
            .flat_map(split_list)
            .collect();
        self.subprotocols
            .iter()
            .find(|ours| offered.contains(&ours.as_bytes()))
            .cloned()
    }

    /// The server connection for an accepted upgrade, with this upgrader's settings and the
    /// negotiated extensions, already holding the bytes that followed the request head.
    pub fn connection(&self, accepted: &Accepted, leftover: &[u8]) -> Connection {
        let mut connection =
            Connection::with_deflate(Role::Server, self.config.clone(), accepted.deflate);
        connection.receive(leftover);
        connection
    }

    /// Goes from raw socket bytes to an upgrade decision: parses with `parser` (made by
    /// [`Upgrader::request_parser`]), then runs [`Upgrader::upgrade`].
    ///
    /// On [`AcceptOutcome::Accepted`] write `accepted.response_bytes()` and hand `leftover` to
    /// the connection; on [`AcceptOutcome::Rejected`] write `rejection.to_bytes()` and close.
    pub fn accept_bytes(&self, parser: &mut RequestParser, bytes: &[u8]) -> AcceptOutcome {
        match parser.feed(bytes) {
            Ok(Parsed::Partial) => AcceptOutcome::NeedMore,
            Ok(Parsed::Complete {
                value: request,
                leftover,
            }) => match self.upgrade(&request) {
                Ok(accepted) => AcceptOutcome::Accepted {
                    accepted,
                    request,
                    leftover,
                },
                Err(rejection) => AcceptOutcome::Rejected(rejection),
            },
            Err(error) => AcceptOutcome::Rejected(error.into()),
        }
    }
}

/// The single `Sec-WebSocket-Key`, checked to be 16 bytes of base64.
fn client_key(request: &Request) -> Result<&[u8], HandshakeError> {
    let mut keys = request.header_values("Sec-WebSocket-Key");
    let key = keys.next().ok_or(HandshakeError::MissingKey)?;
    if keys.next().is_some() {
        return Err(HandshakeError::DuplicateKey);
    }
    let key = trim(key);
    // 16 bytes are 24 base64 characters; checking the length first keeps decoding bounded.
    if key.len() != 24 {
        return Err(HandshakeError::InvalidKey);
    }
    match BASE64.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(key),
        _ => Err(HandshakeError::InvalidKey),
    }
}

/// What [`Upgrader::accept_bytes`] decided.
#[derive(Debug)]
pub enum AcceptOutcome {
    /// The request head is incomplete: read more and call again with the same parser.
    NeedMore,
    /// The request is a valid upgrade.
    Accepted {
        /// The upgrade: write [`Accepted::response_bytes`] to the socket.
        accepted: Accepted,
        /// The request, for routing and the application.
        request: Request,
        /// Bytes after the request head: the client's first frames, for the connection.
        leftover: BytesMut,
    },
    /// The request is refused: write [`Rejection::to_bytes`], then close the socket.
    Rejected(Rejection),
}

/// A request that passed every check, and the 101 response to send.
///
/// The response is rendered late, by [`Accepted::response_bytes`], so that extension
/// negotiation (permessage-deflate) and the application can still add to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    accept: String,
    protocol: Option<String>,
    extension_offers: Vec<String>,
    extensions: Option<String>,
    deflate: Option<DeflateParams>,
    headers: Vec<(String, String)>,
}

impl Accepted {
    /// The `Sec-WebSocket-Accept` value for the client's key.
    pub fn accept_key(&self) -> &str {
        &self.accept
    }

    /// The chosen subprotocol, if any; sent as `Sec-WebSocket-Protocol`.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The raw value of each `Sec-WebSocket-Extensions` request header, in order.
    pub fn extension_offers(&self) -> &[String] {
        &self.extension_offers
    }

    /// The permessage-deflate parameters agreed, when the upgrader enables compression and the
    /// client offered something acceptable.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The `Sec-WebSocket-Extensions` value the response will carry, if any.
    pub fn extensions(&self) -> Option<&str> {
        self.extensions.as_deref()
    }

    /// Sets (or clears, with `None`) the response's `Sec-WebSocket-Extensions` value, for an
    /// extension the application negotiates itself. Clearing it also turns off the
    /// permessage-deflate that was agreed. Fails if the value cannot be written in a header.
    pub fn set_extensions(&mut self, value: Option<String>) -> Result<(), HandshakeError> {
        if value.is_none() {
            self.deflate = None;
        }
        if let Some(value) = &value {
            if value.is_empty() || !is_field_value(value.as_bytes()) {
                return Err(HandshakeError::InvalidHeader(
                    "Sec-WebSocket-Extensions".into(),
                ));
            }
        }
        self.extensions = value;
        Ok(())
    }

    /// The extra headers the response will carry.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Adds a header to the response. Fails if it is invalid or one the handshake writes itself.
    pub fn add_header(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), HandshakeError> {
        let (name, value) = (name.into(), value.into());
        check_header_line(&name, &value, RESERVED_101)?;
        self.headers.push((name, value));
        Ok(())
    }

    /// The complete `101 Switching Protocols` response head to write to the socket.
    pub fn response_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(160);
        out.put_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        out.put_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
        put_header(&mut out, "Sec-WebSocket-Accept", &self.accept);
        if let Some(protocol) = &self.protocol {
            put_header(&mut out, "Sec-WebSocket-Protocol", protocol);
        }
        if let Some(extensions) = &self.extensions {
            put_header(&mut out, "Sec-WebSocket-Extensions", extensions);
        }
        for (name, value) in &self.headers {
            put_header(&mut out, name, value);
        }
        out.put_slice(b"\r\n");
        out.freeze()
    }
}

fn put_header(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
}

/// A refused handshake: an HTTP error status, a short reason and extra headers, rendered by
/// [`Rejection::to_bytes`] as a complete response, so the peer learns why instead of seeing
/// the socket drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    error: HandshakeError,
    headers: Vec<(String, String)>,
}

impl Rejection {
    /// A refusal with `status` and a short `reason` (the response body), for hooks.
    ///
    /// A rejection must be an error: a status outside 400..=599 is replaced by 500.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        Rejection {
            error: HandshakeError::Refused {
                status,
                reason: reason.into(),
            },
            headers: Vec::new(),
        }
    }

    /// Adds a header (such as `WWW-Authenticate`). A header that cannot be written turns the
    /// rejection into a 500 naming it, rather than being sent broken or silently dropped.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match check_header_line(&name, &value, RESERVED_REJECTION) {
            Ok(()) => self.headers.push((name, value)),
            Err(error) => {
                self.error = error;
                self.headers.clear();
            }
        }
        self
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.error.status().unwrap_or(500)
    }

    /// The short reason sent as the body.
    pub fn reason(&self) -> String {
        self.error.to_string()
    }

    /// Why the request was refused.
    pub fn error(&self) -> &HandshakeError {
        &self.error
    }

    /// The extra headers of the response.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The complete HTTP response: status line, headers, `Connection: close` and a
    /// `text/plain` body with the reason. Write it, then close the socket.
    pub fn to_bytes(&self) -> Bytes {
        let status = self.status();
        let body = self.body();
        let mut out = BytesMut::with_capacity(160 + body.len());
        out.put_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
        out.put_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
        out.put_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        out.put_slice(b"Connection: close\r\n");
        for (name, value) in &self.headers {
            put_header(&mut out, name, value);
        }
        out.put_slice(b"\r\n");
        out.put_slice(body.as_bytes());
        out.freeze()
    }

    /// The response body: the reason and a newline.
    pub fn body(&self) -> String {
        let mut body = self.reason();
        body.push('\n');
        body
    }
}

impl From<HandshakeError> for Rejection {
    /// The response for `error`, with the headers its status calls for: `Allow: GET` with 405,
    /// `Sec-WebSocket-Version: 13` with 426 (RFC 6455 section 4.4).
    fn from(error: HandshakeError) -> Self {
        let headers = match error {
            HandshakeError::MethodNotAllowed => vec![("Allow".into(), "GET".into())],
            HandshakeError::UnsupportedVersion => {
                vec![("Sec-WebSocket-Version".into(), super::VERSION.into())]
            }
            _ => Vec::new(),
        };
        Rejection { error, headers }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status(),
            reason_phrase(self.status()),
            self.error
        )
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::Header;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).into(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn origin_authority_forms() {
        assert_eq!(origin_authority(b"http://a.com"), Some(&b"a.com"[..]));
        assert_eq!(
            origin_authority(b"https://a.com:8443/x"),
            Some(&b"a.com:8443"[..])
        );
        assert_eq!(origin_authority(b"http://u@a.com"), Some(&b"a.com"[..]));
        assert_eq!(origin_authority(b"null"), None);
        assert_eq!(origin_authority(b"http://"), None);
    }

    #[test]
    fn same_host_rules() {
        assert!(same_host(&request(&[("Host", "a.com")])));
        assert!(same_host(&request(&[
            ("Host", "A.com:81"),
            ("Origin", "http://a.COM:81")
        ])));
        assert!(!same_host(&request(&[
            ("Host", "a.com:80"),
            ("Origin", "http://a.com")
        ])));
        assert!(!same_host(&request(&[
            ("Host", "a.com"),
            ("Origin", "http://b.com")
        ])));
        assert!(!same_host(&request(&[
            ("Host", "a.com"),
            ("Origin", "null")
        ])));
        assert!(!same_host(&request(&[("Origin", "http://a.com")])));
        let twice = [
            ("Host", "a.com"),
            ("Origin", "http://a.com"),
            ("Origin", "http://a.com"),
        ];
        assert!(!same_host(&request(&twice)));
    }

    #[test]
    fn rejection_rendering() {
        let bytes = Rejection::from(HandshakeError::UnsupportedVersion).to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        let body = "Sec-WebSocket-Version must be 13\n";
        assert!(text.ends_with(&format!(
            "Content-Length: {}\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n{body}",
            body.len()
        )));
    }

    #[test]
    fn hook_rejections_are_normalised() {
        assert_eq!(Rejection::new(200, "no").status(), 500);
        assert_eq!(Rejection::new(401, "who?").status(), 401);
        let bad = Rejection::new(401, "who?").with_header("WWW-Authenticate", "a\r\nX: y");
        assert_eq!(bad.status(), 500);
        assert!(bad.headers().is_empty());
        let reserved = Rejection::new(401, "x").with_header("content-length", "0");
        assert_eq!(
            reserved.error(),
            &HandshakeError::InvalidHeader("content-length".into())
        );
    }

    #[test]
    fn accepted_headers_are_validated() {
        let mut accepted = Upgrader::new()
            .upgrade(&request(&[
                ("Host", "a"),
                ("Upgrade", "websocket"),
                ("Connection", "upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]))
            .unwrap();
        assert!(accepted.add_header("Set-Cookie", "a=b").is_ok());
        assert!(accepted.add_header("Upgrade", "x").is_err());
        assert!(accepted.add_header("X", "\n").is_err());
        assert!(accepted.set_extensions(Some("\r".into())).is_err());
        accepted
            .set_extensions(Some("permessage-deflate".into()))
            .unwrap();
        let bytes = accepted.response_bytes();
        assert!(
            bytes.ends_with(
                b"Sec-WebSocket-Extensions: permessage-deflate\r\nSet-Cookie: a=b\r\n\r\n"
            )
        );
    }
}
