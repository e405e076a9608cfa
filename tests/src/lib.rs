//! Test support: one synchronous face over the three runtimes, so that a behavioural case is
//! written once and run on std, tokio and smol alike. If a case passes on one runtime it must
//! pass on all; the adapters stay thin because the suite holds them to the same behaviour.
//!
//! The async runtimes are driven with `block_on` from plain threads, one thread per side of a
//! connection (and per half after a split), which keeps the cases free of runtime details.

pub mod security;
pub use security::*;

use std::net::TcpListener as StdListener;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wsio_core::handshake::{ClientHandshake, WsUrl};
use wsio_core::session::{PingHandler, PongHandler};
use wsio_core::{BufferStats, CloseCode, CloseFrame, Message, MessageKind, SessionError};
use wsio_std::{ClientOptions, Request, Response, Upgrader};

/// The error every runtime reports.
pub type Error = SessionError;
/// The result every runtime returns.
pub type Result<T> = std::result::Result<T, Error>;

/// A runtime under test.
pub trait Runtime: 'static {
    /// Its name, for messages.
    const NAME: &'static str;

    /// Runs the server side of the opening handshake with `upgrader` on `tcp`, a connection
    /// already accepted from a `std::net::TcpListener`, and returns the WebSocket and the
    /// request. Blocks the calling thread until the handshake is done; for a server that takes
    /// many connections, call it on a thread per connection.
    fn upgrade(tcp: std::net::TcpStream, upgrader: &Upgrader) -> Result<(Box<dyn Conn>, Request)>;

    /// Accepts one connection on 127.0.0.1 (port 0) with `upgrader` on a new thread and runs
    /// `handler` on it; returns the `ws://` URL and the thread.
    fn serve<T, F>(upgrader: Upgrader, handler: F) -> (String, JoinHandle<T>)
    where
        F: FnOnce(Box<dyn Conn>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (listener, url) = listener();
        let thread = thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            let (conn, _) = Self::upgrade(tcp, &upgrader).expect("upgrade");
            handler(conn)
        });
        (url, thread)
    }

    /// Connects to `url` (a plain `ws://` URL on this machine) and returns the WebSocket and
    /// the server's 101 response (for its subprotocol and extension headers).
    fn connect_with_response(
        url: &str,
        options: ClientOptions,
    ) -> Result<(Box<dyn Conn>, Response)>;

    /// Connects to `url` (a plain `ws://` URL on this machine).
    fn connect(url: &str, options: ClientOptions) -> Result<Box<dyn Conn>> {
        Self::connect_with_response(url, options).map(|(conn, _)| conn)
    }
}

/// One side of a connection, whatever its runtime.
pub trait Conn: Send {
    /// Sends and writes out a message.
    fn send(&mut self, message: Message) -> Result<()>;
    /// Queues a message, writing once a buffer's worth waits.
    fn feed(&mut self, message: Message) -> Result<()>;
    /// Writes what is queued.
    fn flush(&mut self) -> Result<()>;
    /// The next message; `None` once the peer closed.
    fn recv(&mut self) -> Option<Result<Message>>;
    /// As `recv`, giving up after `wait` (`None`); the connection stays usable.
    fn recv_within(&mut self, wait: Duration) -> Option<Option<Result<Message>>>;
    /// Sends a ping now.
    fn ping(&mut self, payload: &[u8]) -> Result<()>;
    /// Runs the closing handshake.
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<()>;
    /// The peer's close frame, once it arrived.
    fn peer_close(&self) -> Option<Option<CloseFrame>>;
    /// Whether permessage-deflate was negotiated.
    fn compressed(&self) -> bool;
    /// Replaces the ping handler.
    fn set_ping_handler(&mut self, handler: Option<PingHandler>);
    /// Replaces the pong handler.
    fn set_pong_handler(&mut self, handler: Option<PongHandler>);
    /// Streams one message of `count` writes of `chunk`; returns the worst buffer sizes seen
    /// between writes.
    fn stream_out(&mut self, kind: MessageKind, chunk: &[u8], count: usize) -> Result<BufferStats>;
    /// Reads the next message as a stream, handing each piece to `check`; returns its kind,
    /// length and the worst buffer sizes seen (`None` once the peer closed).
    fn stream_in(&mut self, check: &mut dyn FnMut(&[u8])) -> Result<Option<Streamed>>;
    /// Splits into halves for two threads.
    fn split(self: Box<Self>) -> (Box<dyn ReadSide>, Box<dyn WriteSide>);
}

/// What [`Conn::stream_in`] read.
#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    /// Text or binary.
    pub kind: MessageKind,
    /// Payload bytes.
    pub len: usize,
    /// The largest buffer sizes seen while reading.
    pub worst: BufferStats,
}

/// The reading half of a split connection.
pub trait ReadSide: Send {
    /// The next message; `None` once the peer closed.
    fn recv(&mut self) -> Option<Result<Message>>;
}

/// The writing half of a split connection.
pub trait WriteSide: Send {
    /// Queues a message, writing once a buffer's worth waits.
    fn feed(&mut self, message: Message) -> Result<()>;
    /// Writes what is queued.
    fn flush(&mut self) -> Result<()>;
    /// Sends a ping now.
    fn ping(&mut self, payload: &[u8]) -> Result<()>;
    /// Sends our close frame; the reading half completes the handshake.
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<()>;
}

/// Keeps the largest of each buffer size.
pub fn worst(acc: &mut BufferStats, now: BufferStats) {
    acc.read_buffered = acc.read_buffered.max(now.read_buffered);
    acc.read_capacity = acc.read_capacity.max(now.read_capacity);
    acc.message_buffered = acc.message_buffered.max(now.message_buffered);
    acc.write_buffered = acc.write_buffered.max(now.write_buffered);
    acc.output_pending = acc.output_pending.max(now.output_pending);
}

fn listener() -> (StdListener, String) {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("ws://{}/", listener.local_addr().expect("bound"));
    (listener, url)
}

/// Where to dial for a `ws://` URL (host and port, whatever path and query follow), and the
/// client handshake for it.
fn dial(url: &str, options: ClientOptions) -> Result<((String, u16), ClientHandshake)> {
    let url = WsUrl::parse(url)?;
    let addr = (url.host().to_owned(), url.port());
    Ok((addr, ClientHandshake::for_url(url, options)?))
}

fn is_timeout(e: &Error) -> bool {
    e.is_timeout()
}

// ------------------------------------------------------------------------------------ std

/// The blocking runtime.
pub struct Std;

struct StdConn(wsio_std::WebSocket<std::net::TcpStream>);

impl Runtime for Std {
    const NAME: &'static str = "std";

    fn upgrade(tcp: std::net::TcpStream, upgrader: &Upgrader) -> Result<(Box<dyn Conn>, Request)> {
        let (ws, request) = wsio_std::accept_with(tcp, upgrader)?;
        Ok((Box::new(StdConn(ws)), request))
    }

    fn connect_with_response(
        url: &str,
        options: ClientOptions,
    ) -> Result<(Box<dyn Conn>, Response)> {
        let ((host, port), handshake) = dial(url, options)?;
        let tcp = std::net::TcpStream::connect((host.as_str(), port))?;
        let (ws, response) = wsio_std::client(tcp, handshake)?;
        Ok((Box::new(StdConn(ws)), response))
    }
}

impl Conn for StdConn {
    fn send(&mut self, message: Message) -> Result<()> {
        self.0.send(message)
    }
    fn feed(&mut self, message: Message) -> Result<()> {
        self.0.write_message(message)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.flush()
    }
    fn recv(&mut self) -> Option<Result<Message>> {
        self.0.read_message().transpose()
    }
    fn recv_within(&mut self, wait: Duration) -> Option<Option<Result<Message>>> {
        self.0.set_read_timeout(Some(wait));
        let result = self.0.read_message();
        self.0.set_read_timeout(None);
        match result {
            Err(e) if is_timeout(&e) => None,
            other => Some(other.transpose()),
        }
    }
    fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.0.ping(payload)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.0.close(code, reason)
    }
    fn peer_close(&self) -> Option<Option<CloseFrame>> {
        self.0.peer_close().map(|f| f.cloned())
    }
    fn compressed(&self) -> bool {
        self.0.connection().deflate_params().is_some()
    }
    fn set_ping_handler(&mut self, handler: Option<PingHandler>) {
        self.0.set_ping_handler(handler);
    }
    fn set_pong_handler(&mut self, handler: Option<PongHandler>) {
        self.0.set_pong_handler(handler);
    }
    fn stream_out(&mut self, kind: MessageKind, chunk: &[u8], count: usize) -> Result<BufferStats> {
        use std::io::Write;
        let mut acc = BufferStats::default();
        let mut writer = self.0.next_writer(kind)?;
        for _ in 0..count {
            writer.write_all(chunk)?;
            worst(&mut acc, writer.buffer_stats());
        }
        writer.finish()?;
        Ok(acc)
    }
    fn stream_in(&mut self, check: &mut dyn FnMut(&[u8])) -> Result<Option<Streamed>> {
        use std::io::Read;
        let Some(mut reader) = self.0.next_reader()? else {
            return Ok(None);
        };
        let kind = reader.kind();
        let (mut acc, mut len, mut buf) = (BufferStats::default(), 0, vec![0; 64 << 10]);
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(Some(Streamed {
                    kind,
                    len,
                    worst: acc,
                }));
            }
            check(&buf[..n]);
            len += n;
            worst(&mut acc, reader.buffer_stats());
        }
    }
    fn split(self: Box<Self>) -> (Box<dyn ReadSide>, Box<dyn WriteSide>) {
        let (r, w) = self.0.split().expect("TcpStream clones");
        (Box::new(StdRead(r)), Box::new(StdWrite(w)))
    }
}

struct StdRead(wsio_std::ReadHalf<std::net::TcpStream>);
struct StdWrite(wsio_std::WriteHalf<std::net::TcpStream>);

impl ReadSide for StdRead {
    fn recv(&mut self) -> Option<Result<Message>> {
        self.0.read_message().transpose()
    }
}

impl WriteSide for StdWrite {
    fn feed(&mut self, message: Message) -> Result<()> {
        self.0.write_message(message)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.flush()
    }
    fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.0.ping(payload)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.0.close(code, reason)
    }
}

// ---------------------------------------------------------------------------------- async

/// Implements [`Conn`] and the halves for an async runtime, given how it blocks on a future
/// and how it races one against a timer. tokio and smol share this body because their wsio
/// crates share one API.
macro_rules! async_conn {
    ($conn:ident, $read:ident, $write:ident, $ws:ty, $rh:ty, $wh:ty, $block_on:path, $within:path, $io:ident) => {
        struct $conn($ws);
        struct $read($rh);
        struct $write($wh);

        impl Conn for $conn {
            fn send(&mut self, message: Message) -> Result<()> {
                $block_on(self.0.send(message))
            }
            fn feed(&mut self, message: Message) -> Result<()> {
                $block_on(self.0.feed(message))
            }
            fn flush(&mut self) -> Result<()> {
                $block_on(self.0.flush())
            }
            fn recv(&mut self) -> Option<Result<Message>> {
                $block_on(self.0.recv())
            }
            fn recv_within(&mut self, wait: Duration) -> Option<Option<Result<Message>>> {
                $block_on($within(wait, self.0.recv()))
            }
            fn ping(&mut self, payload: &[u8]) -> Result<()> {
                $block_on(self.0.ping(payload))
            }
            fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
                $block_on(self.0.close(code, reason))
            }
            fn peer_close(&self) -> Option<Option<CloseFrame>> {
                self.0.peer_close().map(|f| f.cloned())
            }
            fn compressed(&self) -> bool {
                self.0.connection().deflate_params().is_some()
            }
            fn set_ping_handler(&mut self, handler: Option<PingHandler>) {
                self.0.set_ping_handler(handler);
            }
            fn set_pong_handler(&mut self, handler: Option<PongHandler>) {
                self.0.set_pong_handler(handler);
            }
            fn stream_out(&mut self, kind: MessageKind, chunk: &[u8], count: usize) -> Result<BufferStats> {
                use $io::AsyncWriteExt as _;
                $block_on(async {
                    let mut acc = BufferStats::default();
                    let mut writer = self.0.next_writer(kind)?;
                    for _ in 0..count {
                        writer.write_all(chunk).await?;
                        worst(&mut acc, writer.buffer_stats());
                    }
                    async_conn!(@finish $io, writer);
                    Ok(acc)
                })
            }
            fn stream_in(&mut self, check: &mut dyn FnMut(&[u8])) -> Result<Option<Streamed>> {
                use $io::AsyncReadExt as _;
                $block_on(async {
                    let Some(mut reader) = self.0.next_reader().await? else { return Ok(None) };
                    let kind = reader.kind();
                    let (mut acc, mut len, mut buf) = (BufferStats::default(), 0, vec![0; 64 << 10]);
                    loop {
                        let n = reader.read(&mut buf).await?;
                        if n == 0 {
                            return Ok(Some(Streamed { kind, len, worst: acc }));
                        }
                        check(&buf[..n]);
                        len += n;
                        worst(&mut acc, reader.buffer_stats());
                    }
                })
            }
            fn split(self: Box<Self>) -> (Box<dyn ReadSide>, Box<dyn WriteSide>) {
                let (r, w) = self.0.split();
                (Box::new($read(r)), Box::new($write(w)))
            }
        }

        impl ReadSide for $read {
            fn recv(&mut self) -> Option<Result<Message>> {
                $block_on(self.0.recv())
            }
        }

        impl WriteSide for $write {
            fn feed(&mut self, message: Message) -> Result<()> {
                $block_on(self.0.feed(message))
            }
            fn flush(&mut self) -> Result<()> {
                $block_on(self.0.flush())
            }
            fn ping(&mut self, payload: &[u8]) -> Result<()> {
                $block_on(self.0.ping(payload))
            }
            fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
                $block_on(self.0.close(code, reason))
            }
        }
    };
    (@finish tokio_io, $writer:ident) => {
        $writer.shutdown().await?
    };
    (@finish smol_io, $writer:ident) => {
        $writer.close().await?
    };
}

// ---------------------------------------------------------------------------------- tokio

/// The tokio runtime (one shared multi-thread runtime, entered from plain threads).
pub struct Tokio;

fn tokio_rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio_rt().block_on(future)
}

async fn tokio_within<F: std::future::Future>(wait: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(wait, future).await.ok()
}

use tokio::io as tokio_io;
async_conn!(
    TokioConn,
    TokioRead,
    TokioWrite,
    wsio_tokio::WebSocketStream<tokio::net::TcpStream>,
    wsio_tokio::ReadHalf<tokio::net::TcpStream>,
    wsio_tokio::WriteHalf<tokio::net::TcpStream>,
    tokio_block_on,
    tokio_within,
    tokio_io
);

impl Runtime for Tokio {
    const NAME: &'static str = "tokio";

    fn upgrade(tcp: std::net::TcpStream, upgrader: &Upgrader) -> Result<(Box<dyn Conn>, Request)> {
        let (ws, request) = tokio_block_on(async move {
            tcp.set_nonblocking(true)?;
            let tcp = tokio::net::TcpStream::from_std(tcp)?;
            wsio_tokio::accept_with(tcp, upgrader).await
        })?;
        Ok((Box::new(TokioConn(ws)), request))
    }

    fn connect_with_response(
        url: &str,
        options: ClientOptions,
    ) -> Result<(Box<dyn Conn>, Response)> {
        let (ws, response) = tokio_block_on(async {
            let ((host, port), handshake) = dial(url, options)?;
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            wsio_tokio::client(tcp, handshake).await
        })?;
        Ok((Box::new(TokioConn(ws)), response))
    }
}

// ----------------------------------------------------------------------------------- smol

/// The smol runtime (async-io's reactor, entered with `smol::block_on`).
pub struct Smol;

async fn smol_within<F: std::future::Future>(wait: Duration, future: F) -> Option<F::Output> {
    smol::future::or(async { Some(future.await) }, async {
        smol::Timer::after(wait).await;
        None
    })
    .await
}

use smol::io as smol_io;
async_conn!(
    SmolConn,
    SmolRead,
    SmolWrite,
    wsio_smol::WebSocketStream<smol::net::TcpStream>,
    wsio_smol::ReadHalf<smol::net::TcpStream>,
    wsio_smol::WriteHalf<smol::net::TcpStream>,
    smol::block_on,
    smol_within,
    smol_io
);

impl Runtime for Smol {
    const NAME: &'static str = "smol";

    fn upgrade(tcp: std::net::TcpStream, upgrader: &Upgrader) -> Result<(Box<dyn Conn>, Request)> {
        let (ws, request) = smol::block_on(async move {
            // async-io registers the stream with its reactor and makes it non-blocking.
            let tcp = smol::net::TcpStream::try_from(tcp)?;
            wsio_smol::accept_with(tcp, upgrader).await
        })?;
        Ok((Box::new(SmolConn(ws)), request))
    }

    fn connect_with_response(
        url: &str,
        options: ClientOptions,
    ) -> Result<(Box<dyn Conn>, Response)> {
        let (ws, response) = smol::block_on(async {
            let ((host, port), handshake) = dial(url, options)?;
            let tcp = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            wsio_smol::client(tcp, handshake).await
        })?;
        Ok((Box::new(SmolConn(ws)), response))
    }
}
