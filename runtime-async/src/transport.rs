//! What the shared driver needs from a runtime: a byte stream it can poll, and a timer.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

/// A runtime's byte stream, seen through plain poll methods. The tokio and smol adapters
/// implement it for their I/O traits; the driver never sees which one it runs on.
pub trait Transport: Unpin {
    /// Reads into `buf`; `Ready(Ok(0))` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Reads at most `max` bytes, appending them to `buf`; returns how many.
    ///
    /// The default zero-fills the room first, as `poll_read` needs initialised memory. A
    /// runtime whose reads accept uninitialised memory overrides it (and
    /// [`reads_uninit`](Self::reads_uninit)): then a large read costs nothing before the
    /// kernel's copy, and the driver can always offer the largest read.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        let start = buf.len();
        buf.resize(start + max, 0);
        let result = self.poll_read(cx, &mut buf[start..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(start + n);
        result
    }

    /// Whether [`poll_read_buf`](Self::poll_read_buf) reads into uninitialised memory (so a
    /// large read costs no more than a small one).
    fn reads_uninit(&self) -> bool {
        false
    }

    /// Whether [`poll_read`](Self::poll_read) with an empty buffer answers `Pending` (and wakes
    /// the task later) while nothing has arrived, and `Ready` once something has, without
    /// consuming any of it, and cheaply when the transport already knows it has nothing: then
    /// the driver asks that way before taking a read buffer from the pool. tokio's sockets do
    /// (a short read clears their readiness, so the empty read that follows costs no system
    /// call); async-io's try the system call first, which a read of nothing always passes.
    fn waits_on_empty_read(&self) -> bool {
        false
    }

    /// Writes from `buf`, returning how many bytes were taken.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes from `bufs`, returning how many bytes were taken.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Flushes buffered writes.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ends the writing direction (and, for TLS, sends close_notify).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A runtime's timer, used to wake the reading task at the connection's next deadline.
pub trait Timer: Unpin + Send + 'static {
    /// A timer that fires at `at`.
    fn at(at: Instant) -> Self;
    /// When it fires.
    fn deadline(&self) -> Instant;
    /// Moves the deadline.
    fn reset(&mut self, at: Instant);
    /// `Ready` once the deadline has passed; otherwise registers `cx` to be woken then.
    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}
