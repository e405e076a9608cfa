//! The poll-based driver shared by [`WebSocketStream`](crate::WebSocketStream) and its split
//! halves: the session, the stream, and the timer that wakes the task at the connection's next
//! deadline. Every method is a `poll_*` that keeps all progress in the engine, so dropping a
//! future between polls loses nothing.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Instant;

use bytes::{Buf, Bytes};
use wsio_core::{CloseCode, Message, MessageKind, Progress, Role, Session, SessionError, State};

use crate::transport::{Timer, Transport};
use crate::wakers::{Side, WakerHub};

/// The error type of this crate.
pub type Error = SessionError;
/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `poll_send` does once the message is queued: one of `Inner`'s write steps,
/// `poll_flush_after_send` (the whole stream's `send`: write, unless more received frames
/// wait), `poll_flush_output` (a split half's `send`: write now) or `poll_flush_if_full`
/// (`feed`: write only a full buffer's worth).
///
/// Passed as the function itself, a zero-sized value, rather than as an enum saying which:
/// the send future kept the enum as a byte that the poll read back as a wider word, a load
/// that cannot be forwarded from the store before it and stalled every send (`perf annotate`
/// of the TCP echo server: a fifth of the echo loop's own samples).
pub(crate) trait AfterSend<T: Transport, R: Timer>:
    Fn(&mut Inner<T, R>, &mut Context<'_>) -> Poll<io::Result<()>>
{
}

impl<T: Transport, R: Timer, F> AfterSend<T, R> for F where
    F: Fn(&mut Inner<T, R>, &mut Context<'_>) -> Poll<io::Result<()>>
{
}

/// How many slices one vectored write takes at most.
const MAX_IOV: usize = 64;

/// The largest single read, however much data is flowing.
const MAX_READ: usize = 64 * 1024;

/// The driver state over transport `T` and timer `R`; public only to appear in the sealed
/// `Access` trait.
pub struct Inner<T: Transport, R: Timer> {
    pub(crate) session: Session,
    pub(crate) stream: T,
    pub(crate) read_buffer_size: usize,
    /// How much the next read asks for: starts at `read_buffer_size`, doubles while reads come
    /// back full (a burst or a large message: fewer system calls) up to `MAX_READ`, and falls
    /// back as they come back small.
    read_size: usize,
    pub(crate) write_buffer_size: usize,
    /// Wakes the reading task at the connection's next deadline (heartbeat, close timeout).
    timer: Option<R>,
    /// An error found by a read step, kept until the close frame it queued is written.
    failure: Option<wsio_core::Error>,
    /// The transport was shut down after the closing handshake or a failure.
    shut: bool,
    /// Once the connection is split: wakes every task waiting on it. The stream is then only
    /// ever polled with `hub_waker`, so no task's registration can displace another's. An
    /// unsplit stream has one task, which polls the stream with its own waker.
    hub: Option<Arc<WakerHub>>,
    hub_waker: Option<Waker>,
    /// The last read came back short: the transport gave everything it had, and the next read
    /// will most likely find nothing (see `poll_read_into_engine`).
    drained: bool,
}

impl<T: Transport, R: Timer> Inner<T, R> {
    pub(crate) fn new(
        session: Session,
        stream: T,
        read_buffer_size: usize,
        write_buffer_size: usize,
    ) -> Self {
        Inner {
            session,
            stream,
            read_buffer_size,
            read_size: read_buffer_size,
            write_buffer_size,
            timer: None,
            failure: None,
            shut: false,
            hub: None,
            hub_waker: None,
            drained: false,
        }
    }

    /// Records the calling task as waiting on `side`. Every public entry point calls this
    /// before polling the stream.
    pub(crate) fn register(&self, side: Side, cx: &Context<'_>) {
        if let Some(hub) = &self.hub {
            hub.register(side, cx.waker());
        }
    }

    /// Switches to the waker hub, for split halves in two tasks.
    pub(crate) fn share_wakeups(&mut self) {
        let (hub, waker) = WakerHub::new();
        self.hub = Some(hub);
        self.hub_waker = Some(waker);
    }

    /// Writer side: writes all pending output, then flushes the stream.
    pub(crate) fn poll_flush_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.register(Side::Writer, cx);
        self.poll_flush_hub(cx)
    }

    /// Writes all pending output (vectored) and flushes, polling the stream with the hub's
    /// waker once split (the calling task registered itself already), with the caller's
    /// otherwise.
    fn poll_flush_hub(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut stream_cx = stream_context(&self.hub_waker, cx);
        let cx = &mut stream_cx;
        while let Some(out) = self.session.connection().poll_transmit() {
            let written = {
                // On the stack: a write per burst should not also cost an allocation.
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let n = out.chunks_vectored(&mut slices);
                // One slice (the usual burst of small frames) goes out with a plain write: the
                // kernel's `send` costs less than `writev` (echo benchmark, 1 KiB: +3%
                // messages per CPU-second).
                ready!(match &slices[..n] {
                    [one] => self.stream.poll_write(cx, one),
                    many => self.stream.poll_write_vectored(cx, many),
                })?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.advance(written);
        }
        self.stream.poll_flush(cx)
    }

    /// Writer side, after a `send` on the whole stream: writes now, unless the output may
    /// wait for the end of the burst being received (`Connection::send_may_wait`; the read
    /// step writes everything before it waits for the network).
    pub(crate) fn poll_flush_after_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self
            .session
            .connection_ref()
            .send_may_wait(self.write_buffer_size)
        {
            self.register(Side::Writer, cx);
            Poll::Ready(Ok(()))
        } else {
            self.poll_flush_output(cx)
        }
    }

    /// Writer side: writes output if there is at least a write buffer's worth (batching small
    /// messages).
    pub(crate) fn poll_flush_if_full(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.session.connection_ref().output_pending() >= self.write_buffer_size {
            self.poll_flush_output(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }

    /// Ends the transport once: after the closing handshake (the server closes TCP first,
    /// RFC 6455 section 7.1.1) or a failure.
    fn poll_shut(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut stream_cx = stream_context(&self.hub_waker, cx);
        let cx = &mut stream_cx;
        if !self.shut {
            // An error here means the transport is already gone, which is the goal.
            let _ = ready!(self.stream.poll_shutdown(cx));
            self.shut = true;
        }
        Poll::Ready(())
    }

    /// Reads once from the stream into the engine, or acts on a deadline that passed.
    /// `Pending` registers the task for readability and for the next deadline.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.register(Side::Reader, cx);
        if self.session.connection_ref().has_timers() {
            if let Poll::Ready(result) = self.poll_deadlines(cx) {
                return Poll::Ready(result);
            }
        } else {
            self.timer = None;
        }
        self.poll_read_into_engine(cx)
    }

    /// Acts on a deadline that passed (`Ready`: the caller looks at the engine again before
    /// reading), or sets the timer to wake the task at the next one (`Pending`: go on).
    fn poll_deadlines(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let now = Instant::now();
        let conn = self.session.connection();
        if conn.poll_timeout(now).is_some_and(|at| at <= now) {
            // A deadline passed: the engine now has a ping to send or a timeout to report, so
            // let the caller look before waiting on the stream.
            conn.handle_timeout(now);
            return Poll::Ready(Ok(()));
        }
        match conn.poll_timeout(now) {
            Some(at) => {
                let timer = self.timer.get_or_insert_with(|| R::at(at));
                if timer.deadline() != at {
                    timer.reset(at);
                }
                if timer.poll_fire(cx).is_ready() {
                    self.session.connection().handle_timeout(Instant::now());
                    return Poll::Ready(Ok(()));
                }
            }
            None => self.timer = None,
        }
        Poll::Pending
    }

    /// Reads once from the stream into the engine's buffer.
    ///
    /// Right after a short read, when the connection has given its read buffer back (all it
    /// received is consumed), the transport is first asked with an empty read whether anything
    /// arrived since, if it answers that without consuming or waiting (`waits_on_empty_read`).
    /// Why: the end of every burst comes here, and the read that finds nothing would otherwise
    /// take a buffer from the pool only to give it back (`perf`: the pools' calls are ~4% of
    /// the 16 B echo server's CPU). The README's echo loop in memory, 16 B: 21.5 -> 22.4-23.2
    /// M msgs/s; TCP 16 B +1.8% (median of five rounds), with no more system calls.
    fn poll_read_into_engine(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if std::mem::take(&mut self.drained)
            && self.stream.waits_on_empty_read()
            && self.session.connection_ref().buffer_stats().read_capacity == 0
        {
            let mut stream_cx = stream_context(&self.hub_waker, cx);
            match self.stream.poll_read(&mut stream_cx, &mut []) {
                Poll::Pending => {
                    // As below when a read finds nothing: the connection goes idle.
                    self.session.connection().release_idle_buffers();
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                // Something arrived (or the end): read it into a buffer.
                Poll::Ready(Ok(_)) => {}
            }
        }
        let size = if self.stream.reads_uninit() {
            // Offering room costs nothing: take whatever has arrived in one system call.
            MAX_READ.max(self.read_buffer_size)
        } else {
            self.read_size
        };
        let conn = self.session.connection();
        let size = conn.prepare_read(size);
        let buf = conn.read_buf();
        let start = buf.len();
        let mut stream_cx = stream_context(&self.hub_waker, cx);
        let result = self.stream.poll_read_buf(&mut stream_cx, buf, size);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        self.drained = n > 0 && n < size;
        if n == size {
            self.read_size = (size * 2).min(MAX_READ.max(self.read_buffer_size));
        } else if n < size / 4 {
            self.read_size = (size / 2).max(self.read_buffer_size);
        }
        if start + n == 0 {
            // Waiting with nothing buffered: the connection is idle and lends its buffer back.
            let conn = self.session.connection();
            conn.release_read_buf();
            if result.is_pending() {
                conn.release_idle_buffers();
            }
        }
        match result {
            Poll::Ready(Ok(_)) => {
                if n == 0 {
                    self.session.connection().receive_eof();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Drives one read step: writes pending output first (automatic replies never wait for
    /// the application), then runs `step` on the session until it is done, reading as needed.
    /// A failure's close frame is written and the transport ended before the error is returned.
    fn poll_read_step<V>(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(&mut Session) -> std::result::Result<Progress<V>, wsio_core::Error>,
    ) -> Poll<Result<V>> {
        self.register(Side::Reader, cx);
        loop {
            if self.failure.is_some() {
                let _ = ready!(self.poll_flush_hub(cx));
                ready!(self.poll_shut(cx));
                return Poll::Ready(Err(self.failure.take().expect("checked").into()));
            }
            let progress = step(&mut self.session);
            match progress {
                Ok(Progress::Done(value)) => {
                    // Otherwise output (replies to a burst, pongs) leaves in one write when
                    // the burst ends, below, before the read step waits.
                    if self
                        .session
                        .connection_ref()
                        .must_write_now(self.write_buffer_size)
                    {
                        self.try_flush(cx)?;
                    }
                    let conn = self.session.connection();
                    if conn.release_read_buf() {
                        // Everything received is consumed: the buffers go back rather than
                        // stay with a connection the application may not read again for a
                        // long time.
                        conn.release_idle_buffers();
                    }
                    let conn = self.session.connection_ref();
                    if conn.state() == State::Closed
                        && conn.role() == Role::Server
                        && !conn.wants_write()
                    {
                        ready!(self.poll_shut(cx));
                    }
                    return Poll::Ready(Ok(value));
                }
                Ok(Progress::NeedInput) => {
                    // About to wait for the network: everything queued goes out first
                    // (automatic replies never wait for the application). If the socket is
                    // full, its wakeup brings the task back here to write the rest.
                    self.try_flush(cx)?;
                    ready!(self.poll_fill(cx))?
                }
                Err(e) => self.failure = Some(e),
            }
        }
    }

    /// Writes what the transport takes now; a full socket is not an error (the hub waker
    /// brings the task back when it drains).
    fn try_flush(&mut self, cx: &mut Context<'_>) -> Result<()> {
        match self.poll_flush_hub(cx) {
            Poll::Ready(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    }

    // Inlined into the application's `recv` future, like `Session::poll_message` into it:
    // otherwise each returns the message as a 48-byte value written to the stack and read
    // straight back by its caller, and `perf annotate` showed the caller waiting on that
    // load. `codec echo` in memory: 16 B +7%, 1 KiB +4%. Inlining `poll_read_step`,
    // `poll_send` or `send_with` as well gained nothing or lost.
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        match ready!(self.poll_read_step(cx, Session::poll_message)) {
            Ok(Some(message)) => Poll::Ready(Some(Ok(message))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    pub(crate) fn poll_message_start(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<MessageKind>>> {
        self.poll_read_step(cx, Session::poll_message_start)
    }

    pub(crate) fn poll_message_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>>> {
        self.poll_read_step(cx, Session::poll_message_data)
    }

    /// Queues the message left in `slot` (writing output first while it is over its limit),
    /// then writes as `after` says (see [`AfterSend`]). `send` has usually queued the message
    /// already (`queue_now`), so the slot is empty and this is the write alone; a re-poll
    /// after `Pending` goes straight to the write.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
        after: impl AfterSend<T, R>,
    ) -> Poll<Result<()>> {
        self.queue_now(slot)?;
        while slot.is_some() {
            ready!(self.poll_flush_output(cx))?;
            self.queue_now(slot)?;
        }
        after(self, cx).map_err(Error::from)
    }

    /// Queues the message in `slot`, if there is one, when the output has room (the usual
    /// case), leaving it in the slot otherwise. `send` and `feed` call it when they are called,
    /// `poll_send` again after each write while the output is over its limit.
    #[inline]
    pub(crate) fn queue_now(&mut self, slot: &mut Option<Message>) -> Result<()> {
        if slot.is_some() && self.session.connection_ref().has_output_room() {
            let message = slot.take().expect("checked above");
            self.session.connection().send(message)?;
        }
        Ok(())
    }

    /// Runs a command, writing output first while it is over its limit.
    pub(crate) fn poll_command(
        &mut self,
        cx: &mut Context<'_>,
        mut command: impl FnMut(&mut wsio_core::Connection) -> std::result::Result<(), wsio_core::Error>,
    ) -> Poll<Result<()>> {
        self.register(Side::Writer, cx);
        loop {
            match command(self.session.connection()) {
                Err(wsio_core::Error::OutputFull) => ready!(self.poll_flush_output(cx))?,
                other => return Poll::Ready(other.map_err(Error::from)),
            }
        }
    }

    /// Queues our close frame (unless one was sent).
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        match self.session.connection().close(code, reason) {
            Ok(()) | Err(wsio_core::Error::SendAfterClose | wsio_core::Error::Closed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// After [`start_close`](Self::start_close): writes it, reads until the peer's close
    /// arrives (or `Config::close_timeout` passes), then ends the transport.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let result = ready!(self.poll_read_step(cx, Session::poll_close));
        let _ = ready!(self.poll_flush_hub(cx));
        ready!(self.poll_shut(cx));
        Poll::Ready(result)
    }
}

impl<T: Transport, R: Timer> Drop for Inner<T, R> {
    /// Output a batching `send` left for the end of a burst is written if the transport takes
    /// it without waiting, so dropping the stream right after a `send` loses nothing in the
    /// usual case. (`close` is the way to be sure everything arrived.)
    fn drop(&mut self) {
        if !self.shut && self.session.connection_ref().wants_write() {
            let mut cx = Context::from_waker(Waker::noop());
            let _ = self.poll_flush_hub(&mut cx);
        }
    }
}

/// The context to poll the stream with: the hub's waker once split, the caller's otherwise.
fn stream_context<'a>(hub_waker: &'a Option<Waker>, cx: &'a Context<'_>) -> Context<'a> {
    Context::from_waker(hub_waker.as_ref().unwrap_or(cx.waker()))
}
