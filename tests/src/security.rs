//! Support for the security regression tests (`tests/security_*.rs`).
//!
//! Each `tests/security_*.rs` file re-creates one class of published WebSocket advisory
//! against wsio and asserts a clean failure (an HTTP error status or a close code) within
//! bounded memory. Memory is measured two ways: the buffer sizes the engine reports
//! ([`wsio_core::Connection::buffer_stats`], the parsers' `buffered()`), and a counting global
//! allocator ([`CountingAlloc`]) that a test binary installs to see every heap byte, including
//! what the engine hands to the application.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wsio_core::Role;
use wsio_core::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};

/// A global allocator that counts, per thread, the bytes and allocations made through it.
///
/// Counters are thread-local so that tests running in parallel in one binary do not see each
/// other's allocations. Install it in a test binary with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`, then [`measure`].
pub struct CountingAlloc;

thread_local! {
    /// Bytes currently allocated by this thread (frees of memory from other threads can make
    /// it dip; it saturates at zero).
    static LIVE: Cell<usize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last reset.
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// Bytes requested since the last reset (reallocations count their new size).
    static TOTAL: Cell<usize> = const { Cell::new(0) };
    /// Allocation calls since the last reset.
    static CALLS: Cell<usize> = const { Cell::new(0) };
    /// The largest single request since the last reset.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn grow(size: usize) {
    // `try_with`: the allocator may run while thread-locals are torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = TOTAL.try_with(|t| t.set(t.get() + size));
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

fn shrink(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every method forwards to `System` with the same arguments and only adds counting,
// which neither allocates nor touches the memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shrink(layout.size());
        grow(new_size);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What a closure allocated, as seen by [`CountingAlloc`] on the current thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The most bytes live at once during the closure, above what was live before it.
    pub peak: usize,
    /// Bytes live after the closure (kept by what it returned), above what was live before.
    pub retained: usize,
    /// Bytes requested in total.
    pub total: usize,
    /// Number of allocation calls.
    pub calls: usize,
    /// The largest single allocation.
    pub largest: usize,
}

/// Runs `f` and reports what it allocated on this thread. Only meaningful in a test binary
/// that installed [`CountingAlloc`] as its global allocator (otherwise everything is zero).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    TOTAL.with(|t| t.set(0));
    CALLS.with(|c| c.set(0));
    LARGEST.with(|l| l.set(0));
    let value = f();
    let usage = Usage {
        peak: PEAK.with(Cell::get).saturating_sub(base),
        retained: LIVE.with(Cell::get).saturating_sub(base),
        total: TOTAL.with(Cell::get),
        calls: CALLS.with(Cell::get),
        largest: LARGEST.with(Cell::get),
    };
    (value, usage)
}

/// Sets up this thread's one-time engine state before a measurement: the buffer of
/// operating-system random bytes that client mask keys come from (4 KiB, allocated on a
/// thread's first masked frame and reused by every connection on it). A measurement that
/// includes a client's first frame on a thread otherwise counts that buffer, which no input
/// caused; the advisories re-created here are about what the peer's bytes make the engine
/// allocate.
pub fn warm_thread() {
    let mut client = wsio_core::Connection::new(Role::Client, wsio_core::Config::default());
    client
        .send(wsio_core::Message::binary(vec![0u8; 1]))
        .expect("a fresh connection accepts a message");
    discard_output(&mut client);
}

/// Writes out everything `conn` queued, as a socket that takes it all would, without keeping
/// it: inside a measurement, a copy would be an allocation of the test's own.
pub fn discard_output(conn: &mut wsio_core::Connection) {
    while let Some(out) = conn.poll_transmit() {
        let n = bytes::Buf::remaining(out);
        bytes::Buf::advance(out, n);
    }
}

/// The mask key test peers use (RFC 6455 section 5.7's).
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame as a peer of `to`'s opposite role puts it on the wire: masked with [`KEY`] when
/// it goes to a server. `first` is the first header byte (FIN, RSV bits, opcode).
pub fn frame(to: Role, first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(to, first, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if to == Role::Server {
        wsio_core::mask::apply_mask(&mut out[start..], KEY, 0);
    }
    out
}

/// Only the header of such a frame, declaring `len` payload bytes (which need not follow).
pub fn header(to: Role, first: u8, len: u64) -> Vec<u8> {
    let opcode = OpCode::from_u8(first & 0x0F).expect("a defined opcode");
    let mut h = FrameHeader::new(first & 0x80 != 0, opcode, len);
    h.rsv1 = first & 0x40 != 0;
    h.mask = (to == Role::Server).then_some(KEY);
    let mut out = [0; MAX_HEADER_LEN];
    let n = h.encode(&mut out);
    out[..n].to_vec()
}

/// The close code at the start of a close frame's payload in `output` (the frames a
/// connection sent), if its last frame is a close with a code. Unmasks client output.
pub fn sent_close_code(output: &[u8]) -> Option<u16> {
    let mut rest = output;
    let mut last = None;
    while let Ok(Some((h, n))) = FrameHeader::parse(rest) {
        let len = h.payload_len as usize;
        let mut payload = rest.get(n..n + len)?.to_vec();
        if let Some(key) = h.mask {
            wsio_core::mask::apply_mask(&mut payload, key, 0);
        }
        last = (h.opcode == OpCode::Close && payload.len() >= 2)
            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
        rest = &rest[n + len..];
    }
    last
}
