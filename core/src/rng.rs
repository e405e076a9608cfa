//! Randomness for client mask keys and handshake nonces.
//!
//! RFC 6455 section 5.3 requires mask keys that the application cannot predict, so the default
//! source is the operating system's CSPRNG (through `getrandom`). Asking the kernel for four bytes
//! per frame would cost a system call per frame, so random bytes are fetched in blocks and handed
//! out from a buffer, each byte once. The buffer belongs to the thread, not to a connection:
//! one large block serves every client connection the thread drives, and a connection carries
//! no random bytes of its own. A seeded, deterministic source exists for tests and fuzzing only
//! and must be chosen explicitly.

use std::cell::RefCell;

/// How many random bytes one refill fetches: 1,024 mask keys per system call.
///
/// Why this many: the kernel's cost per call (the system call, setting up its generator's
/// state, the copy out) is paid once per block. With a 256-byte block per connection (64
/// keys) the kernel took over a quarter of client-role encoding of 16-byte messages; with
/// this one per thread, `codec` encode binary 16 B went from 19.3-19.5 to 21.5 M messages/s
/// (interleaved with the build before). The block is per thread, so its size costs no memory
/// per connection. Like any buffered generator's, the bytes not yet handed out are copied
/// into a child by `fork`; parent and child then share up to one block's worth of keys,
/// which tells nobody else anything about either's keys.
const OS_BLOCK: usize = 4096;

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

/// Random bytes fetched from the operating system for this thread, handed out once each.
struct OsBytes {
    /// Fetched on first use: threads that never mask (servers) hold none.
    block: Option<Box<[u8; OS_BLOCK]>>,
    used: usize,
}

thread_local! {
    static OS_BYTES: RefCell<OsBytes> = const {
        RefCell::new(OsBytes {
            block: None,
            used: OS_BLOCK,
        })
    };
}

impl OsBytes {
    /// Fills `out` with bytes not handed out before.
    fn fill(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.used == OS_BLOCK {
                let block = self.block.get_or_insert_with(|| Box::new([0; OS_BLOCK]));
                getrandom::fill(&mut block[..])
                    .expect("the operating system's random number generator failed");
                self.used = 0;
            }
            let n = (OS_BLOCK - self.used).min(out.len() - filled);
            let block = self.block.as_deref().expect("refilled above");
            out[filled..filled + n].copy_from_slice(&block[self.used..self.used + n]);
            self.used += n;
            filled += n;
        }
    }
}

/// A generator built from a [`KeySource`]: the thread's buffer of operating-system bytes, or a
/// deterministic generator of its own.
#[derive(Clone, Debug)]
pub struct Rng {
    /// The xorshift state for [`KeySource::Seeded`]; `None` for [`KeySource::Os`].
    seeded: Option<u64>,
}

impl Rng {
    /// Creates a generator drawing from `source`.
    pub fn new(source: KeySource) -> Self {
        Rng {
            // xorshift must never hold zero; any other seed is fine.
            seeded: match source {
                KeySource::Seeded(seed) => Some(seed | 1),
                KeySource::Os => None,
            },
        }
    }

    /// Fills `out` with random bytes.
    ///
    /// # Panics
    /// Panics if the operating system has no working random source, which leaves no safe way to
    /// mask frames; `getrandom` documents this as unreachable on supported platforms.
    pub fn fill(&mut self, out: &mut [u8]) {
        match &mut self.seeded {
            None => {
                if OS_BYTES.try_with(|os| os.borrow_mut().fill(out)).is_err() {
                    // The thread is exiting and its buffer is already gone (a connection
                    // used from another thread-local's destructor): ask the system directly.
                    getrandom::fill(out)
                        .expect("the operating system's random number generator failed");
                }
            }
            Some(state) => {
                for chunk in out.chunks_mut(8) {
                    *state ^= *state >> 12;
                    *state ^= *state << 25;
                    *state ^= *state >> 27;
                    let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
                }
            }
        }
    }

    /// Returns a fresh 4-byte mask key.
    pub fn mask_key(&mut self) -> [u8; 4] {
        let mut key = [0; 4];
        self.fill(&mut key);
        key
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
    fn generators_on_one_thread_never_hand_out_the_same_bytes() {
        // The operating system's bytes are buffered per thread and shared by every generator
        // (connection) on it: a second generator must go on where the first stopped, not
        // replay the buffer. 1,500 keys also cross a refill (1,024 keys per block).
        let mut first = Rng::new(KeySource::Os);
        let mut second = Rng::new(KeySource::Os);
        let mut keys = Vec::new();
        for _ in 0..750 {
            keys.push(first.mask_key());
            keys.push(second.mask_key());
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        // 1,500 draws from 2^32 values hold one repeat with probability about 1 in 4,000 and
        // two (a failure) about 1 in 30 million; a replay repeats hundreds.
        assert!(
            distinct.len() >= keys.len() - 1,
            "only {} distinct keys of {}",
            distinct.len(),
            keys.len()
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
