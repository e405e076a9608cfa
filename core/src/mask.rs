//! Payload masking (RFC 6455 section 5.3).
//!
//! Masking XORs each payload byte with the key byte at the same position modulo four. The work is
//! done 32 bytes at a time against a repeated, rotated key, which the compiler turns into SIMD on
//! every common target, with no `unsafe`; then eight bytes, then single bytes.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the payload.
///
/// The offset lets a payload that arrives in pieces be unmasked piece by piece: pass the number of
/// payload bytes already unmasked. Masking is its own inverse, so the same call masks and unmasks.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let tail = if buf.len() >= BLOCK {
        // 32-byte blocks against a 32-byte key: a shape the compiler turns into SIMD XORs on
        // every common target (two SSE2 registers on baseline x86-64), with no `unsafe`.
        let mut key_block = [0u8; BLOCK];
        for (i, k) in key_block.iter_mut().enumerate() {
            *k = key[i & 3];
        }
        let mut blocks = buf.chunks_exact_mut(BLOCK);
        for block in &mut blocks {
            for (byte, k) in block.iter_mut().zip(key_block) {
                *byte ^= k;
            }
        }
        // The tail starts at a multiple of 32, so the key phase is unchanged.
        blocks.into_remainder()
    } else {
        buf
    };
    let mut words = tail.chunks_exact_mut(8);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
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
        fn matches_bytewise_definition(data in proptest::collection::vec(any::<u8>(), 0..300),
                                       key in any::<[u8; 4]>(), offset in 0usize..16) {
            let mut fast = data.clone();
            apply_mask(&mut fast, key, offset);
            let mut slow = data.clone();
            bytewise(&mut slow, key, offset);
            prop_assert_eq!(fast, slow);
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
