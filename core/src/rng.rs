//! Randomness for client mask keys and handshake nonces.
//!
//! RFC 6455 section 5.3 requires mask keys that the application cannot predict, so the default
//! source is the operating system's CSPRNG (through `getrandom`). Asking the kernel for four bytes
//! per frame would cost a system call per frame, so random bytes are fetched in blocks and handed
//! out from a small buffer. A seeded, deterministic source exists for tests and fuzzing only and
//! must be chosen explicitly.

/// How many random bytes one refill fetches: 64 mask keys per system call.
const BLOCK: usize = 256;

/// Where random bytes come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeySource {
    /// The operating system's CSPRNG. The only source fit for real connections.
    #[default]
    Os,
    /// A deterministic generator (xorshift64*) seeded with the given value. Reproducible and
    /// predictable: for tests and fuzzing, never for a connection to an untrusted peer.
    Seeded(u64),
}

/// A buffered generator built from a [`KeySource`].
#[derive(Clone, Debug)]
pub struct Rng {
    source: KeySource,
    state: u64,
    /// Fetched on first use: a server never masks, so its connections carry no block at all
    /// (an idle connection's size is the benchmark's concern, not only speed).
    block: Option<Box<[u8; BLOCK]>>,
    used: usize,
}

impl Rng {
    /// Creates a generator drawing from `source`.
    pub fn new(source: KeySource) -> Self {
        let state = match source {
            // xorshift must never hold zero; any other seed is fine.
            KeySource::Seeded(seed) => seed | 1,
            KeySource::Os => 0,
        };
        Rng {
            source,
            state,
            block: None,
            used: BLOCK,
        }
    }

    /// Fills `out` with random bytes.
    ///
    /// # Panics
    /// Panics if the operating system has no working random source, which leaves no safe way to
    /// mask frames; `getrandom` documents this as unreachable on supported platforms.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.used == BLOCK {
                self.refill();
            }
            let n = (BLOCK - self.used).min(out.len() - filled);
            let block = self.block.as_deref().expect("refilled above");
            out[filled..filled + n].copy_from_slice(&block[self.used..self.used + n]);
            self.used += n;
            filled += n;
        }
    }

    /// Returns a fresh 4-byte mask key.
    pub fn mask_key(&mut self) -> [u8; 4] {
        let mut key = [0; 4];
        self.fill(&mut key);
        key
    }

    fn refill(&mut self) {
        let block = self.block.get_or_insert_with(|| Box::new([0; BLOCK]));
        match self.source {
            KeySource::Os => getrandom::fill(&mut block[..])
                .expect("the operating system's random number generator failed"),
            KeySource::Seeded(_) => {
                for chunk in block.chunks_exact_mut(8) {
                    self.state ^= self.state >> 12;
                    self.state ^= self.state << 25;
                    self.state ^= self.state >> 27;
                    let word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
            }
        }
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_keys_differ_between_calls() {
        let mut rng = Rng::new(KeySource::Os);
        let keys: Vec<[u8; 4]> = (0..200).map(|_| rng.mask_key()).collect();
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        // 200 draws from 2^32 values: a repeat is a one-in-a-hundred-thousand event, and a
        // broken (constant or stuck) source repeats at once.
        assert!(
            distinct.len() >= 199,
            "only {} distinct keys",
            distinct.len()
        );
    }

    #[test]
    fn seeded_source_is_reproducible_and_seed_dependent() {
        let draw = |seed| {
            let mut rng = Rng::new(KeySource::Seeded(seed));
            (0..100).map(|_| rng.mask_key()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
