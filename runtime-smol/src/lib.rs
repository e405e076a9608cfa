//! # wsio-smol
//!
//! WebSockets on smol / async-io: [`wsio_core`]'s protocol engine driven over the futures-io
//! `AsyncRead + AsyncWrite` traits, with the same API as `wsio-tokio`.
//!
//! ```no_run
//! use smol::net::TcpListener;
//! use wsio_smol::accept;
//!
//! smol::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:9001").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         smol::spawn(async move {
//!             let mut ws = accept(stream).await?;
//!             while let Some(message) = ws.recv().await {
//!                 ws.send(message?).await?;
//!             }
//!             Ok::<_, wsio_smol::Error>(())
//!         })
//!         .detach();
//!     }
//! # #[allow(unreachable_code)] Ok::<_, wsio_smol::Error>(())
//! })?;
//! # Ok::<_, wsio_smol::Error>(())
//! ```
//!
//! The guarantees are those of `wsio-tokio`: one reader and one writer at a time (split for
//! two tasks), control frames and close safe from either half, automatic replies written while
//! the application waits in `recv`, `recv` cancel-safe, every limit of [`Config`] holds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod stream;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures_io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;

pub use stream::MaybeTlsStream;
pub use wsio_async::{Error, Result};
pub use wsio_core::handshake::{ClientHandshake, ClientOptions, Request, Response, Upgrader};
pub use wsio_core::{
    CloseCode, CloseFrame, Config, DeflateConfig, Message, MessageKind, Payload, PreparedMessage,
    Utf8Bytes,
};

/// A WebSocket over a futures-io stream `S`: see `wsio_async::WebSocketStream` for its methods
/// (`recv`, `send`, `feed`, `flush`, `ping`, `close`, `next_reader`, `next_writer`, `split`,
/// handlers) and its `Stream` + `Sink` implementations.
pub type WebSocketStream<S> = wsio_async::WebSocketStream<SmolTransport<S>, SmolTimer>;
/// The reading half of a split [`WebSocketStream`].
pub type ReadHalf<S> = wsio_async::ReadHalf<SmolTransport<S>, SmolTimer>;
/// The writing half of a split [`WebSocketStream`].
pub type WriteHalf<S> = wsio_async::WriteHalf<SmolTransport<S>, SmolTimer>;
pub use wsio_async::{MessageReader, MessageWriter};

/// A futures-io stream seen by the shared driver.
#[derive(Debug)]
pub struct SmolTransport<S>(S);

impl<S> SmolTransport<S> {
    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.0
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> wsio_async::Transport for SmolTransport<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// async-io's timer, seen by the shared driver.
#[derive(Debug)]
pub struct SmolTimer {
    timer: smol::Timer,
    deadline: Instant,
}

impl wsio_async::Timer for SmolTimer {
    fn at(at: Instant) -> Self {
        SmolTimer {
            timer: smol::Timer::at(at),
            deadline: at,
        }
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn reset(&mut self, at: Instant) {
        self.timer.set_at(at);
        self.deadline = at;
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::future::Future::poll(Pin::new(&mut self.timer), cx).map(|_| ())
    }
}

/// Accepts a WebSocket upgrade on `stream` with the default [`Upgrader`] (same-origin check,
/// no subprotocols, no compression).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<WebSocketStream<S>> {
    wsio_async::handshake::accept(SmolTransport(stream)).await
}

/// Accepts a WebSocket upgrade on `stream` with `upgrader`'s settings, returning the
/// connection and the request. A refused request gets its HTTP error response first.
pub async fn accept_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    upgrader: &Upgrader,
) -> Result<(WebSocketStream<S>, Request)> {
    wsio_async::handshake::accept_with(SmolTransport(stream), upgrader).await
}

/// Reads one HTTP request head within `upgrader`'s limits, for an application that routes
/// before deciding to upgrade. Returns the request and the bytes that followed it.
pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    upgrader: &Upgrader,
) -> Result<(Request, BytesMut)> {
    wsio_async::handshake::read_request(&mut SmolTransport(stream), upgrader).await
}

/// Completes (or refuses, with its HTTP response) the upgrade of a request read by
/// [`read_request`].
pub async fn accept_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    upgrader: &Upgrader,
    request: &Request,
    leftover: BytesMut,
) -> Result<WebSocketStream<S>> {
    wsio_async::handshake::accept_request(SmolTransport(stream), upgrader, request, leftover).await
}

/// Runs the client handshake over an already connected `stream`, returning the connection and
/// the server's response.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    handshake: ClientHandshake,
) -> Result<(WebSocketStream<S>, Response)> {
    wsio_async::handshake::client(SmolTransport(stream), handshake).await
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with default options.
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    connect_with(url, ClientOptions::default()).await
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with `options`.
pub async fn connect_with(
    url: &str,
    options: ClientOptions,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    let handshake = ClientHandshake::new(url, options)?;
    let host = handshake.url().host().to_owned();
    let tcp = TcpStream::connect((host.as_str(), handshake.url().port())).await?;
    tcp.set_nodelay(true)?;
    let stream = if handshake.needs_tls() {
        stream::tls_stream(tcp, &host).await?
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client(stream, handshake).await
}

/// TLS through futures-rustls (feature `rustls`).
#[cfg(feature = "rustls")]
pub mod tls {
    pub use crate::stream::tls::{connect, connect_with_config, default_config};
}
