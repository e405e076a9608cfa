//! The blocking WebSocket and its split halves.

use std::io;
use std::ops::DerefMut;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wsio_core::session::{CloseHandler, PingHandler, PongHandler};
use wsio_core::{CloseCode, CloseFrame, Connection, Message, MessageKind, Session};

use crate::io::{
    self as ops, Input, MessageReader, MessageWriter, Output, Result, Settings, deadline_passed,
    read_failed, wait_for, write_output, write_transmit,
};
use crate::stream::{Stream, TryClone};

/// A WebSocket connection over a blocking stream.
///
/// One thread at a time uses it; [`split`](Self::split) gives a reader and a writer that two
/// threads can use at once. Automatic replies (pong, close echo) are written as soon as the
/// read that produced them returns, even if the application never writes.
pub struct WebSocket<S: Stream> {
    session: Session,
    stream: S,
    settings: Settings,
    /// The read timeout last set on the stream, to skip redundant system calls.
    socket_timeout: Option<Option<Duration>>,
}

impl<S: Stream> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> WebSocket<S> {
    /// Wraps a stream whose opening handshake is done (by [`accept`](crate::accept),
    /// [`client`](crate::client), or an HTTP server such as hyper) and the connection made
    /// from it.
    pub fn from_connection(connection: Connection, stream: S) -> Self {
        Self::with_settings(connection, stream, Settings::default())
    }

    pub(crate) fn with_settings(connection: Connection, stream: S, settings: Settings) -> Self {
        WebSocket {
            session: Session::new(connection),
            stream,
            settings,
            socket_timeout: None,
        }
    }

    /// The next message; `Ok(None)` once the peer has closed (its close frame is then in
    /// [`peer_close`](Self::peer_close)). Control frames go to their handlers meanwhile.
    pub fn read_message(&mut self) -> Result<Option<Message>> {
        ops::read_message(self)
    }

    /// Sends a message and writes it out.
    ///
    /// When the bytes already received hold another frame (the peer sent a burst and the next
    /// [`read_message`](Self::read_message) returns without blocking), the message is written
    /// together with the replies to the rest of the burst: by the `send` or read that finds no
    /// more input waiting, at the latest before a read blocks, or by [`flush`](Self::flush) /
    /// [`close`](Self::close). A plain echo or request/response loop then makes one write per
    /// burst instead of one per message. Call `flush` if a reply must leave before the next
    /// read. Split halves do not batch: their reader may be on another thread.
    pub fn send(&mut self, message: Message) -> Result<()> {
        ops::send_batched(self, message)
    }

    /// Queues a message, writing only once a write buffer's worth is waiting: many small
    /// messages leave in few system calls. Call [`flush`](Self::flush) to send the rest.
    pub fn write_message(&mut self, message: Message) -> Result<()> {
        ops::write_message(self, message)
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<()> {
        Ok(self.flush_output()?)
    }

    /// Sends a ping now.
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        ops::control(self, true, payload)
    }

    /// Sends an unsolicited pong now.
    pub fn pong(&mut self, payload: &[u8]) -> Result<()> {
        ops::control(self, false, payload)
    }

    /// Runs the closing handshake: sends our close frame, reads (dropping messages) until the
    /// peer's close arrives or `Config::close_timeout` passes, then ends the transport.
    /// Closing an already closed connection succeeds.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        ops::close(self, code, reason)
    }

    /// The next message as a stream (`Ok(None)` once the peer has closed). See
    /// [`MessageReader`].
    pub fn next_reader(&mut self) -> Result<Option<MessageReader<'_, Self>>> {
        ops::next_reader(self)
    }

    /// Starts a message of `kind` sent as a stream. See [`MessageWriter`].
    pub fn next_writer(&mut self, kind: MessageKind) -> Result<MessageWriter<'_, Self>> {
        ops::next_writer(self, kind)
    }

    /// Bounds how long each read call waits (`None`: without limit). A read that times out
    /// returns an error for which [`Error::is_timeout`](crate::Error::is_timeout) holds, and
    /// the connection stays usable: the next read continues the same message.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.settings.read_timeout = timeout;
    }

    /// Replaces the ping handler; `None` restores the default (answer with a pong).
    pub fn set_ping_handler(&mut self, handler: Option<PingHandler>) {
        self.session.set_ping_handler(handler);
    }

    /// Replaces the pong handler; `None` restores the default (ignore).
    pub fn set_pong_handler(&mut self, handler: Option<PongHandler>) {
        self.session.set_pong_handler(handler);
    }

    /// Replaces the close handler; `None` restores the default (echo the peer's code).
    pub fn set_close_handler(&mut self, handler: Option<CloseHandler>) {
        self.session.set_close_handler(handler);
    }

    /// The peer's close frame once it arrived (`Some(None)`: it carried no status).
    pub fn peer_close(&self) -> Option<Option<&CloseFrame>> {
        self.session.peer_close()
    }

    /// The protocol engine: state, negotiated extensions, buffer sizes.
    pub fn connection(&self) -> &Connection {
        self.session.connection_ref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Splits into a reader and a writer for two threads. The halves share the engine behind
    /// a lock held only for engine calls, never during I/O; each has its own handle to the
    /// stream. Control frames and close are safe from either half.
    pub fn split(mut self) -> io::Result<(ReadHalf<S>, WriteHalf<S>)>
    where
        S: TryClone,
    {
        let reader = self.stream.try_clone()?;
        let writer = self.stream.try_clone()?;
        // The engine moves into the halves; what is left behind is an empty stand-in for
        // `Drop`, and this handle to the stream closes (the halves hold their own).
        let placeholder = Session::new(Connection::new(
            wsio_core::Role::Client,
            wsio_core::Config::default(),
        ));
        let session = std::mem::replace(&mut self.session, placeholder);
        let shared = Arc::new(Shared {
            session: Mutex::new(session),
            writer: Mutex::new(writer),
        });
        let read_half = ReadHalf {
            shared: shared.clone(),
            stream: reader,
            settings: self.settings,
            socket_timeout: None,
            scratch: Vec::new(),
        };
        Ok((
            read_half,
            WriteHalf {
                shared,
                settings: self.settings,
            },
        ))
    }

    fn set_socket_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.socket_timeout != Some(timeout) {
            self.stream.set_read_timeout(timeout)?;
            self.socket_timeout = Some(timeout);
        }
        Ok(())
    }
}

impl<S: Stream> Output for WebSocket<S> {
    fn session(&mut self) -> impl DerefMut<Target = Session> + '_ {
        &mut self.session
    }

    fn flush_output(&mut self) -> io::Result<()> {
        write_output(self.session.connection(), &mut self.stream)
    }

    fn shutdown(&mut self) {
        let _ = self.stream.shutdown();
    }

    fn settings(&self) -> Settings {
        self.settings
    }
}

impl<S: Stream> Input for WebSocket<S> {
    fn fill(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.flush_output()?;
        let now = Instant::now();
        if deadline_passed(self.session.connection(), now) {
            return Ok(());
        }
        let timeout = wait_for(self.session.connection(), deadline, now);
        self.set_socket_timeout(timeout)?;
        // Read straight into the connection's buffer: a message that fits one read is then
        // handed out without a copy.
        let size = self
            .session
            .connection()
            .prepare_read(self.settings.read_buffer_size);
        let buf = self.session.connection().read_buf();
        let start = buf.len();
        buf.resize(start + size, 0);
        let result = self.stream.read(&mut buf[start..]);
        buf.truncate(start + *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => {
                self.session.connection().receive_eof();
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => read_failed(self.session.connection(), e, deadline),
        }
    }
}

impl<S: Stream> Drop for WebSocket<S> {
    /// Output a batching `send` left for the end of a burst is written before the socket goes,
    /// so dropping it right after a `send` loses nothing. (`close` is the way to be sure
    /// everything arrived.)
    fn drop(&mut self) {
        if self.session.connection_ref().wants_write() {
            let _ = self.flush_output();
        }
    }
}

/// What the halves share: the engine, and the stream handle that writes.
struct Shared<S> {
    session: Mutex<Session>,
    writer: Mutex<S>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in an application handler must not take the other half down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Stream> Shared<S> {
    /// Writes the engine's output under the writer lock, taking it out of the engine so the
    /// engine lock is not held during the write.
    fn flush(&self) -> io::Result<()> {
        let mut writer = lock(&self.writer);
        loop {
            let mut out = match lock(&self.session).connection().poll_transmit() {
                Some(out) => std::mem::take(out),
                None => break,
            };
            write_transmit(&mut out, &mut *writer)?;
        }
        writer.flush()
    }
}

/// The reading half of a split [`WebSocket`]: messages, streamed reads, and the automatic
/// replies they trigger (written through the shared writer).
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
    stream: S,
    settings: Settings,
    socket_timeout: Option<Option<Duration>>,
    /// Where a read lands before it is handed to the engine (outside the engine lock).
    scratch: Vec<u8>,
}

impl<S: Stream> ReadHalf<S> {
    /// As [`WebSocket::read_message`].
    pub fn read_message(&mut self) -> Result<Option<Message>> {
        ops::read_message(self)
    }

    /// As [`WebSocket::next_reader`].
    pub fn next_reader(&mut self) -> Result<Option<MessageReader<'_, Self>>> {
        ops::next_reader(self)
    }

    /// As [`WebSocket::set_read_timeout`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.settings.read_timeout = timeout;
    }

    /// As [`WebSocket::close`]: sends our close and reads until the peer's arrives.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        ops::close(self, code, reason)
    }

    /// The peer's close frame once it arrived.
    pub fn peer_close(&self) -> Option<Option<CloseFrame>> {
        lock(&self.shared.session).peer_close().map(|f| f.cloned())
    }
}

impl<S: Stream> Output for ReadHalf<S> {
    fn session(&mut self) -> impl DerefMut<Target = Session> + '_ {
        lock(&self.shared.session)
    }

    fn flush_output(&mut self) -> io::Result<()> {
        self.shared.flush()
    }

    fn shutdown(&mut self) {
        let _ = lock(&self.shared.writer).shutdown();
    }

    fn settings(&self) -> Settings {
        self.settings
    }
}

impl<S: Stream> Input for ReadHalf<S> {
    fn fill(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.shared.flush()?;
        let now = Instant::now();
        let timeout = {
            let mut session = lock(&self.shared.session);
            if deadline_passed(session.connection(), now) {
                return Ok(());
            }
            wait_for(session.connection(), deadline, now)
        };
        if self.socket_timeout != Some(timeout) {
            self.stream.set_read_timeout(timeout)?;
            self.socket_timeout = Some(timeout);
        }
        self.scratch.resize(self.settings.read_buffer_size, 0);
        let result = self.stream.read(&mut self.scratch);
        let mut session = lock(&self.shared.session);
        match result {
            Ok(0) => {
                session.connection().receive_eof();
                Ok(())
            }
            Ok(n) => {
                session.connection().receive(&self.scratch[..n]);
                Ok(())
            }
            Err(e) => read_failed(session.connection(), e, deadline),
        }
    }
}

/// The writing half of a split [`WebSocket`].
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
    settings: Settings,
}

impl<S: Stream> WriteHalf<S> {
    /// As [`WebSocket::send`].
    pub fn send(&mut self, message: Message) -> Result<()> {
        ops::send(self, message)
    }

    /// As [`WebSocket::write_message`].
    pub fn write_message(&mut self, message: Message) -> Result<()> {
        ops::write_message(self, message)
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<()> {
        Ok(self.shared.flush()?)
    }

    /// Sends a ping now.
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        ops::control(self, true, payload)
    }

    /// Sends our close frame. The read half completes the handshake: its next read returns
    /// `Ok(None)` when the peer's close arrives (or a timeout error after
    /// `Config::close_timeout`).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        ops::start_close(self, code, reason)
    }

    /// As [`WebSocket::next_writer`].
    pub fn next_writer(&mut self, kind: MessageKind) -> Result<MessageWriter<'_, Self>> {
        ops::next_writer(self, kind)
    }
}

impl<S: Stream> Output for WriteHalf<S> {
    fn session(&mut self) -> impl DerefMut<Target = Session> + '_ {
        lock(&self.shared.session)
    }

    fn flush_output(&mut self) -> io::Result<()> {
        self.shared.flush()
    }

    fn shutdown(&mut self) {
        let _ = lock(&self.shared.writer).shutdown();
    }

    fn settings(&self) -> Settings {
        self.settings
    }
}
