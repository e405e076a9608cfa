//! Read buffers lent to connections only while bytes are arriving.
//!
//! A connection waiting for its peer needs no read buffer: the driver borrows one from this
//! thread's pool just before it polls the transport and gives it back when the poll finds no
//! bytes and nothing is left over from earlier reads. Thousands of idle connections then cost
//! no read buffers at all, while a busy one keeps reusing a warm one without asking the
//! allocator.

use std::cell::RefCell;

use bytes::BytesMut;

/// Idle buffers kept per thread; beyond this they are freed. A thread polls one transport at a
/// time, so a few cover every connection it drives.
const POOL_PER_THREAD: usize = 8;

thread_local! {
    static IDLE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer with room for at least `size` bytes, from the pool when one is there.
pub(crate) fn take(size: usize) -> BytesMut {
    IDLE.with_borrow_mut(|idle| {
        while let Some(mut buf) = idle.pop() {
            // A pooled buffer may have grown for a large frame or been trimmed: use it only if
            // it holds `size` without reallocating.
            if buf.try_reclaim(size) {
                return buf;
            }
        }
        BytesMut::with_capacity(size)
    })
}

/// Returns an empty buffer to the pool. One whose storage is still shared with a message the
/// application holds cannot be reused without allocating, and one far larger than `size`
/// (grown for a large frame) would keep that memory alive; both are dropped instead.
pub(crate) fn give(mut buf: BytesMut, size: usize) {
    debug_assert!(buf.is_empty());
    if buf.capacity() > 4 * size.max(1) || !buf.try_reclaim(size) {
        return;
    }
    IDLE.with_borrow_mut(|idle| {
        if idle.len() < POOL_PER_THREAD {
            idle.push(buf);
        }
    });
}
