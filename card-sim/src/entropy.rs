//! Random sources for the soft crypto engine.

use card_core::soft_engine::EntropySource;
use sha2::{Digest, Sha256};

/// The OS random source, or a deterministic generator for reproducible tests.
#[derive(Debug, Clone)]
pub enum Entropy {
    /// `getrandom`.
    Os,
    /// SHA-256 in counter mode over a seed. Tests only: it is predictable.
    Seeded {
        /// Seed.
        seed: [u8; 32],
        /// Block counter.
        counter: u64,
    },
}

impl Entropy {
    /// A deterministic source from a seed.
    pub fn seeded(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self::Seeded { seed: s, counter: 0 }
    }
}

impl EntropySource for Entropy {
    fn fill(&mut self, out: &mut [u8]) -> bool {
        match self {
            Self::Os => getrandom::fill(out).is_ok(),
            Self::Seeded { seed, counter } => {
                for chunk in out.chunks_mut(32) {
                    let block = Sha256::new().chain_update(&seed[..]).chain_update(counter.to_be_bytes()).finalize();
                    chunk.copy_from_slice(&block[..chunk.len()]);
                    *counter += 1;
                }
                true
            }
        }
    }
}
