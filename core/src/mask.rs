//! Payload masking (RFC 6455 section 5.3).
//!
//! Masking XORs each payload byte with the key byte at the same position modulo four. The work is
//! done 32 bytes at a time against a repeated, rotated key, which the compiler turns into SIMD on
//! every common target; then eight bytes, then single bytes. On x86-64 CPUs with AVX2, long
//! payloads take the same loop compiled for 32-byte registers (see `wide`). Payloads that are
//! copied anyway (out of the read buffer, into the output buffer) are masked on the way
//! (`mask_copy`, `mask_append`, `unmask_append`).

use std::mem::MaybeUninit;

use bytes::BytesMut;

use crate::utf8::HIGH_BITS;

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the payload.
///
/// The offset lets a payload that arrives in pieces be unmasked piece by piece: pass the number of
/// payload bytes already unmasked. Masking is its own inverse, so the same call masks and unmasks.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    mask_from::<false>(buf, key, offset);
}

/// Unmasks received payload bytes as [`apply_mask`] does; with `text` (bytes about to be
/// validated as UTF-8), also tells whether every byte of the result is known to be ASCII:
/// `true` only if so; `false` if not, for binary, and for payloads shorter than one block,
/// which are not checked (the validator's own ASCII path is as fast for those).
///
/// Why: text is unmasked and then validated as UTF-8, two passes over the payload; most text
/// is ASCII, which the masking pass can recognise on the way at almost no cost, leaving the
/// validator only the text that is not.
#[inline(always)]
pub fn unmask(buf: &mut [u8], key: [u8; 4], offset: usize, text: bool) -> bool {
    if text {
        mask_from::<true>(buf, key, offset)
    } else {
        mask_from::<false>(buf, key, offset)
    }
}

/// Appends `src` to `buf` masked, in one pass rather than a copy and then [`apply_mask`] over
/// the copy.
///
/// Why: a client copies what it sends into its output buffer; masking on the way costs the
/// copy's loads and stores once instead of twice, and writing into the buffer's spare
/// capacity spares zeroing it first (`codec` encode 1 KiB: 7.7 -> 12.5 M messages/s).
#[inline(always)]
pub fn mask_append(buf: &mut BytesMut, src: &[u8], key: [u8; 4]) {
    unmask_append(buf, src, key, 0, false);
}

/// Appends `src` to `buf` unmasked, as if `src` started `offset` bytes into the payload (as
/// [`apply_mask`] counts); with `text`, also tells whether the appended bytes are known to be
/// all ASCII, as [`mask_copy`] does.
///
/// Why: a server handed received bytes (`Connection::receive`) copies them into its read
/// buffer anyway; unmasking a payload on the way spares the second pass over it.
#[allow(unsafe_code)]
#[inline(always)]
pub fn unmask_append(
    buf: &mut BytesMut,
    src: &[u8],
    key: [u8; 4],
    offset: usize,
    text: bool,
) -> bool {
    buf.reserve(src.len());
    let ascii = mask_into(
        &mut buf.spare_capacity_mut()[..src.len()],
        src,
        rotate(key, offset),
        text,
    );
    // SAFETY: `mask_into` initialised every byte of the `src.len()` bytes of spare capacity
    // it was given (its loops write each byte of `dst`, which is as long as `src`); `reserve`
    // made room for them.
    unsafe { buf.set_len(buf.len() + src.len()) };
    ascii
}

/// Copies `src` into `dst` (as long) with the mask applied (unmasking what was received: the
/// same operation), as [`mask_append`] does into spare capacity; with `text`, also tells
/// whether the result is known to be all ASCII, as [`unmask`] does (for any length).
///
/// Why: the fast path unmasks small received payloads straight into the room of the block
/// they are packed in (see `Connection`), one pass instead of a copy and an unmasking pass.
#[inline(always)]
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], text: bool) -> bool {
    assert_eq!(dst.len(), src.len(), "mask_copy needs equal lengths");
    mask_into(dst, src, key, text)
}

/// Where the fused copy writes: initialised bytes ([`mask_copy`]) or spare capacity
/// ([`mask_append`]). One loop serves both.
trait Out {
    fn set(&mut self, value: u8);
}

impl Out for u8 {
    #[inline(always)]
    fn set(&mut self, value: u8) {
        *self = value;
    }
}

impl Out for MaybeUninit<u8> {
    #[inline(always)]
    fn set(&mut self, value: u8) {
        self.write(value);
    }
}

/// The pass of [`mask_append`] and [`mask_copy`]: writes `src` masked to `dst`, which is as
/// long.
#[inline(always)]
fn mask_into<O: Out>(dst: &mut [O], src: &[u8], key: [u8; 4], text: bool) -> bool {
    debug_assert_eq!(dst.len(), src.len());
    if src.len() < BLOCK {
        // Short payloads, the most common kind, inline, as in `mask_from`.
        if text {
            copy_words::<O, true>(dst, src, key)
        } else {
            copy_words::<O, false>(dst, src, key)
        }
    } else if text {
        copy_blocks_outlined::<O, true>(dst, src, key)
    } else {
        copy_blocks_outlined::<O, false>(dst, src, key)
    }
}

/// `mask_into` for payloads of at least one block (see `apply_mask_blocks`).
///
/// Unlike there, the blocks are not moved onto a boundary of `dst`: a copy has two pointers,
/// and aligning one misaligns the other unless both are equally far from a boundary. Storing
/// to a boundary measured faster for a copy within L2 (64 KiB: 1,162 against 1,233 ns), but
/// a client's encode, loading the payload from memory, went from aligned loads to misaligned
/// ones and lost 10-15% (`codec` encode 64 KiB and 1 MiB), and 1 KiB payloads copied into the
/// small-payload block (in L1) gained nothing.
#[inline(never)]
fn copy_blocks_outlined<O: Out, const ASCII: bool>(
    dst: &mut [O],
    src: &[u8],
    key: [u8; 4],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= WIDE_MIN {
        if let Some(ascii) = wide::copy_blocks::<O, ASCII>(dst, src, key) {
            return ascii;
        }
    }
    copy_blocks::<O, ASCII>(dst, src, key)
}

/// Both of the above: masks `buf` from `offset` and, with `ASCII`, checks the result.
#[inline]
fn mask_from<const ASCII: bool>(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    let key = rotate(key, offset);
    if buf.len() >= BLOCK {
        apply_mask_blocks::<ASCII>(buf, key)
    } else {
        // Short payloads, the most common kind, are masked inline: a call and the block
        // set-up would cost more than the XORs.
        apply_mask_words(buf, key);
        false
    }
}

/// `apply_mask` for payloads of at least one block, with the key already rotated; with
/// `ASCII`, also whether the result is all ASCII (otherwise `false`).
///
/// The blocks start on a block boundary in memory: up to 31 bytes are masked by words first,
/// so that no block's load and store straddle two cache lines. Where payloads start is up to
/// the peer (a 64 KiB frame's starts 14 bytes into the read), and at such an offset half the
/// blocks did: masking 64 KiB in L2 took 830 ns at offset 14 against 570 at a boundary, 1 KiB
/// in L1 24.3 against 10.4 ns. Aligned first, offset 14 takes 579 ns and 1 KiB 13.8 (a payload
/// already on a boundary pays ~2 ns for the split: 12.6-13.1).
#[inline(never)]
fn apply_mask_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> bool {
    let (head, body) = buf.split_at_mut(lead_to_block(buf.as_ptr(), buf.len()));
    apply_mask_words(head, key);
    let key = rotate(key, head.len());
    let body_ascii = mask_body::<ASCII>(body, key);
    ASCII && body_ascii && head.is_ascii()
}

/// `apply_mask_blocks` after the alignment: the wide loop or the portable one.
#[inline(always)]
fn mask_body<const ASCII: bool>(body: &mut [u8], key: [u8; 4]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if body.len() >= WIDE_MIN {
        if let Some(ascii) = wide::apply_mask::<ASCII>(body, key) {
            return ascii;
        }
    }
    mask_blocks::<ASCII>(body, key)
}

/// How many of the `len` bytes at `at` come before the first block boundary in memory (at
/// most `len`).
#[inline(always)]
fn lead_to_block(at: *const u8, len: usize) -> usize {
    // `align_offset` may answer `usize::MAX` (never for bytes in practice): then no lead is
    // split off, which is only slower.
    let lead = at.align_offset(BLOCK);
    if lead > len { 0 } else { lead }
}

/// Payloads at least this long are masked with AVX2 when the CPU has it: large
/// payloads are masked in cache right after they are read, and at 16 bytes per instruction
/// (baseline x86-64) that pass costs about a third of the read's own copy (`codec` benchmark).
#[cfg(target_arch = "x86_64")]
const WIDE_MIN: usize = 256;

/// The same loop compiled for wider vectors, chosen at run time: the compiler vectorises
/// `mask_blocks` (and `copy_blocks`) for whatever features the enclosing function enables.
/// One of the engine's five `unsafe` uses (see the crate root): calling a function compiled
/// for CPU features the caller has checked for.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    /// `mask_blocks` with AVX2 when the CPU has it; `None` when it has not. (AVX-512 measured
    /// no faster: the pass is bound by the cache, not by instructions, once they are 32 bytes
    /// wide. Detection is cached by std: one load and a test per call.)
    pub(super) fn apply_mask<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> Option<bool> {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked above.
            Some(unsafe { mask_avx2::<ASCII>(buf, key) })
        } else {
            None
        }
    }

    /// `copy_blocks` with AVX2 when the CPU has it, as `apply_mask` above.
    pub(super) fn copy_blocks<O: super::Out, const ASCII: bool>(
        dst: &mut [O],
        src: &[u8],
        key: [u8; 4],
    ) -> Option<bool> {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked above.
            Some(unsafe { copy_avx2::<O, ASCII>(dst, src, key) })
        } else {
            None
        }
    }

    /// # Safety
    /// The CPU must support AVX2 (as `mask_avx2`).
    #[target_feature(enable = "avx2")]
    unsafe fn copy_avx2<O: super::Out, const ASCII: bool>(
        dst: &mut [O],
        src: &[u8],
        key: [u8; 4],
    ) -> bool {
        super::copy_blocks::<O, ASCII>(dst, src, key)
    }

    /// # Safety
    /// The CPU must support AVX2. (An `unsafe fn` rather than a safe `#[target_feature]`
    /// function, which needs Rust 1.86: the workspace supports 1.85.)
    #[target_feature(enable = "avx2")]
    unsafe fn mask_avx2<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> bool {
        super::mask_blocks::<ASCII>(buf, key)
    }
}

/// The block loop: 32-byte blocks against a 32-byte key, a shape the compiler turns into SIMD
/// XORs on every common target (two SSE2 registers on baseline x86-64), with no `unsafe`.
/// With `ASCII`, the results are also ORed together, a register-wide OR per block, and the
/// return value says whether no byte had its top bit set.
#[inline(always)]
fn mask_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> bool {
    let key_block = key_block(key);
    let mut seen = [0u8; BLOCK];
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        for ((byte, k), seen) in block.iter_mut().zip(key_block).zip(&mut seen) {
            *byte ^= k;
            if ASCII {
                *seen |= *byte;
            }
        }
    }
    // The tail starts at a multiple of 32, so the key phase is unchanged.
    let tail = blocks.into_remainder();
    apply_mask_words(tail, key);
    ASCII && seen.is_ascii() && tail.is_ascii()
}

/// `mask_blocks` from `src` into `dst`, which `mask_append` and `mask_copy` make as long.
#[inline(always)]
fn copy_blocks<O: Out, const ASCII: bool>(dst: &mut [O], src: &[u8], key: [u8; 4]) -> bool {
    let key_block = key_block(key);
    let mut seen = [0u8; BLOCK];
    let mut to = dst.chunks_exact_mut(BLOCK);
    let mut from = src.chunks_exact(BLOCK);
    for (to, from) in (&mut to).zip(&mut from) {
        for (((byte, from), k), seen) in to.iter_mut().zip(from).zip(key_block).zip(&mut seen) {
            let value = from ^ k;
            byte.set(value);
            if ASCII {
                *seen |= value;
            }
        }
    }
    let tail_ascii = copy_words::<O, ASCII>(to.into_remainder(), from.remainder(), key);
    ASCII && seen.is_ascii() && tail_ascii
}

/// `apply_mask_words` from `src` into `dst`; with `ASCII`, also whether the result is all
/// ASCII (otherwise `false`).
#[inline(always)]
fn copy_words<O: Out, const ASCII: bool>(dst: &mut [O], src: &[u8], key: [u8; 4]) -> bool {
    let key64 = key_word(key);
    let mut seen = 0u64;
    let mut to = dst.chunks_exact_mut(8);
    let mut from = src.chunks_exact(8);
    for (to, from) in (&mut to).zip(&mut from) {
        let value = u64::from_ne_bytes(from.try_into().expect("chunk of 8")) ^ key64;
        for (byte, value) in to.iter_mut().zip(value.to_ne_bytes()) {
            byte.set(value);
        }
        seen |= value;
    }
    let mut seen_tail = 0u8;
    let tail = from.remainder().iter().zip(to.into_remainder());
    for (i, (from, byte)) in tail.enumerate() {
        let value = from ^ key[i & 3];
        byte.set(value);
        seen_tail |= value;
    }
    ASCII && seen & HIGH_BITS == 0 && seen_tail < 0x80
}

/// Masks eight bytes at a time, then single bytes, with the key already rotated.
#[inline]
fn apply_mask_words(tail: &mut [u8], key: [u8; 4]) {
    let key64 = key_word(key);
    let mut words = tail.chunks_exact_mut(8);
    for word in &mut words {
        let value = u64::from_ne_bytes((&*word).try_into().expect("chunk of 8")) ^ key64;
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The key repeated over one block.
#[inline(always)]
fn key_block(key: [u8; 4]) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    for (i, k) in block.iter_mut().enumerate() {
        *k = key[i & 3];
    }
    block
}

/// The key twice, as a native word: the same value in either byte order.
#[inline(always)]
fn key_word(key: [u8; 4]) -> u64 {
    let key32 = u64::from(u32::from_ne_bytes(key));
    key32 << 32 | key32
}

/// Bytes masked per SIMD block.
const BLOCK: usize = 32;

/// The key as seen from `offset` bytes into the payload.
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let s = offset & 3;
    [key[s], key[(s + 1) & 3], key[(s + 2) & 3], key[(s + 3) & 3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 section 5.7: masked "Hello".
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    proptest! {
        #[test]
        // Up to 1,100 bytes: every path (bytes, words, blocks, and the AVX2 loop from 256).
        fn matches_bytewise_definition(data in proptest::collection::vec(any::<u8>(), 0..1100),
                                       key in any::<[u8; 4]>(), offset in 0usize..16) {
            let mut fast = data.clone();
            apply_mask(&mut fast, key, offset);
            let mut slow = data.clone();
            bytewise(&mut slow, key, offset);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn ascii_check_matches_definition(data in proptest::collection::vec(0u8..0x80, 0..1100),
                                          key in any::<[u8; 4]>(), offset in 0usize..16,
                                          high in proptest::option::of(any::<proptest::sample::Index>())) {
            // ASCII text, with at most one byte given its top bit, masked as a client would.
            let mut plain = data.clone();
            if let (Some(at), false) = (high, plain.is_empty()) {
                plain[at.index(data.len())] |= 0x80;
            }
            let mut masked = plain.clone();
            bytewise(&mut masked, key, offset);
            let mut binary = masked.clone();
            let ascii = unmask(&mut masked, key, offset, true);
            prop_assert_eq!(&masked, &plain);
            prop_assert_eq!(ascii, plain.is_ascii() && plain.len() >= BLOCK);
            // Binary is unmasked the same way and never reported as ASCII.
            prop_assert!(!unmask(&mut binary, key, offset, false));
            prop_assert_eq!(&binary, &plain);
        }

        #[test]
        // The fused copy: the same bytes and ASCII verdict as a copy followed by `unmask`, at
        // every length through the word, block and AVX2 loops, appended after what the buffer
        // already holds (which stays as it was), or copied over stale bytes.
        fn fused_copy_matches_copy_then_unmask(plain in proptest::collection::vec(0u8..0x80, 0..1100),
                                           key in any::<[u8; 4]>(),
                                           high in proptest::option::of(any::<proptest::sample::Index>()),
                                           held in proptest::collection::vec(any::<u8>(), 0..40),
                                           text in any::<bool>(), offset in 0usize..8) {
            let mut plain = plain;
            if let (Some(at), false) = (high, plain.is_empty()) {
                let at = at.index(plain.len());
                plain[at] |= 0x80;
            }
            let mut masked = plain.clone();
            bytewise(&mut masked, key, 0);
            let mut buf = BytesMut::from(&held[..]);
            mask_append(&mut buf, &masked, key);
            prop_assert_eq!(&buf[..held.len()], &held[..]);
            prop_assert_eq!(&buf[held.len()..], &plain[..]);
            // A received payload's later piece, unmasked on the way in: the key's phase
            // follows the offset, and the verdict is as `mask_copy`'s.
            let mut later = plain.clone();
            bytewise(&mut later, key, offset);
            let mut buf = BytesMut::from(&held[..]);
            let ascii = unmask_append(&mut buf, &later, key, offset, text);
            prop_assert_eq!(&buf[..held.len()], &held[..]);
            prop_assert_eq!(&buf[held.len()..], &plain[..]);
            prop_assert_eq!(ascii, text && plain.is_ascii());
            // `mask_copy`, the same pass into initialised bytes, over stale contents; short
            // text is checked too (by the word loop), unlike `unmask`'s.
            let mut copy = vec![0xA5; masked.len()];
            let ascii = mask_copy(&mut copy, &masked, key, text);
            prop_assert_eq!(&copy, &plain);
            prop_assert_eq!(ascii, text && plain.is_ascii());
        }

        #[test]
        // Wherever the payload starts in memory: the blocks are aligned first (up to 31
        // bytes by words), and the key phase and the ASCII verdict must survive the split.
        fn any_start_in_memory_matches_bytewise(plain in proptest::collection::vec(0u8..0x80, 32..700),
                                                start in 0usize..64, key in any::<[u8; 4]>(),
                                                offset in 0usize..4,
                                                high in proptest::option::of(any::<proptest::sample::Index>())) {
            let mut plain = plain;
            if let Some(at) = high {
                let at = at.index(plain.len());
                plain[at] |= 0x80;
            }
            let mut storage = vec![0u8; start + plain.len()];
            let masked = &mut storage[start..];
            masked.copy_from_slice(&plain);
            bytewise(masked, key, offset);
            let ascii = unmask(masked, key, offset, true);
            prop_assert_eq!(&*masked, &plain[..]);
            prop_assert_eq!(ascii, plain.is_ascii());
            bytewise(masked, key, offset);
            prop_assert!(!unmask(masked, key, offset, false));
            prop_assert_eq!(&*masked, &plain[..]);
        }

        #[test]
        fn piecewise_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..100),
                                  key in any::<[u8; 4]>(), cut in 0usize..100) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            prop_assert_eq!(whole, pieces);
        }
    }
}
