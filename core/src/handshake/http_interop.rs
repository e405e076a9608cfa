//! Conversions to and from the `http` crate's types (feature `http`), so servers built on hyper
//! or axum run the very same [`Upgrader`] checks, and HTTP clients the same response checks.
//!
//! The `http` types do not keep the order of differently named headers (a `HeaderMap` groups
//! values by name); nothing in the handshake depends on that order.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::{
    Accepted, ClientHandshake, Connected, HandshakeError, Header, Rejection, Request, Response,
    Upgrader, trim,
};

/// Copies an `http` header map into our header list.
fn own_headers(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: trim(value.as_bytes()).to_vec(),
        })
        .collect()
}

/// Our minor-version number for an HTTP/1.x version; `None` for HTTP/0.9, 2 and 3, over which
/// this handshake cannot run.
fn minor_version(version: Version) -> Option<u8> {
    match version {
        Version::HTTP_10 => Some(0),
        Version::HTTP_11 => Some(1),
        _ => None,
    }
}

impl Request {
    /// Builds a [`Request`] from an `http` request's method, URI, version and headers.
    ///
    /// Fails with [`HandshakeError::NotHttp11`] for HTTP versions other than 1.x.
    pub fn from_http_parts(
        method: &Method,
        uri: &Uri,
        version: Version,
        headers: &HeaderMap,
    ) -> Result<Request, HandshakeError> {
        Ok(Request {
            method: method.as_str().to_owned(),
            target: uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned(),
            version: minor_version(version).ok_or(HandshakeError::NotHttp11)?,
            headers: own_headers(headers),
        })
    }
}

impl Response {
    /// Builds a [`Response`] from an `http` response's status, version and headers.
    ///
    /// Fails with [`HandshakeError::NotHttp11`] for HTTP versions other than 1.x.
    pub fn from_http<B>(response: &http::Response<B>) -> Result<Response, HandshakeError> {
        let status = response.status();
        Ok(Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_owned(),
            version: minor_version(response.version()).ok_or(HandshakeError::NotHttp11)?,
            headers: own_headers(response.headers()),
        })
    }
}

impl Upgrader {
    /// Runs [`Upgrader::upgrade`] on an `http` request (hyper, axum). The body is ignored:
    /// an upgrade request has none.
    ///
    /// Answer with [`Accepted::to_http_response`] and then take over the upgraded connection
    /// (`hyper::upgrade::on`), or with [`Rejection::to_http_response_with_body`].
    pub fn upgrade_http<B>(&self, request: &http::Request<B>) -> Result<Accepted, Rejection> {
        let request = Request::from_http_parts(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
        )?;
        self.upgrade(&request)
    }

    /// As [`Upgrader::upgrade_http`], for the parts of a request split with `into_parts`.
    pub fn upgrade_parts(&self, parts: &http::request::Parts) -> Result<Accepted, Rejection> {
        let request =
            Request::from_http_parts(&parts.method, &parts.uri, parts.version, &parts.headers)?;
        self.upgrade(&request)
    }
}

/// Appends a header that was validated when it was stored; a failed conversion cannot
/// happen and is skipped rather than unwrapped, so no input can cause a panic.
fn append(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.append(name, value);
    }
}

impl Accepted {
    /// The 101 response as an `http::Response`, with the same headers as
    /// [`Accepted::response_bytes`].
    pub fn to_http_response(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        append(headers, "upgrade", "websocket");
        append(headers, "connection", "Upgrade");
        append(headers, "sec-websocket-accept", self.accept_key());
        if let Some(protocol) = self.protocol() {
            append(headers, "sec-websocket-protocol", protocol);
        }
        if let Some(extensions) = self.extensions() {
            append(headers, "sec-websocket-extensions", extensions);
        }
        for (name, value) in self.headers() {
            append(headers, name, value);
        }
        response
    }
}

impl Rejection {
    /// The rejection's status and headers (with `Connection: close`) as an `http::Response`
    /// without a body. Prefer [`Rejection::to_http_response_with_body`] to tell the peer why.
    pub fn to_http_response(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        append(headers, "connection", "close");
        for (name, value) in self.headers() {
            append(headers, name, value);
        }
        response
    }

    /// The whole rejection as an `http::Response` whose body is the short text reason: any
    /// body type that can be made from a `String` (`String`, `Bytes`, hyper's `Full`,
    /// axum's `Body`).
    pub fn to_http_response_with_body<B: From<String>>(&self) -> http::Response<B> {
        let body = self.body();
        let (mut parts, ()) = self.to_http_response().into_parts();
        append(
            &mut parts.headers,
            "content-type",
            "text/plain; charset=utf-8",
        );
        append(
            &mut parts.headers,
            "content-length",
            &body.len().to_string(),
        );
        http::Response::from_parts(parts, B::from(body))
    }
}

impl ClientHandshake {
    /// The opening request as an `http::Request`, for sending through an HTTP client library.
    ///
    /// The URI is the request target (path and query), as an HTTP/1.1 client writes it on an
    /// already open connection. Fails with [`HandshakeError::InvalidUrl`] if the `http` crate
    /// refuses the target.
    pub fn to_http_request(&self) -> Result<http::Request<()>, HandshakeError> {
        let uri = Uri::try_from(self.url().resource())
            .map_err(|_| HandshakeError::InvalidUrl("target not accepted by the http crate"))?;
        let mut request = http::Request::new(());
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        for (name, value) in self.request_headers() {
            append(request.headers_mut(), name, value);
        }
        Ok(request)
    }

    /// Runs [`ClientHandshake::check_response`] on an `http` response.
    pub fn check_http_response<B>(
        &self,
        response: &http::Response<B>,
    ) -> Result<Connected, HandshakeError> {
        self.check_response(Response::from_http(response)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::reason_phrase;

    #[test]
    fn reason_phrases_agree_with_http() {
        for status in [101, 400, 403, 405, 426, 431, 500] {
            let code = StatusCode::from_u16(status).unwrap();
            assert_eq!(code.canonical_reason(), Some(reason_phrase(status)));
        }
    }
}
