//! # wsio-tokio
//!
//! WebSockets on tokio: [`wsio_core`]'s protocol engine driven over `AsyncRead + AsyncWrite`.
//!
//! ```no_run
//! use tokio::net::TcpListener;
//! use wsio_tokio::accept;
//!
//! # async fn run() -> Result<(), wsio_tokio::Error> {
//! let listener = TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut ws = accept(stream).await?;
//!         // Echo until the peer closes.
//!         while let Some(message) = ws.recv().await {
//!             ws.send(message?).await?;
//!         }
//!         Ok::<_, wsio_tokio::Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! Guarantees, as gorilla/websocket documents its own: one reader and one writer at a time
//! (use [`WebSocketStream::split`] for two tasks); control frames and close are safe from
//! either half; pings are answered and closes echoed by default while the application waits in
//! `recv`; `recv` is cancel-safe; every limit of [`Config`] holds.
// One `unsafe` block, in `TokioTransport::poll_read_buf` (reads into uninitialised capacity);
// everything else is safe code.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod stream;

#[cfg(feature = "hyper")]
pub mod hyper;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub use stream::MaybeTlsStream;
pub use wsio_async::{Error, MessageReader, MessageWriter, Result};

/// A WebSocket over a tokio stream `S`: see `wsio_async::WebSocketStream` for its methods
/// (`recv`, `send`, `feed`, `flush`, `ping`, `close`, `next_reader`, `next_writer`, `split`,
/// handlers) and its `Stream` + `Sink` implementations.
pub type WebSocketStream<S> = wsio_async::WebSocketStream<TokioTransport<S>, TokioTimer>;
/// The reading half of a split [`WebSocketStream`].
pub type ReadHalf<S> = wsio_async::ReadHalf<TokioTransport<S>, TokioTimer>;
/// The writing half of a split [`WebSocketStream`].
pub type WriteHalf<S> = wsio_async::WriteHalf<TokioTransport<S>, TokioTimer>;

/// A tokio stream seen by the shared driver.
#[derive(Debug)]
pub struct TokioTransport<S>(S);

impl<S> TokioTransport<S> {
    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.0
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> wsio_async::Transport for TokioTransport<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        Pin::new(&mut self.0)
            .poll_read(cx, &mut buf)
            .map_ok(|()| buf.filled().len())
    }

    /// Reads into the buffer's spare capacity without zero-filling it first: tokio's
    /// `ReadBuf` tracks which bytes the read initialised. Zero-filling a 64 KiB read for a
    /// burst of small frames cost more than the frames' own processing (measured in
    /// BENCHMARKS.md), and a small read means more system calls.
    #[allow(unsafe_code)]
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut bytes::BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        buf.reserve(max);
        let spare = &mut buf.spare_capacity_mut()[..max];
        let start = spare.as_ptr();
        let mut read_buf = ReadBuf::uninit(spare);
        std::task::ready!(Pin::new(&mut self.0).poll_read(cx, &mut read_buf))?;
        let n = read_buf.filled().len();
        // A reader that swapped the `ReadBuf` for another would make `filled` describe other
        // memory; refuse rather than trust it.
        assert_eq!(
            read_buf.filled().as_ptr(),
            start.cast(),
            "the reader replaced its ReadBuf"
        );
        // SAFETY: the `n` bytes after the buffer's length are initialised: `ReadBuf` only
        // counts bytes as filled once written, and the assertion above proves they are the
        // first `n` bytes of this buffer's spare capacity, which `reserve(max)` made at least
        // `max >= n` long.
        unsafe { buf.set_len(buf.len() + n) };
        Poll::Ready(Ok(n))
    }

    /// tokio's `AsyncRead` contract: `Pending` means nothing is available and the task will be
    /// woken; a socket that came back short from its last read has cleared its readiness, so
    /// an empty read answers `Pending` without a system call.
    fn waits_on_empty_read(&self) -> bool {
        true
    }

    fn reads_uninit(&self) -> bool {
        true
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
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// tokio's timer, seen by the shared driver.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl wsio_async::Timer for TokioTimer {
    fn at(at: Instant) -> Self {
        TokioTimer(Box::pin(tokio::time::sleep_until(at.into())))
    }

    fn deadline(&self) -> Instant {
        self.0.deadline().into_std()
    }

    fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::future::Future::poll(self.0.as_mut(), cx)
    }
}

/// Wraps a stream whose opening handshake is done (by hyper, say) and the connection made from
/// it.
pub fn from_connection<S: AsyncRead + AsyncWrite + Unpin>(
    connection: wsio_core::Connection,
    stream: S,
) -> WebSocketStream<S> {
    wsio_async::WebSocketStream::from_connection(connection, TokioTransport(stream))
}
pub use wsio_core::handshake::{ClientHandshake, ClientOptions, Request, Response, Upgrader};
pub use wsio_core::{
    CloseCode, CloseFrame, Config, DeflateConfig, Message, MessageKind, Payload, PreparedMessage,
    Utf8Bytes,
};

/// Accepts a WebSocket upgrade on `stream` with the default [`Upgrader`] (same-origin check,
/// no subprotocols, no compression).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<WebSocketStream<S>> {
    wsio_async::handshake::accept(TokioTransport(stream)).await
}

/// Accepts a WebSocket upgrade on `stream` with `upgrader`'s settings, returning the
/// connection and the request. A refused request gets its HTTP error response first.
///
/// Wrap the call in `tokio::time::timeout` to bound how long a slow client may take.
pub async fn accept_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    upgrader: &Upgrader,
) -> Result<(WebSocketStream<S>, Request)> {
    wsio_async::handshake::accept_with(TokioTransport(stream), upgrader).await
}

/// Reads one HTTP request head from `stream` within `upgrader`'s limits, for an application
/// that routes before deciding to upgrade (serving a page on `/`, a WebSocket on `/ws`).
/// Returns the request and the bytes that followed it. A malformed or oversized head gets its
/// HTTP error response and is returned as an error.
pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    upgrader: &Upgrader,
) -> Result<(Request, BytesMut)> {
    wsio_async::handshake::read_request(&mut TokioTransport(stream), upgrader).await
}

/// Completes (or refuses, with its HTTP response) the upgrade of a request read by
/// [`read_request`].
pub async fn accept_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    upgrader: &Upgrader,
    request: &Request,
    leftover: BytesMut,
) -> Result<WebSocketStream<S>> {
    wsio_async::handshake::accept_request(TokioTransport(stream), upgrader, request, leftover).await
}

/// Runs the client handshake over an already connected `stream` (plain, TLS, or a proxy
/// tunnel), returning the connection and the server's response.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    handshake: ClientHandshake,
) -> Result<(WebSocketStream<S>, Response)> {
    wsio_async::handshake::client(TokioTransport(stream), handshake).await
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with default options.
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    connect_with(url, ClientOptions::default()).await
}

/// Connects to a `ws://` or (feature `rustls`) `wss://` URL with `options` (subprotocols,
/// headers, compression, limits).
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

/// TLS through tokio-rustls (feature `rustls`).
#[cfg(feature = "rustls")]
pub mod tls {
    pub use crate::stream::tls::{connect, connect_with_config, default_config};
}

/// The repository README's examples, run as doctests so that they cannot go stale.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use bytes::BytesMut;
    use tokio::io::{AsyncRead, ReadBuf};
    use wsio_async::Transport;

    use super::TokioTransport;

    /// Reads from `data`, at most `step` bytes a call; with `swap`, misbehaves by replacing
    /// the caller's `ReadBuf` with one over its own memory.
    struct Reader {
        data: Vec<u8>,
        step: usize,
        swap: bool,
    }

    impl AsyncRead for Reader {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.min(self.data.len()).min(buf.remaining());
            if self.swap {
                let own: &'static mut [u8] = Box::leak(vec![7u8; 16].into_boxed_slice());
                *buf = ReadBuf::new(own);
                buf.advance(4);
                return Poll::Ready(Ok(()));
            }
            let chunk: Vec<u8> = self.data.drain(..n).collect();
            buf.put_slice(&chunk);
            Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncWrite for Reader {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn read(transport: &mut TokioTransport<Reader>, buf: &mut BytesMut, max: usize) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        match transport.poll_read_buf(&mut cx, buf, max) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uninitialised_reads_append_exactly_the_bytes_read() {
        let data: Vec<u8> = (0..=255).collect();
        let mut transport = TokioTransport(Reader {
            data: data.clone(),
            step: 100,
            swap: false,
        });
        let mut buf = BytesMut::from(&b"ab"[..]);
        assert_eq!(read(&mut transport, &mut buf, 64), 64);
        assert_eq!(read(&mut transport, &mut buf, 1000), 100);
        assert_eq!(read(&mut transport, &mut buf, 1000), 92);
        assert_eq!(read(&mut transport, &mut buf, 1000), 0);
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(&buf[2..], &data[..]);
    }

    #[test]
    #[should_panic(expected = "replaced its ReadBuf")]
    fn a_reader_that_swaps_its_read_buffer_is_refused() {
        let mut transport = TokioTransport(Reader {
            data: vec![1; 10],
            step: 10,
            swap: true,
        });
        let mut buf = BytesMut::new();
        read(&mut transport, &mut buf, 64);
    }
}
