//! Byte buffers lent to connections only while they are busy.
//!
//! A connection waiting for its peer needs neither a read buffer nor an output buffer: its
//! read buffer is borrowed from this thread's pool just before the runtime polls the transport
//! ([`Connection::prepare_read`](crate::Connection::prepare_read)) and given back once everything
//! received is processed ([`Connection::release_read_buf`](crate::Connection::release_read_buf));
//! the engine borrows its output buffer when it
//! queues a frame and gives it back once everything was written and the runtime reports the
//! connection idle ([`Connection::release_idle_buffers`](crate::Connection::release_idle_buffers)).
//! The block small received payloads are packed into goes the same way, to a list of its
//! own. Thousands of idle connections then hold no buffers at all, while a busy one keeps
//! reusing warm memory without asking the allocator. The pool is plain thread-local storage:
//! the engine still starts no thread and does no I/O.

use std::cell::RefCell;
use std::thread::LocalKey;

use bytes::BytesMut;

/// Idle buffers kept per thread; beyond this they are freed. A thread serves one connection
/// at a time, so a few cover every connection it drives.
const POOL_PER_THREAD: usize = 16;

/// Buffers larger than this are freed rather than pooled: one grown for a rare large frame
/// should not stay alive for the life of the thread. A 64 KiB read plus a frame header fits
/// (see [`Connection::prepare_read`](crate::Connection::prepare_read)).
pub const MAX_POOLED: usize = 64 * 1024 + crate::frame::MAX_HEADER_LEN;

thread_local! {
    static IDLE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    /// Small-payload blocks given back by connections. Apart from `IDLE` because they promise
    /// more: every byte of their storage is initialised (see `give_block`).
    static IDLE_BLOCKS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer with room for at least `size` bytes, from the pool when one is there: the one
/// given back last that is large enough, else the one given back last, grown.
///
/// Why the search: read buffers and output buffers share the list, and a connection going
/// idle gives back its read buffer and then its (smaller) output buffer, so the next read
/// found the output buffer on top and grew it (a `realloc` per burst in the echo server's
/// profile), leaving the read buffer to the output.
pub fn take(size: usize) -> BytesMut {
    let pooled = with_list(&IDLE, |idle| {
        let at = idle
            .iter()
            .rposition(|buf| buf.capacity() >= size)
            .or_else(|| idle.len().checked_sub(1))?;
        Some(idle.remove(at))
    })
    .flatten();
    match pooled {
        Some(mut buf) => {
            // Pooled buffers are empty (see `give`); one smaller than asked for grows.
            buf.reserve(size);
            buf
        }
        None => BytesMut::with_capacity(size),
    }
}

/// Returns an empty buffer to the pool with its whole storage: the bytes reads consumed from
/// its front are room again, unless a message the application holds still shares the storage
/// (then only the buffer's own room is reused, which the message does not overlap). One larger
/// than `max` (grown for a large frame) would keep that memory alive, and one without room is
/// of no use; both are dropped instead.
///
/// Why: an empty buffer's room ends where its storage ends but starts where the last read
/// ended, so without taking the front back each idle spell shrank it by what the connection
/// had read, until a read no longer fitted and the buffer was grown (an allocation).
pub fn give(mut buf: BytesMut, max: usize) {
    debug_assert!(buf.is_empty());
    // `try_reclaim` of the room the view already has does nothing; one byte more can only come
    // from the front of the storage, and `try_reclaim` takes all of it, when unshared.
    let _ = buf.try_reclaim(buf.capacity() + 1);
    if buf.capacity() > max || buf.capacity() == 0 {
        return;
    }
    keep(&IDLE, buf, POOL_PER_THREAD);
}

/// A small-payload block that a connection gave back, if this thread has one: empty, with
/// room, every byte of its storage initialised, as given to [`give_block`].
pub(crate) fn take_block() -> Option<BytesMut> {
    pop(&IDLE_BLOCKS)
}

/// Keeps a connection's small-payload block for the next connection on this thread that needs
/// one, which is spared the allocation and the zeroing. The caller promises that the block has
/// storage ([`has_storage`]: a handle without, from a connection that never needed a block, is
/// not worth a slot), that every byte of it was initialised when it was made, and that blocks
/// are `size` bytes unless made for one longer payload.
///
/// A block that messages the application holds still share is kept too, even with no room
/// left: the room it has serves the next connection, and once those messages are dropped the
/// whole block does. Why: a runtime lets its buffers go once everything received is consumed,
/// which is when it returns the last message of a burst, cut from this very block; dropping
/// the block then would leave every burst to make and zero a new one. That includes a block
/// the burst filled to the last byte, as 16 replies of 1 KiB fill four (`calloc` and `memset`
/// were 1% of the 1 KiB TCP echo server's CPU while such blocks were dropped). Dropped
/// instead: a block made for a longer payload.
pub(crate) fn give_block(mut block: BytesMut, size: usize) {
    debug_assert!(has_storage(&block));
    block.clear();
    // Whole again (no message shares it), it shows its size; pinned, it is kept whatever room
    // it has.
    if block.try_reclaim(size) && block.capacity() != size {
        return;
    }
    keep(&IDLE_BLOCKS, block, POOL_PER_THREAD);
}

/// Whether `block` holds an allocation: it has room, or it was cut from one (every cut keeps
/// the storage's pointer), unlike `BytesMut::new()`, which points nowhere. A wrong answer
/// costs a pool slot or a block, never correctness: a handle is only ever used after
/// `try_reclaim` finds room in it. Asked by the caller of [`give_block`] rather than inside
/// it: most connections of small messages never make a block, and with the check inside that
/// call `codec echo` 16 B measured 3-6% slower.
pub(crate) fn has_storage(block: &BytesMut) -> bool {
    block.capacity() > 0 || block.as_ptr() != BytesMut::new().as_ptr()
}

/// Puts `item` on a thread's idle list unless the list already holds `max`, in which case it
/// is dropped: the one rule of every per-thread pool in the engine (these buffers, and the
/// zlib states of `deflate::codec`).
pub(crate) fn keep<T>(idle: &'static LocalKey<RefCell<Vec<T>>>, item: T, max: usize) {
    with_list(idle, |idle| {
        if idle.len() < max {
            idle.push(item);
        }
    });
}

/// Takes an item from a thread's idle list, if there is one.
pub(crate) fn pop<T>(idle: &'static LocalKey<RefCell<Vec<T>>>) -> Option<T> {
    with_list(idle, Vec::pop).flatten()
}

/// Runs `f` on a thread's idle list; `None` when the list no longer exists: a thread that is
/// exiting may already have destroyed its lists while another thread-local's destructor still
/// uses a connection, which then simply does without the pool.
pub(crate) fn with_list<T, R>(
    idle: &'static LocalKey<RefCell<Vec<T>>>,
    f: impl FnOnce(&mut Vec<T>) -> R,
) -> Option<R> {
    idle.try_with(|idle| f(&mut idle.borrow_mut())).ok()
}
