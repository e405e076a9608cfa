//! What the shared driver needs from a runtime: a byte stream it can poll, and a timer.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Instant;

/// A runtime's byte stream, seen through plain poll methods. The tokio and smol adapters
/// implement it for their I/O traits; the driver never sees which one it runs on.
pub trait Transport: Unpin {
    /// Reads into `buf`; `Ready(Ok(0))` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
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
