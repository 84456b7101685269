//! The journal store's recovery rules, at the store level: a torn append (one
//! that never reached the disk whole, so was never acknowledged) is dropped;
//! a damaged record that was written whole (and so may have been
//! acknowledged) is refused by name, never silently rolled back.

use card_core::platform::{RecordId, Store, WriteSet};
use card_sim::journal::JournalStore;
use card_sim::journal::fault::{CrashMode, FaultMedium};
use std::collections::BTreeMap;

const NAME: &str = "card";

fn set(id: u16, value: &[u8]) -> WriteSet {
    let mut s = WriteSet::new();
    s.put(RecordId(id), value.to_vec());
    s
}

type State = BTreeMap<u16, Vec<u8>>;

/// A journal of three acknowledged commits; returns the medium (rebooted)
/// and the state before the last commit.
fn three_commits() -> (FaultMedium, State) {
    let mut store = JournalStore::open(FaultMedium::new(), NAME).unwrap();
    store.commit(&set(1, &[0x11; 120])).unwrap();
    store.commit(&set(2, b"registers: AR_p 100")).unwrap();
    let first = store.snapshot();
    store.commit(&set(2, b"registers: AR_p 173")).unwrap();
    let mut medium = store.into_medium();
    medium.reboot();
    (medium, first)
}

fn open_error(medium: FaultMedium) -> String {
    match JournalStore::open(medium, NAME) {
        Ok(store) => format!("opened with state {:?}", store.snapshot()),
        Err(e) => e.to_string(),
    }
}

/// Attack (or bit rot): a byte of the last, already-acknowledged record
/// changes. Treating it as a torn append would roll the debit back; the
/// store must refuse it and name the file.
#[test]
fn damaged_acknowledged_record_is_refused_not_rolled_back() {
    // A flip in the payload, in the length field, and in the last byte.
    for back in [40usize, 60] {
        let (mut medium, _) = three_commits();
        assert!(medium.edit(NAME, |file| {
            let end = file.iter().rposition(|b| *b != 0).unwrap();
            file[end - back] ^= 0x01;
        }));
        let err = open_error(medium);
        assert!(
            err.contains("fault-medium/card") && err.contains("damaged"),
            "flip {back} bytes before the end: {err}"
        );
    }
    // The length field of the last record (its first byte after the previous record).
    let (mut medium, _) = three_commits();
    let at = last_record_offset(&mut medium);
    assert!(medium.edit(NAME, |file| file[at + 3] ^= 0x40));
    let err = open_error(medium);
    assert!(err.contains("fault-medium/card") && err.contains("damaged"), "flip in the length: {err}");
}

/// Offset of the last record: the journal reopened after dropping it by hand.
fn last_record_offset(medium: &mut FaultMedium) -> usize {
    let mut at = 0;
    medium.edit(NAME, |file| {
        let end = file.iter().rposition(|b| *b != 0).unwrap();
        // The last record holds a 19-byte value: scan back for its length field.
        at = (0..end).rev().find(|&o| file[o..o + 4] == (2u32 + 2 + 4 + 19).to_be_bytes()).unwrap();
    });
    at
}

/// A torn append still recovers: for every cut of the third commit, in both
/// crash modes, the journal reopens at the state before or after it.
#[test]
fn torn_append_still_recovers_to_the_last_acknowledged_state() {
    let mut cuts = 0;
    for n in 0..4 {
        for mode in [CrashMode::LoseUnsynced, CrashMode::KeepUnsynced] {
            let (medium, first) = three_commits();
            let mut store = JournalStore::open(medium, NAME).unwrap();
            let before = store.snapshot();
            store.medium_mut().arm(n, mode);
            let acknowledged = store.commit(&set(3, &[0x33; 700])).is_ok();
            let mut after = before.clone();
            after.insert(3, vec![0x33; 700]);
            let mut medium = store.into_medium();
            medium.reboot();
            let reopened = JournalStore::open(medium, NAME)
                .unwrap_or_else(|e| panic!("cut at op {n} {mode:?}: a torn append must not be refused: {e}"));
            let now = reopened.snapshot();
            assert!(now == before || now == after, "cut at op {n} {mode:?}: a third state");
            assert_ne!(now, first, "cut at op {n} {mode:?}: an acknowledged commit was rolled back");
            if acknowledged {
                assert_eq!(now, after, "cut at op {n} {mode:?}: acknowledged but lost");
            }
            cuts += 1;
        }
    }
    assert_eq!(cuts, 8);
}

/// The saved version-1 image opens with its state, and its first commit
/// rewrites it as the current version, which then reopens with the same state.
#[test]
fn a_version_1_journal_is_rewritten_in_the_current_format_on_its_first_commit() {
    use card_sim::DirMedium;
    use card_sim::journal::{FORMAT_VERSION, HEADER_LEN};
    let dir = std::env::temp_dir().join(format!("pcmeter-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/journal-v1.pcmj");
    std::fs::copy(fixture, dir.join(NAME)).unwrap();
    let version = |dir: &std::path::Path| {
        let file = std::fs::read(dir.join(NAME)).unwrap();
        assert!(file.len() > HEADER_LEN);
        u16::from_be_bytes([file[8], file[9]])
    };
    assert_eq!(version(&dir), 1);
    let mut store = JournalStore::open(DirMedium::new(&dir).unwrap(), NAME).unwrap();
    let mut expected = store.snapshot();
    assert!(expected.len() > 5, "the fixture holds a personalized meter");
    store.commit(&set(0x7F00, b"first commit after the upgrade")).unwrap();
    expected.insert(0x7F00, b"first commit after the upgrade".to_vec());
    drop(store);
    assert_eq!(version(&dir), FORMAT_VERSION);
    let reopened = JournalStore::open(DirMedium::new(&dir).unwrap(), NAME).unwrap();
    assert_eq!(reopened.snapshot(), expected);
    std::fs::remove_dir_all(&dir).ok();
}
