//! The message-level operations, written once over the two things they need from a transport:
//! writing the connection's output ([`Output`]) and reading more input ([`Input`]). The whole
//! [`WebSocket`](crate::WebSocket) and its split halves implement them.

use std::io::{self, Read, Write};
use std::ops::DerefMut;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use wsio_core::{
    BufferStats, CloseCode, Connection, Message, MessageKind, Progress, Role, Session,
    SessionError, State, Transmit,
};

/// The error type of this crate.
pub type Error = SessionError;
/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many slices one vectored write takes at most.
const MAX_IOV: usize = 64;

/// Buffer sizes and the application's read timeout. Public only to appear in the sealed
/// traits below; not reachable from outside the crate.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub(crate) read_buffer_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) read_timeout: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            read_buffer_size: 4096,
            write_buffer_size: 4096,
            read_timeout: None,
        }
    }
}

/// Access to the session and a way to write its output. Sealed: implemented by
/// [`WebSocket`](crate::WebSocket) and its halves only.
pub trait Output {
    /// The session, exclusively, for a short engine call (never held across I/O).
    #[doc(hidden)]
    fn session(&mut self) -> impl DerefMut<Target = Session> + '_;
    /// Writes all of the connection's pending output.
    #[doc(hidden)]
    fn flush_output(&mut self) -> io::Result<()>;
    /// Ends the transport (after a close handshake or a failure).
    #[doc(hidden)]
    fn shutdown(&mut self);
    #[doc(hidden)]
    fn settings(&self) -> Settings;
}

/// A way to read more input into the session.
pub trait Input: Output {
    /// Writes pending output, then reads once from the transport into the session, waking at
    /// the connection's next deadline. Fails with a timeout error only when the application's
    /// `deadline` passed (or the stream is non-blocking and has nothing).
    #[doc(hidden)]
    fn fill(&mut self, deadline: Option<Instant>) -> Result<()>;
}

/// Writes everything `conn` has queued to `stream`, vectored, then flushes the stream.
pub(crate) fn write_output(conn: &mut Connection, stream: &mut impl Write) -> io::Result<()> {
    while let Some(out) = conn.poll_transmit() {
        write_transmit(out, stream)?;
    }
    stream.flush()
}

/// Writes all of `out` to `stream` with vectored writes, advancing it by what was written.
pub(crate) fn write_transmit(out: &mut Transmit, stream: &mut impl Write) -> io::Result<()> {
    while out.has_remaining() {
        let written = {
            // On the stack, as in the async runtimes: a write per burst should not also cost
            // an allocation.
            let mut slices = [io::IoSlice::new(&[]); MAX_IOV];
            let n = out.chunks_vectored(&mut slices);
            // One slice (the usual burst of small frames) goes out with a plain write: `send`
            // costs the kernel less than `writev` (echo benchmark, 1 KiB: +3% msgs/CPU-s).
            match &slices[..n] {
                [one] => stream.write(one),
                many => stream.write_vectored(many),
            }
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// When one of the connection's deadlines has passed, lets the engine act on it (queue a
/// heartbeat ping, or fail with a timeout) and returns true: the caller must look at the
/// engine again before waiting on the stream, which might otherwise wait forever.
pub(crate) fn deadline_passed(conn: &mut Connection, now: Instant) -> bool {
    if conn.poll_timeout(now).is_some_and(|at| at <= now) {
        conn.handle_timeout(now);
        true
    } else {
        false
    }
}

/// The time until the earlier of the connection's deadline and the application's, never zero
/// (a zero socket timeout would mean "block forever").
pub(crate) fn wait_for(
    conn: &mut Connection,
    deadline: Option<Instant>,
    now: Instant,
) -> Option<Duration> {
    let wake = match (conn.poll_timeout(now), deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    wake.map(|at| {
        at.saturating_duration_since(now)
            .max(Duration::from_millis(1))
    })
}

/// What a failed read did: whether to report it, or to go on because a connection deadline
/// (heartbeat, close timeout) woke us and the engine now has something to say.
pub(crate) fn read_failed(
    conn: &mut Connection,
    error: io::Error,
    deadline: Option<Instant>,
) -> Result<()> {
    match error.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            let now = Instant::now();
            let ours = conn.poll_timeout(now).is_some_and(|at| at <= now);
            if ours && deadline.is_none_or(|d| d > now) {
                conn.handle_timeout(now);
                Ok(())
            } else {
                Err(error.into())
            }
        }
        _ => Err(error.into()),
    }
}

/// Flushes what a failure queued (its close frame), ends the transport, and returns the error.
fn fail(d: &mut impl Output, error: wsio_core::Error) -> Error {
    let _ = d.flush_output();
    d.shutdown();
    error.into()
}

/// After a read step: writes automatic replies at once and, when the closing handshake has
/// finished on the server side, closes the transport (the server closes TCP first, RFC 6455
/// section 7.1.1).
fn settle(d: &mut impl Output) -> Result<()> {
    let write_buffer = d.settings().write_buffer_size;
    let (state, role, write_now) = {
        let mut s = d.session();
        let conn = s.connection();
        (conn.state(), conn.role(), conn.must_write_now(write_buffer))
    };
    // Otherwise replies and pongs wait for one write at the end of the burst (`Input::fill`
    // writes everything before it blocks).
    if write_now {
        d.flush_output()?;
    }
    if state == State::Closed && role == Role::Server {
        d.shutdown();
    }
    Ok(())
}

/// Queues `message`, flushing first while the output is over its limit. The message moves
/// into the engine once there is room (no copy, no reference-count traffic).
fn queue_message(d: &mut impl Output, message: Message) -> Result<()> {
    let mut message = Some(message);
    queue(d, |c| {
        if !c.has_output_room() {
            return Err(wsio_core::Error::OutputFull);
        }
        c.send(message.take().expect("queued at most once"))
    })
}

/// Runs a command, flushing and retrying while the output is over its limit.
fn queue(
    d: &mut impl Output,
    mut command: impl FnMut(&mut Connection) -> Result<(), wsio_core::Error>,
) -> Result<()> {
    loop {
        let result = command(d.session().connection());
        match result {
            Err(wsio_core::Error::OutputFull) => d.flush_output()?,
            other => return other.map_err(Error::from),
        }
    }
}

fn deadline(d: &impl Output) -> Option<Instant> {
    d.settings().read_timeout.map(|t| Instant::now() + t)
}

pub(crate) fn read_message(d: &mut impl Input) -> Result<Option<Message>> {
    let deadline = deadline(d);
    loop {
        let step = d.session().poll_message();
        match step {
            Ok(Progress::Done(message)) => {
                settle(d)?;
                return Ok(message);
            }
            Ok(Progress::NeedInput) => d.fill(deadline)?,
            Err(e) => return Err(fail(d, e)),
        }
    }
}

pub(crate) fn send(d: &mut impl Output, message: Message) -> Result<()> {
    queue_message(d, message)?;
    Ok(d.flush_output()?)
}

/// `send` for the unsplit socket, whose owner is also its reader: when the bytes already
/// received hold another frame, the application is working through a burst and will be back
/// in `read_message` without blocking, so the write waits for the end of the burst (one
/// vectored write for all the replies); otherwise it happens now.
pub(crate) fn send_batched(d: &mut impl Output, message: Message) -> Result<()> {
    queue_message(d, message)?;
    let write_buffer = d.settings().write_buffer_size;
    if !d.session().connection_ref().send_may_wait(write_buffer) {
        d.flush_output()?;
    }
    Ok(())
}

pub(crate) fn write_message(d: &mut impl Output, message: Message) -> Result<()> {
    queue_message(d, message)?;
    flush_if_full(d)
}

fn flush_if_full(d: &mut impl Output) -> Result<()> {
    let pending = d.session().connection_ref().output_pending();
    if pending >= d.settings().write_buffer_size {
        d.flush_output()?;
    }
    Ok(())
}

pub(crate) fn control(d: &mut impl Output, ping: bool, payload: &[u8]) -> Result<()> {
    queue(d, |c| {
        if ping {
            c.ping(payload)
        } else {
            c.pong(payload)
        }
    })?;
    Ok(d.flush_output()?)
}

/// Sends our close frame (unless one was sent) and flushes it.
pub(crate) fn start_close(d: &mut impl Output, code: CloseCode, reason: &str) -> Result<()> {
    match d.session().connection().close(code, reason) {
        Ok(()) | Err(wsio_core::Error::SendAfterClose | wsio_core::Error::Closed) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(d.flush_output()?)
}

pub(crate) fn close(d: &mut impl Input, code: CloseCode, reason: &str) -> Result<()> {
    start_close(d, code, reason)?;
    loop {
        let step = d.session().poll_close();
        match step {
            Ok(Progress::Done(())) => break,
            // The connection's close timer bounds this wait.
            Ok(Progress::NeedInput) => {
                if let Err(e) = d.fill(None) {
                    d.shutdown();
                    return Err(e);
                }
            }
            Err(e) => return Err(fail(d, e)),
        }
    }
    let flushed = d.flush_output();
    d.shutdown();
    Ok(flushed?)
}

pub(crate) fn next_reader<D: Input>(d: &mut D) -> Result<Option<MessageReader<'_, D>>> {
    let deadline = deadline(d);
    loop {
        let step = d.session().poll_message_start();
        match step {
            Ok(Progress::Done(Some(kind))) => {
                return Ok(Some(MessageReader {
                    driver: d,
                    kind,
                    piece: Bytes::new(),
                    done: false,
                }));
            }
            Ok(Progress::Done(None)) => {
                settle(d)?;
                return Ok(None);
            }
            Ok(Progress::NeedInput) => d.fill(deadline)?,
            Err(e) => return Err(fail(d, e)),
        }
    }
}

pub(crate) fn next_writer<D: Output>(d: &mut D, kind: MessageKind) -> Result<MessageWriter<'_, D>> {
    queue(d, |c| c.begin_message(kind))?;
    Ok(MessageWriter {
        driver: d,
        finished: false,
    })
}

/// One received message, read as a stream: its payload is pulled from the connection piece by
/// piece as it arrives, so a message of any size passes through bounded memory.
///
/// Reading to the end (`read` returning 0) completes the message. Dropping the reader earlier
/// leaves the rest to be skipped by the next read. A read timeout returns an error of kind
/// `TimedOut`/`WouldBlock` and the next `read` continues where this one stopped.
pub struct MessageReader<'a, D: Input> {
    driver: &'a mut D,
    kind: MessageKind,
    piece: Bytes,
    done: bool,
}

impl<D: Input> MessageReader<'_, D> {
    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The connection's buffer sizes, for watching memory while a large message streams.
    pub fn buffer_stats(&mut self) -> BufferStats {
        self.driver.session().connection_ref().buffer_stats()
    }
}

impl<D: Input> Read for MessageReader<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = deadline(self.driver);
        while self.piece.is_empty() {
            if self.done {
                return Ok(0);
            }
            let step = self.driver.session().poll_message_data();
            match step {
                Ok(Progress::Done(Some(piece))) => self.piece = piece,
                Ok(Progress::Done(None)) => {
                    self.done = true;
                    settle(self.driver)?;
                }
                Ok(Progress::NeedInput) => self.driver.fill(deadline)?,
                Err(e) => return Err(fail(self.driver, e).into()),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece[..n]);
        self.piece.advance(n);
        Ok(n)
    }
}

/// A message being sent as a stream: each `write` is framed into fragments of
/// `Config::fragment_size` and written out once a write buffer's worth is queued, so a message
/// of any size passes through bounded memory. [`finish`](Self::finish) (or dropping the
/// writer) sends the final fragment.
pub struct MessageWriter<'a, D: Output> {
    driver: &'a mut D,
    finished: bool,
}

impl<D: Output> MessageWriter<'_, D> {
    /// The connection's buffer sizes, for watching memory while a large message streams.
    pub fn buffer_stats(&mut self) -> BufferStats {
        self.driver.session().connection_ref().buffer_stats()
    }

    /// Sends the last fragment and flushes; reports the errors that dropping would swallow.
    pub fn finish(mut self) -> Result<()> {
        self.finished = true;
        queue(self.driver, |c| c.end_message())?;
        Ok(self.driver.flush_output()?)
    }
}

impl<D: Output> Write for MessageWriter<'_, D> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        queue(self.driver, |c| c.write_chunk(data))?;
        flush_if_full(self.driver)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.driver.flush_output()
    }
}

impl<D: Output> Drop for MessageWriter<'_, D> {
    fn drop(&mut self) {
        if !self.finished && queue(self.driver, |c| c.end_message()).is_ok() {
            let _ = self.driver.flush_output();
        }
    }
}
