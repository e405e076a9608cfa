//! The async WebSocket, its streamed readers and writers, and its split halves, over any
//! runtime's [`Transport`] and [`Timer`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_sink::Sink;
use wsio_core::session::{CloseHandler, PingHandler, PongHandler};
use wsio_core::{BufferStats, CloseCode, CloseFrame, Connection, Message, MessageKind, Session};

use crate::inner::{AfterSend, Error, Inner, Result};
use crate::transport::{Timer, Transport};

/// Access to the driver: direct for the whole stream, through the lock for split halves.
/// Sealed: implemented in this crate only.
pub trait Access {
    #[doc(hidden)]
    type Transport: Transport;
    #[doc(hidden)]
    type Timer: Timer;
    #[doc(hidden)]
    fn with<O>(&mut self, f: impl FnOnce(&mut Inner<Self::Transport, Self::Timer>) -> O) -> O;
}

/// A WebSocket connection over a tokio stream.
///
/// Read with [`recv`](Self::recv) (or as a [`Stream`]), write with [`send`](Self::send) (or as a
/// [`Sink`]). Automatic replies (pong, close echo) are written while the application waits in
/// `recv`, without any further call. [`split`](Self::split) gives halves for two tasks.
pub struct WebSocketStream<T: Transport, R: Timer> {
    inner: Inner<T, R>,
}

impl<T: Transport, R: Timer> std::fmt::Debug for WebSocketStream<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("session", &self.inner.session)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, R: Timer> Access for WebSocketStream<T, R> {
    type Transport = T;
    type Timer = R;

    fn with<O>(&mut self, f: impl FnOnce(&mut Inner<T, R>) -> O) -> O {
        f(&mut self.inner)
    }
}

impl<T: Transport, R: Timer> WebSocketStream<T, R> {
    /// Wraps a stream whose opening handshake is done (by [`accept`](crate::accept),
    /// [`client`](crate::client) or [`hyper`](crate::hyper)) and the connection made from it.
    pub fn from_connection(connection: Connection, stream: T) -> Self {
        Self::with_buffers(connection, stream, 4096, 4096)
    }

    /// As [`from_connection`](Self::from_connection), with the read buffer size (how much one
    /// read asks for) and the write buffer size (how much output is batched before writing).
    pub fn with_buffers(
        connection: Connection,
        stream: T,
        read_buffer: usize,
        write_buffer: usize,
    ) -> Self {
        WebSocketStream {
            inner: Inner::new(Session::new(connection), stream, read_buffer, write_buffer),
        }
    }

    /// The next message; `None` once the peer has closed (see [`peer_close`](Self::peer_close)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: every byte read stays in the connection, so `recv` can sit in
    /// `tokio::select!` and a later call continues exactly where a dropped one stopped.
    // `recv`, `send` and `feed` return their poll functions' futures directly: as `async fn`s
    // each would wrap them in one more state machine, through which every message is moved
    // again (an in-memory echo loop of 16-byte messages: 82 -> 67 ns per message).
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message>>> + '_ {
        poll_fn(|cx| self.inner.poll_recv(cx))
    }

    /// Sends a message and writes it out.
    ///
    /// # Write batching
    ///
    /// When the bytes already received hold another frame (the peer sent a burst, and the next
    /// [`recv`](Self::recv) returns without waiting), the message is queued and written
    /// together with the replies to the rest of the burst: by the `send` or `recv` that finds
    /// no more input waiting, at the latest before `recv` waits for the network, or by
    /// [`flush`](Self::flush) / [`close`](Self::close). An echo or request/response loop
    /// written the plain way then makes one vectored write per burst instead of one per
    /// message. Call `flush` after `send` if a reply must leave before the next `recv`.
    /// Split halves do not batch: their reader may be in another task.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, though nothing is lost in the usual case: the message is queued when
    /// `send` is called if the output is under its limit, so a future dropped before it
    /// completes, even one never polled, leaves it queued (the next write or `flush` sends it).
    /// When the output was over its limit, the message waits in the future until a poll finds
    /// room; dropped before that, it is not sent. An error from queueing (the connection is
    /// closing, the message is over a limit) is the future's output.
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<()>> + '_ {
        send(self, message, Inner::poll_flush_after_send)
    }

    /// Queues a message, writing only once a write buffer's worth waits: many small messages,
    /// few system calls. Call [`flush`](Self::flush) to send the rest.
    ///
    /// # Cancel safety
    ///
    /// As for [`send`](Self::send).
    pub fn feed(&mut self, message: Message) -> impl Future<Output = Result<()>> + '_ {
        send(self, message, Inner::poll_flush_if_full)
    }

    /// Writes everything queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: what was not written stays queued.
    pub async fn flush(&mut self) -> Result<()> {
        Ok(poll_fn(|cx| self.inner.poll_flush_output(cx)).await?)
    }

    /// Sends a ping now.
    ///
    /// # Cancel safety
    ///
    /// As for [`send`](Self::send).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        control(self, true, payload).await
    }

    /// Sends an unsolicited pong now.
    ///
    /// # Cancel safety
    ///
    /// As for [`send`](Self::send).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<()> {
        control(self, false, payload).await
    }

    /// Runs the closing handshake: sends our close frame, reads (dropping messages) until the
    /// peer's close arrives or `Config::close_timeout` passes, then ends the transport.
    /// Closing an already closed connection succeeds.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in effect: the close frame is queued at the first poll; calling `close`
    /// again resumes the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.inner.start_close(code, reason)?;
        poll_fn(|cx| self.inner.poll_close(cx)).await
    }

    /// The next message as a stream (`None` once the peer has closed): see [`MessageReader`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv`](Self::recv).
    pub async fn next_reader(&mut self) -> Result<Option<MessageReader<'_, Self>>> {
        next_reader(self).await
    }

    /// Starts a message of `kind` sent as a stream: see [`MessageWriter`].
    pub fn next_writer(&mut self, kind: MessageKind) -> Result<MessageWriter<'_, Self>> {
        next_writer(self, kind)
    }

    /// Replaces the ping handler; `None` restores the default (answer with a pong).
    pub fn set_ping_handler(&mut self, handler: Option<PingHandler>) {
        self.inner.session.set_ping_handler(handler);
    }

    /// Replaces the pong handler; `None` restores the default (ignore).
    pub fn set_pong_handler(&mut self, handler: Option<PongHandler>) {
        self.inner.session.set_pong_handler(handler);
    }

    /// Replaces the close handler; `None` restores the default (echo the peer's code).
    pub fn set_close_handler(&mut self, handler: Option<CloseHandler>) {
        self.inner.session.set_close_handler(handler);
    }

    /// The peer's close frame once it arrived (`Some(None)`: it carried no status).
    pub fn peer_close(&self) -> Option<Option<&CloseFrame>> {
        self.inner.session.peer_close()
    }

    /// The protocol engine: state, negotiated extensions, buffer sizes.
    pub fn connection(&self) -> &Connection {
        self.inner.session.connection_ref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &T {
        &self.inner.stream
    }

    /// Splits into a reader and a writer for two tasks. They share the engine and the stream
    /// behind a lock taken only inside `poll` calls, never across an `.await`; whichever half
    /// writes sends all queued output, so an automatic pong is never stranded. The reading half
    /// runs the heartbeat and close timers.
    pub fn split(mut self) -> (ReadHalf<T, R>, WriteHalf<T, R>) {
        self.inner.share_wakeups();
        let shared = Arc::new(Mutex::new(self.inner));
        (
            ReadHalf {
                shared: shared.clone(),
            },
            WriteHalf { shared },
        )
    }
}

impl<T: Transport, R: Timer> Stream for WebSocketStream<T, R> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_recv(cx)
    }
}

impl<T: Transport, R: Timer> Sink<Message> for WebSocketStream<T, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        sink_ready(self.get_mut(), cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<()> {
        sink_send(self.get_mut(), message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(ready!(self.get_mut().inner.poll_flush_output(cx))?))
    }

    /// Sends a normal close (1000) and writes it; the peer's answer is read by the stream side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        sink_close(self.get_mut(), cx)
    }
}

fn lock<T: Transport, R: Timer>(shared: &Mutex<Inner<T, R>>) -> MutexGuard<'_, Inner<T, R>> {
    // A panic in an application handler must not take the other half down with it.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reading half of a split [`WebSocketStream`].
pub struct ReadHalf<T: Transport, R: Timer> {
    shared: Arc<Mutex<Inner<T, R>>>,
}

/// The writing half of a split [`WebSocketStream`].
pub struct WriteHalf<T: Transport, R: Timer> {
    shared: Arc<Mutex<Inner<T, R>>>,
}

impl<T: Transport, R: Timer> Access for ReadHalf<T, R> {
    type Transport = T;
    type Timer = R;

    fn with<O>(&mut self, f: impl FnOnce(&mut Inner<T, R>) -> O) -> O {
        f(&mut lock(&self.shared))
    }
}

impl<T: Transport, R: Timer> Access for WriteHalf<T, R> {
    type Transport = T;
    type Timer = R;

    fn with<O>(&mut self, f: impl FnOnce(&mut Inner<T, R>) -> O) -> O {
        f(&mut lock(&self.shared))
    }
}

impl<T: Transport, R: Timer> ReadHalf<T, R> {
    /// As [`WebSocketStream::recv`], cancel-safe.
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message>>> + '_ {
        poll_fn(|cx| lock(&self.shared).poll_recv(cx))
    }

    /// As [`WebSocketStream::next_reader`].
    pub async fn next_reader(&mut self) -> Result<Option<MessageReader<'_, Self>>> {
        next_reader(self).await
    }

    /// As [`WebSocketStream::close`]: sends our close and reads until the peer's arrives.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        lock(&self.shared).start_close(code, reason)?;
        poll_fn(|cx| lock(&self.shared).poll_close(cx)).await
    }

    /// The peer's close frame once it arrived.
    pub fn peer_close(&self) -> Option<Option<CloseFrame>> {
        lock(&self.shared).session.peer_close().map(|f| f.cloned())
    }
}

impl<T: Transport, R: Timer> Stream for ReadHalf<T, R> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_recv(cx)
    }
}

impl<T: Transport, R: Timer> WriteHalf<T, R> {
    /// As [`WebSocketStream::send`].
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<()>> + '_ {
        send(self, message, Inner::poll_flush_output)
    }

    /// As [`WebSocketStream::feed`].
    pub fn feed(&mut self, message: Message) -> impl Future<Output = Result<()>> + '_ {
        send(self, message, Inner::poll_flush_if_full)
    }

    /// Writes everything queued. Cancel-safe.
    pub async fn flush(&mut self) -> Result<()> {
        Ok(poll_fn(|cx| lock(&self.shared).poll_flush_output(cx)).await?)
    }

    /// Sends a ping now.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        control(self, true, payload).await
    }

    /// Sends our close frame and writes it. The read half completes the handshake: its `recv`
    /// returns `None` when the peer's close arrives (or an error after `Config::close_timeout`).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        lock(&self.shared).start_close(code, reason)?;
        self.flush().await
    }

    /// As [`WebSocketStream::next_writer`].
    pub fn next_writer(&mut self, kind: MessageKind) -> Result<MessageWriter<'_, Self>> {
        next_writer(self, kind)
    }

    /// Queues a message prepared once for many connections (see
    /// [`PreparedMessage`](wsio_core::PreparedMessage)) and writes it out.
    pub async fn send_prepared(&mut self, prepared: &wsio_core::PreparedMessage) -> Result<()> {
        poll_fn(|cx| lock(&self.shared).poll_command(cx, |c| c.send_prepared(prepared))).await?;
        self.flush().await
    }
}

impl<T: Transport, R: Timer> Sink<Message> for WriteHalf<T, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        sink_ready(self.get_mut(), cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<()> {
        sink_send(self.get_mut(), message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(ready!(lock(&self.shared).poll_flush_output(cx))?))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        sink_close(self.get_mut(), cx)
    }
}

// ---- operations shared by the whole stream and the halves

/// Queues `message` and writes it as `after` says: with `Inner::poll_flush_after_send` (the
/// whole stream, whose owner is also the reader) the write may wait for the end of a burst of
/// received messages.
fn send<'a, A: Access>(
    a: &'a mut A,
    message: Message,
    after: impl AfterSend<A::Transport, A::Timer> + 'a,
) -> impl Future<Output = Result<()>> + 'a {
    // Queued now rather than at the first poll: the message then moves once, from the caller
    // into the engine, instead of into this future's state first and out of it again; each
    // of those moves is loaded by wider reads than the stores that made it, which cannot be
    // forwarded and stall (`codec echo` 16 B +4-5%, the TCP echo server +1-3%).
    let mut slot = Some(message);
    let mut queued = a.with(|inner| inner.queue_now(&mut slot));
    poll_fn(move |cx| {
        std::mem::replace(&mut queued, Ok(()))?;
        a.with(|inner| inner.poll_send(cx, &mut slot, &after))
    })
}

async fn control(a: &mut impl Access, ping: bool, payload: &[u8]) -> Result<()> {
    poll_fn(|cx| {
        a.with(|inner| {
            inner.poll_command(cx, |c| {
                if ping {
                    c.ping(payload)
                } else {
                    c.pong(payload)
                }
            })
        })
    })
    .await?;
    Ok(poll_fn(|cx| a.with(|inner| inner.poll_flush_output(cx))).await?)
}

async fn next_reader<A: Access>(a: &mut A) -> Result<Option<MessageReader<'_, A>>> {
    let kind = poll_fn(|cx| a.with(|inner| inner.poll_message_start(cx))).await?;
    Ok(kind.map(|kind| MessageReader {
        access: a,
        kind,
        piece: Bytes::new(),
        done: false,
    }))
}

fn next_writer<A: Access>(a: &mut A, kind: MessageKind) -> Result<MessageWriter<'_, A>> {
    a.with(|inner| inner.session.connection().begin_message(kind))?;
    Ok(MessageWriter {
        access: a,
        finished: false,
    })
}

fn sink_ready(a: &mut impl Access, cx: &mut Context<'_>) -> Poll<Result<()>> {
    Poll::Ready(Ok(ready!(a.with(|inner| inner.poll_flush_if_full(cx)))?))
}

fn sink_send(a: &mut impl Access, message: Message) -> Result<()> {
    Ok(a.with(|inner| inner.session.connection().send(message))?)
}

fn sink_close(a: &mut impl Access, cx: &mut Context<'_>) -> Poll<Result<()>> {
    a.with(|inner| {
        inner.start_close(CloseCode::NORMAL, "")?;
        Poll::Ready(Ok(ready!(inner.poll_flush_output(cx))?))
    })
}

/// One received message, read as a stream (`futures_io::AsyncRead`, and with feature `tokio`
/// also `tokio::io::AsyncRead`): its payload is pulled from the connection piece by piece as it
/// arrives, so a message of any size passes through bounded memory. Reading to the end
/// completes the message; dropping the reader earlier leaves the rest to be skipped by the next
/// read. Cancel-safe.
pub struct MessageReader<'a, A: Access> {
    access: &'a mut A,
    kind: MessageKind,
    piece: Bytes,
    done: bool,
}

impl<A: Access> MessageReader<'_, A> {
    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The connection's buffer sizes, for watching memory while a large message streams.
    pub fn buffer_stats(&mut self) -> BufferStats {
        self.access
            .with(|inner| inner.session.connection_ref().buffer_stats())
    }

    fn poll_read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        while self.piece.is_empty() {
            if self.done || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            match ready!(self.access.with(|inner| inner.poll_message_data(cx))) {
                Ok(Some(piece)) => self.piece = piece,
                Ok(None) => self.done = true,
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece[..n]);
        self.piece.advance(n);
        Poll::Ready(Ok(n))
    }
}

impl<A: Access> futures_io::AsyncRead for MessageReader<'_, A> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

#[cfg(feature = "tokio")]
impl<A: Access> tokio::io::AsyncRead for MessageReader<'_, A> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.get_mut().poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// A message sent as a stream (`futures_io::AsyncWrite`, and with feature `tokio` also
/// `tokio::io::AsyncWrite`): each write is framed into fragments of `Config::fragment_size`,
/// and a write waits while a write buffer's worth of output is still queued, so a message of
/// any size passes through bounded memory. Closing (futures-io `close`, tokio `shutdown`) sends
/// the final fragment; dropping the writer queues it for the next write.
pub struct MessageWriter<'a, A: Access> {
    access: &'a mut A,
    finished: bool,
}

impl<A: Access> MessageWriter<'_, A> {
    /// The connection's buffer sizes, for watching memory while a large message streams.
    pub fn buffer_stats(&mut self) -> BufferStats {
        self.access
            .with(|inner| inner.session.connection_ref().buffer_stats())
    }

    fn poll_write_chunk(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.access.with(|inner| {
            // Backpressure first: accept more only once queued output is below a buffer's worth.
            ready!(inner.poll_flush_if_full(cx))?;
            ready!(inner.poll_command(cx, |c| c.write_chunk(data)))?;
            Poll::Ready(Ok(data.len()))
        })
    }

    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.access.with(|inner| inner.poll_flush_output(cx))
    }

    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let finished = &mut self.finished;
        self.access.with(|inner| {
            if !*finished {
                ready!(inner.poll_command(cx, |c| c.end_message()))?;
                *finished = true;
            }
            inner.poll_flush_output(cx)
        })
    }
}

impl<A: Access> futures_io::AsyncWrite for MessageWriter<'_, A> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_chunk(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_out(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_end(cx)
    }
}

#[cfg(feature = "tokio")]
impl<A: Access> tokio::io::AsyncWrite for MessageWriter<'_, A> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_chunk(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_out(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_end(cx)
    }
}

impl<A: Access> Drop for MessageWriter<'_, A> {
    fn drop(&mut self) {
        if !self.finished {
            // Queued now, written by the next write or flush.
            let _ = self
                .access
                .with(|inner| inner.session.connection().end_message());
        }
    }
}
