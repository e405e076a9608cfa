//! # wsio-std
//!
//! Blocking WebSockets: [`wsio_core`]'s protocol engine driven over `std::io::Read + Write`.
//!
//! ```no_run
//! use wsio_std::{accept, Message};
//! use std::net::TcpListener;
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), wsio_std::Error> {
//!         let mut ws = accept(stream?)?;
//!         // Echo until the peer closes.
//!         while let Some(message) = ws.read_message()? {
//!             ws.send(message)?;
//!         }
//!         Ok(())
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Guarantees, as gorilla/websocket documents its own: one reader and one writer at a time
//! (use [`WebSocket::split`] for two threads); control frames and close are safe from either
//! half; pings are answered and closes echoed by default, at once, even when the application
//! only reads; every limit of [`Config`] holds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod io;
mod stream;
mod websocket;

use std::net::TcpStream;

pub use io::{Error, MessageReader, MessageWriter, Result};
pub use stream::{MaybeTlsStream, Stream, TryClone};
pub use websocket::{ReadHalf, WebSocket, WriteHalf};
pub use wsio_core::handshake::{ClientHandshake, ClientOptions, Request, Response, Upgrader};
pub use wsio_core::{
    CloseCode, CloseFrame, Config, DeflateConfig, Message, MessageKind, Payload, Utf8Bytes,
};

#[cfg(not(feature = "rustls"))]
use wsio_core::handshake::HandshakeError;
use wsio_core::handshake::{AcceptOutcome, Parsed};

use crate::io::Settings;

/// Accepts a WebSocket upgrade on `stream` with the default [`Upgrader`] (same-origin check,
/// no subprotocols, no compression).
pub fn accept<S: Stream>(stream: S) -> Result<WebSocket<S>> {
    accept_with(stream, &Upgrader::default()).map(|(ws, _)| ws)
}

/// Accepts a WebSocket upgrade on `stream` with `upgrader`'s settings, returning the connection
/// and the request (for its path, query and headers). A request the upgrader refuses gets its
/// HTTP error response before the error is returned.
///
/// Set a read timeout on the stream first to bound how long a slow client may take.
pub fn accept_with<S: Stream>(
    mut stream: S,
    upgrader: &Upgrader,
) -> Result<(WebSocket<S>, Request)> {
    let mut parser = upgrader.request_parser();
    let mut buf = vec![0; upgrader.read_buffer_size.max(512)];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        match upgrader.accept_bytes(&mut parser, &buf[..n]) {
            AcceptOutcome::NeedMore => {}
            AcceptOutcome::Accepted {
                accepted,
                request,
                leftover,
            } => {
                stream.write_all(&accepted.response_bytes())?;
                stream.flush()?;
                let settings = Settings {
                    read_buffer_size: upgrader.read_buffer_size.max(512),
                    write_buffer_size: upgrader.write_buffer_size.max(512),
                    read_timeout: None,
                };
                let conn = upgrader.connection(&accepted, &leftover);
                return Ok((WebSocket::with_settings(conn, stream, settings), request));
            }
            AcceptOutcome::Rejected(rejection) => {
                let _ = stream.write_all(&rejection.to_bytes());
                let _ = stream.flush();
                let _ = stream.shutdown();
                return Err(rejection.error().clone().into());
            }
        }
    }
}

/// Runs the client handshake `handshake` over an already connected `stream` (plain, TLS, or a
/// proxy tunnel), returning the connection and the server's response.
pub fn client<S: Stream>(
    mut stream: S,
    mut handshake: ClientHandshake,
) -> Result<(WebSocket<S>, Response)> {
    stream.write_all(&handshake.request_bytes())?;
    stream.flush()?;
    let mut buf = vec![0; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if let Parsed::Complete {
            value: connected,
            leftover,
        } = handshake.feed(&buf[..n])?
        {
            let conn = handshake.connection(&connected, &leftover);
            return Ok((WebSocket::from_connection(conn, stream), connected.response));
        }
    }
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with default options.
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    connect_with(url, ClientOptions::default())
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with `options` (subprotocols,
/// headers, compression, limits).
pub fn connect_with(
    url: &str,
    options: ClientOptions,
) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    let handshake = ClientHandshake::new(url, options)?;
    let host = handshake.url().host().to_owned();
    let tcp = TcpStream::connect((host.as_str(), handshake.url().port()))?;
    tcp.set_nodelay(true)?;
    let stream = if handshake.needs_tls() {
        tls_stream(tcp, &host)?
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client(stream, handshake)
}

#[cfg(feature = "rustls")]
fn tls_stream(tcp: TcpStream, host: &str) -> Result<MaybeTlsStream> {
    tls::connect(tcp, host, tls::default_config())
}

#[cfg(not(feature = "rustls"))]
fn tls_stream(_tcp: TcpStream, _host: &str) -> Result<MaybeTlsStream> {
    Err(HandshakeError::UnsupportedScheme("wss (enable the `rustls` feature)".into()).into())
}

/// TLS through rustls (feature `rustls`).
#[cfg(feature = "rustls")]
pub mod tls {
    use std::net::TcpStream;
    use std::sync::Arc;

    use crate::{MaybeTlsStream, Result};

    /// A client configuration trusting the Mozilla root certificates (webpki-roots).
    pub fn default_config() -> Arc<rustls::ClientConfig> {
        wsio_core::tls::default_client_config()
    }

    /// Wraps a connected socket in a TLS session to `host` with `config`.
    pub fn connect(
        tcp: TcpStream,
        host: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<MaybeTlsStream> {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        Ok(MaybeTlsStream::Rustls(Box::new(rustls::StreamOwned::new(
            conn, tcp,
        ))))
    }

    /// Connects to a `wss://` URL with a TLS configuration of the caller's (custom roots, client
    /// certificates).
    pub fn connect_with_config(
        url: &str,
        options: crate::ClientOptions,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<(crate::WebSocket<MaybeTlsStream>, crate::Response)> {
        let handshake = crate::ClientHandshake::new(url, options)?;
        let host = handshake.url().host().to_owned();
        let tcp = TcpStream::connect((host.as_str(), handshake.url().port()))?;
        tcp.set_nodelay(true)?;
        let stream = if handshake.needs_tls() {
            connect(tcp, &host, config)?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        crate::client(stream, handshake)
    }
}
