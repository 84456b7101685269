//! A transactional store in RAM: `commit` applies a whole write set or
//! nothing. It implements the same contract the durable store will.

use card_core::platform::{RecordId, Store, StoreError, WriteSet};
use std::collections::BTreeMap;

/// Records in memory. An empty value deletes the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStore {
    records: BTreeMap<u16, Vec<u8>>,
    commits: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of successful commits (for tests and benchmarks).
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Total bytes held (persistent image size).
    pub fn image_size(&self) -> usize {
        self.records.values().map(|v| v.len() + 4).sum()
    }

    /// All records (tests scan them for key material).
    pub fn records(&self) -> impl Iterator<Item = (u16, &[u8])> {
        self.records.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}

impl Store for MemoryStore {
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.records.get(&id.0).cloned())
    }

    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        for (id, value) in set.writes() {
            if value.is_empty() {
                self.records.remove(&id.0);
            } else {
                self.records.insert(id.0, value.clone());
            }
        }
        self.commits += 1;
        Ok(())
    }
}
