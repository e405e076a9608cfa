//! The queue of encoded bytes waiting for the transport.
//!
//! Small frames are packed into one contiguous buffer, so that many small sends leave in one
//! write; a large unmasked payload (the server side) is queued as its own `Bytes` chunk instead
//! of being copied, and the runtime writes the queue with one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, OpCode};
use crate::mask::mask_append;
use crate::payload::INLINE_CAPACITY;
use crate::pool;

/// The size of an output buffer borrowed from the pool.
const OUTPUT_BUFFER: usize = 1024;

/// Payloads at least this long are queued by reference rather than copied. Below it, a copy is
/// cheaper than another iovec entry and another reference count.
const SHARE_THRESHOLD: usize = 4096;

/// Encoded output, taken by the runtime as a [`bytes::Buf`].
///
/// Use [`chunks_vectored`](Buf::chunks_vectored) (or [`io_slices`](Self::io_slices)) for a
/// vectored write, then [`advance`](Buf::advance) by what the transport accepted.
#[derive(Debug, Default)]
pub struct Transmit {
    /// Older output, in order, ahead of `tail`.
    chunks: VecDeque<Bytes>,
    /// The newest output, where small frames are packed.
    tail: BytesMut,
    /// Bytes in `chunks` and `tail` together.
    len: usize,
}

impl Transmit {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives the output buffer back to the thread's pool when nothing is waiting, for a
    /// connection about to go idle.
    pub(crate) fn release_if_empty(&mut self) {
        if self.len == 0 {
            if self.tail.capacity() > 0 {
                pool::give(std::mem::take(&mut self.tail), pool::MAX_POOLED);
            }
            self.chunks = VecDeque::new();
        }
    }

    /// The packing buffer, borrowed from the pool when the connection had given it back.
    #[inline]
    fn tail(&mut self) -> &mut BytesMut {
        if self.tail.capacity() == 0 {
            self.tail = pool::take(OUTPUT_BUFFER);
        }
        &mut self.tail
    }

    /// Up to `max` slices of the waiting bytes, in order, for `write_vectored`.
    pub fn io_slices(&self, max: usize) -> Vec<IoSlice<'_>> {
        let mut slices = vec![IoSlice::new(&[]); max.min(self.chunks.len() + 1)];
        let n = self.chunks_vectored(&mut slices);
        slices.truncate(n);
        slices
    }

    /// Appends one frame. `mask` is the client's key; the payload is masked while copied.
    pub(crate) fn push_frame(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        shared: Option<&Bytes>,
    ) {
        let (head, head_len) = header.encode_words();
        append_words(self.tail(), head, head_len);
        match (header.mask, shared) {
            (None, Some(bytes)) if bytes.len() >= SHARE_THRESHOLD => {
                let packed = self.tail.split().freeze();
                self.chunks.push_back(packed);
                self.chunks.push_back(bytes.clone());
            }
            (None, _) => {
                self.tail.extend_from_slice(payload);
                // Replies tend to be alike: the lines the next one of this size will be
                // copied into, asked for now, are owned by then (see `prefetch_for_write`).
                let tail = &self.tail;
                prefetch_for_write(
                    tail.as_ptr().wrapping_add(tail.len()),
                    payload.len().min(tail.capacity() - tail.len()),
                );
            }
            (Some(key), _) => {
                mask_append(&mut self.tail, payload, key);
            }
        }
        self.len += head_len + payload.len();
    }

    /// Appends one unmasked, final, uncompressed frame of `opcode` whose payload is the first
    /// `len` (at most 23) of the 24 bytes whose little-endian words are `words`: a server's
    /// reply held inline ([`Payload`](crate::Payload)). The header's two bytes and the payload
    /// are shifted into four words and written as 32 bytes into the buffer's spare room, of
    /// which the frame's `2 + len` are kept.
    ///
    /// Why, rather than `push_frame`: it copies the payload by a call to `memcpy` of a length
    /// known only at run time, and that copy loaded the message in 16-byte pieces that the
    /// 8-byte stores which had just written it could not forward (`perf annotate`: most of
    /// `send_with`'s samples on that load). Here every load and store is a word. `codec echo` 16 B (the README's loop in memory), three runs
    /// alternating with the build before: 18.0-18.6 -> 21.6-21.7 M msgs/s; over TCP (64
    /// connections, window 16, four rounds), +3-5% messages per server CPU-second.
    #[inline(always)]
    pub(crate) fn push_inline(&mut self, opcode: OpCode, words: [u64; 3], len: usize) {
        debug_assert!(len <= INLINE_CAPACITY && !opcode.is_control());
        let [a, b, c] = words;
        // FIN and the opcode, then the length (unmasked, under 126): little-endian, so the
        // header's bytes come first and the payload's follow them two bytes on.
        let head = u64::from(0x80 | opcode.as_u8()) | (len as u64) << 8;
        let frame = [
            head | a << 16,
            a >> 48 | b << 16,
            b >> 48 | c << 16,
            c >> 48,
        ];
        append_words(self.tail(), frame, 2 + len);
        self.len += 2 + len;
    }

    /// Appends bytes that are already encoded frames (a prepared message), by reference when
    /// they are large.
    pub(crate) fn push_encoded(&mut self, bytes: Bytes) {
        self.len += bytes.len();
        if bytes.len() >= SHARE_THRESHOLD {
            let packed = self.tail.split().freeze();
            if !packed.is_empty() {
                self.chunks.push_back(packed);
            }
            self.chunks.push_back(bytes);
        } else {
            self.tail().extend_from_slice(&bytes);
        }
    }
}

/// Asks the core for the cache lines of the `len` bytes from `start`, owned, ready to be
/// written (x86's `PREFETCHW`; elsewhere, or on a CPU without it, nothing).
///
/// Why: a copied payload is followed by the drop of the message it came from, whose atomic
/// decrement waits until every earlier store has reached the cache. Stores into output lines
/// the core does not yet own each wait for the line first, and the decrement waited for all
/// of them (`perf annotate` of the 1 KiB TCP echo server: 5.2% of its CPU on that decrement).
/// Asked for one message ahead, the lines are owned by the time the next copy writes them.
#[inline(always)]
fn prefetch_for_write(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        for at in (0..len).step_by(64) {
            // SAFETY: `PREFETCHW` is a hint: it cannot fault, whatever the address, and
            // changes no memory or register the program sees; this CPU has it (checked above).
            #[allow(unsafe_code)]
            unsafe {
                std::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) start.wrapping_add(at),
                    options(readonly, nostack, preserves_flags)
                );
            }
        }
    }
}

/// Whether this CPU has `PREFETCHW` (CPUID 8000_0001h, ECX bit 8: every AMD64 CPU from AMD,
/// Intel's from Broadwell on), asked once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const NO: u8 = 1;
    const YES: u8 = 2;
    static KNOWN: AtomicU8 = AtomicU8::new(UNKNOWN);
    match KNOWN.load(Ordering::Relaxed) {
        UNKNOWN => {
            // SAFETY: CPUID exists on every x86-64 CPU, and so does this leaf (it reports
            // long mode itself). Safe to call in later Rust; `unsafe` for the workspace's 1.85.
            #[allow(unsafe_code, unused_unsafe)]
            let leaf = unsafe { std::arch::x86_64::__cpuid(0x8000_0001) };
            let has = leaf.ecx & (1 << 8) != 0;
            KNOWN.store(if has { YES } else { NO }, Ordering::Relaxed);
            has
        }
        known => known == YES,
    }
}

/// Appends the first `keep` bytes of `words` (little-endian, so the first word's lowest byte
/// first) to `buf`, storing every word whole into its spare room: a word built in registers
/// goes out as one store, where `extend_from_slice` of the same bytes is a `memcpy` call that
/// loads them back from memory (see `FrameHeader::encode_words`).
#[inline(always)]
fn append_words<const N: usize>(buf: &mut BytesMut, words: [u64; N], keep: usize) {
    assert!(keep <= 8 * N);
    buf.reserve(8 * N);
    let room = &mut buf.spare_capacity_mut()[..8 * N];
    for (dst, word) in room.chunks_exact_mut(8).zip(words) {
        for (d, s) in dst.iter_mut().zip(word.to_le_bytes()) {
            d.write(s);
        }
    }
    // SAFETY: the `8 * N` bytes after the buffer's length were just written (reserved above),
    // and `keep` of them, no more (asserted), are kept.
    #[allow(unsafe_code)]
    unsafe {
        buf.set_len(buf.len() + keep);
    }
}

impl Buf for Transmit {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.iter().find(|c| !c.is_empty()) {
            Some(front) => front,
            None => &self.tail,
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advanced past the end of the output");
        self.len -= cnt;
        while cnt > 0 {
            match self.chunks.front_mut() {
                Some(front) if front.len() <= cnt => {
                    cnt -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(cnt);
                    cnt = 0;
                }
                None => {
                    self.tail.advance(cnt);
                    cnt = 0;
                }
            }
        }
        if self.len == 0 {
            // Everything is out: drop references to shared payloads and let the packing buffer
            // reuse its allocation.
            self.chunks.clear();
            self.tail.clear();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let parts = self
            .chunks
            .iter()
            .map(|c| &c[..])
            .chain(std::iter::once(&self.tail[..]));
        let mut n = 0;
        for part in parts.filter(|p| !p.is_empty()) {
            if n == dst.len() {
                break;
            }
            dst[n] = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_by(t: &mut Transmit, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while t.has_remaining() {
            let chunk = t.chunk();
            let n = chunk.len().min(step);
            out.extend_from_slice(&chunk[..n]);
            t.advance(n);
        }
        out
    }

    #[test]
    fn large_payloads_are_shared_small_ones_packed_and_order_kept() {
        let big = Bytes::from(vec![7u8; 5000]);
        let mut t = Transmit::default();
        t.push_frame(FrameHeader::new(true, OpCode::Text, 2), b"hi", None);
        t.push_frame(
            FrameHeader::new(true, OpCode::Binary, 5000),
            &big,
            Some(&big),
        );
        t.push_frame(FrameHeader::new(true, OpCode::Ping, 0), b"", None);
        let slices = t.io_slices(16);
        assert_eq!(slices.len(), 3, "packed head, shared payload, packed tail");
        assert_eq!(
            slices[1].as_ptr(),
            big.as_ptr(),
            "payload queued without a copy"
        );
        let mut expected = vec![0x81, 2, b'h', b'i', 0x82, 126, 0x13, 0x88];
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x89, 0]);
        assert_eq!(t.len(), expected.len());
        assert_eq!(drain_by(&mut t, 1000), expected);
        assert!(t.is_empty());
    }

    #[test]
    fn client_payloads_are_masked_while_copied() {
        let mut t = Transmit::default();
        let header = FrameHeader {
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            ..FrameHeader::new(true, OpCode::Text, 5)
        };
        t.push_frame(header, b"Hello", None);
        // RFC 6455 section 5.7, a single-frame masked text message.
        assert_eq!(
            drain_by(&mut t, 3),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }
}
