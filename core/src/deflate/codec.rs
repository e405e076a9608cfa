//! Per-message DEFLATE compression and bounded inflation (RFC 7692 section 7.2).

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::ProtocolError;
use crate::pool;

/// The bytes a sync flush ends with; stripped from every compressed message and appended back
/// before inflating (RFC 7692 sections 7.2.1 and 7.2.2).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// How much output one inflate step produces at most: the granularity of the size limit and of
/// streamed pieces of a compressed message.
pub(crate) const INFLATE_CHUNK: usize = 32 * 1024;

/// How many idle compressor and decompressor states each thread keeps for reuse.
///
/// Without context takeover no state survives a message, so a connection borrows one when a
/// message starts and gives it back, reset, when it ends: an idle connection holds none. zlib's
/// state is large (a compressor with a 32 KiB window is about 256 KiB, a decompressor about
/// 40 KiB) and slow to set up, so neither "one per connection" (memory) nor "one per message"
/// (time) will do. One thread handles one message at a time per connection it is driving, so a
/// handful covers the usual case; states beyond it are freed. The pool is plain thread-local
/// storage: the engine still starts no thread and does no I/O.
const POOL_PER_THREAD: usize = 4;

thread_local! {
    static IDLE_DEFLATERS: RefCell<Vec<Deflater>> = const { RefCell::new(Vec::new()) };
    static IDLE_DECOMPRESSORS: RefCell<Vec<Decompress>> = const { RefCell::new(Vec::new()) };
}

/// Compresses messages without context takeover: every message starts from an empty window, so
/// its bytes depend on nothing sent before and can be reused across connections.
pub(crate) struct Deflater {
    inner: Compress,
    /// The level and window it was made with, the key for reuse.
    level: u32,
    window_bits: u8,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflater")
    }
}

impl Deflater {
    /// A compressor whose back-references stay within `2^window_bits` bytes.
    ///
    /// zlib cannot make raw DEFLATE with a 256-byte window (8 bits); for that limit we emit
    /// stored blocks only (level 0), which have no back-references at all and so respect any
    /// window.
    pub(crate) fn new(level: u32, window_bits: u8) -> Self {
        let (zlib_level, zlib_bits) = if window_bits <= 8 {
            (0, 9)
        } else {
            (level.min(9), window_bits)
        };
        Deflater {
            inner: Compress::new_with_window_bits(Compression::new(zlib_level), false, zlib_bits),
            level,
            window_bits,
        }
    }

    /// A compressor from the thread's pool when one with these settings waits there, a new one
    /// otherwise.
    pub(crate) fn take(level: u32, window_bits: u8) -> Self {
        pool::with_list(&IDLE_DEFLATERS, |idle| {
            let found = idle
                .iter()
                .position(|d| d.level == level && d.window_bits == window_bits)?;
            Some(idle.swap_remove(found))
        })
        .flatten()
        .unwrap_or_else(|| Deflater::new(level, window_bits))
    }

    /// Returns a compressor that finished its message (so is reset) to the thread's pool.
    pub(crate) fn release(self) {
        pool::keep(&IDLE_DEFLATERS, self, POOL_PER_THREAD);
    }

    /// Compresses `input` into `out` without flushing (a piece of a streamed message).
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.run(input, out, FlushCompress::None);
    }

    /// Ends the message: sync-flushes into `out`, strips the 4-byte tail and resets the state.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], out, FlushCompress::Sync);
        debug_assert!(
            out.ends_with(&TAIL),
            "a sync flush ends with an empty stored block"
        );
        out.truncate(out.len().saturating_sub(TAIL.len()));
        self.inner.reset();
    }

    /// Compresses a whole message.
    pub(crate) fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        self.write(input, &mut out);
        self.finish(&mut out);
        out
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.inner.total_in();
            self.inner
                .compress_vec(input, out, flush)
                .expect("compressing into spare room from a valid state cannot fail");
            input = &input[(self.inner.total_in() - before) as usize..];
            // zlib stops when the output is full or when all input is in (and, when flushing,
            // everything is flushed): room left over means the latter.
            if input.is_empty() && out.len() < out.capacity() {
                return;
            }
        }
    }
}

/// Inflates compressed messages, a bounded piece at a time.
pub(crate) struct Inflater {
    inner: Decompress,
    /// The peer promised no context takeover: start every message from an empty window.
    reset_per_message: bool,
    /// The peer ended the DEFLATE stream (BFINAL) inside the message; what follows is ignored.
    stream_ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Inflater {
    /// An inflater with the largest window, which reads data made with any smaller one.
    pub(crate) fn new(reset_per_message: bool) -> Self {
        Inflater {
            inner: Decompress::new_with_window_bits(false, 15),
            reset_per_message,
            stream_ended: false,
        }
    }

    /// An inflater whose state comes from the thread's pool when one waits there.
    pub(crate) fn take(reset_per_message: bool) -> Self {
        match pool::pop(&IDLE_DECOMPRESSORS) {
            Some(inner) => Inflater {
                inner,
                reset_per_message,
                stream_ended: false,
            },
            None => Inflater::new(reset_per_message),
        }
    }

    /// Returns the state to the thread's pool; only after [`end_message`](Self::end_message)
    /// of a peer without context takeover, which reset it.
    pub(crate) fn release(self) {
        debug_assert!(self.reset_per_message, "only a reset state is reusable");
        pool::keep(&IDLE_DECOMPRESSORS, self.inner, POOL_PER_THREAD);
    }

    /// Inflates from `input` into `out`, appending at most `max_out` bytes. Returns the input
    /// bytes consumed, the output bytes produced (`(0, 0)`: no progress is possible without
    /// more input) and whether the data was valid.
    ///
    /// Output produced before invalid data is appended and counted even when the data turns
    /// out invalid: how much is produced before the error is found depends on how the input
    /// was split, so the caller checks that output first, to fail the same way for every
    /// split.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> (usize, usize, Result<(), ProtocolError>) {
        if self.stream_ended {
            return (input.len(), 0, Ok(()));
        }
        let start = out.len();
        // Room for the likely output, not the whole step: DEFLATE rarely expands more than a
        // few times, and zero-filling 32 KiB for a 16-byte message would dominate its cost. A
        // larger output simply takes more steps.
        let room = (input.len().saturating_mul(4))
            .clamp(256, INFLATE_CHUNK)
            .min(max_out.max(1));
        out.resize(start + room, 0);
        let before_in = self.inner.total_in();
        let before_out = self.inner.total_out();
        let status = self
            .inner
            .decompress(input, &mut out[start..], FlushDecompress::Sync);
        let consumed = (self.inner.total_in() - before_in) as usize;
        let produced = (self.inner.total_out() - before_out) as usize;
        out.truncate(start + produced);
        let valid = match status {
            Ok(Status::StreamEnd) => {
                self.stream_ended = true;
                Ok(())
            }
            Ok(Status::Ok | Status::BufError) => Ok(()),
            Err(_) => Err(ProtocolError::BadCompression),
        };
        (consumed, produced, valid)
    }

    /// Called at the end of each message.
    pub(crate) fn end_message(&mut self) {
        if self.reset_per_message || self.stream_ended {
            self.inner.reset(false);
            self.stream_ended = false;
        }
    }
}
