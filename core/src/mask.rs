//! Payload masking (RFC 6455 section 5.3).
//!
//! Masking XORs each payload byte with the key byte at the same position modulo four. The work is
//! done 32 bytes at a time against a repeated, rotated key, which the compiler turns into SIMD on
//! every common target; then eight bytes, then single bytes. On x86-64 CPUs with AVX2, long
//! payloads take the same loop compiled for 32-byte registers (see `wide`).

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
#[inline(never)]
fn apply_mask_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= WIDE_MIN {
        if let Some(ascii) = wide::apply_mask::<ASCII>(buf, key) {
            return ascii;
        }
    }
    mask_blocks::<ASCII>(buf, key)
}

/// Payloads at least this long are masked with AVX2 when the CPU has it: large
/// payloads are masked in cache right after they are read, and at 16 bytes per instruction
/// (baseline x86-64) that pass costs about a third of the read's own copy (`codec` benchmark).
#[cfg(target_arch = "x86_64")]
const WIDE_MIN: usize = 256;

/// The same loop compiled for wider vectors, chosen at run time: the compiler vectorises
/// `mask_blocks` for whatever features the enclosing function enables. The only `unsafe` in
/// the engine: calling a function compiled for CPU features the caller has checked for.
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
    let mut key_block = [0u8; BLOCK];
    for (i, k) in key_block.iter_mut().enumerate() {
        *k = key[i & 3];
    }
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

/// Masks eight bytes at a time, then single bytes, with the key already rotated.
#[inline]
fn apply_mask_words(tail: &mut [u8], key: [u8; 4]) {
    let mut words = tail.chunks_exact_mut(8);
    // The key twice, as a native word: the same value in either byte order.
    let key32 = u64::from(u32::from_ne_bytes(key));
    let key64 = key32 << 32 | key32;
    for word in &mut words {
        let value = u64::from_ne_bytes((&*word).try_into().expect("chunk of 8")) ^ key64;
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
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
