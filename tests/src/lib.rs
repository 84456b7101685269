//! Shared fixtures for the workspace tests: the deterministic vector card,
//! the transcript replayer, and snapshots of observable card state.

use apdu_specs::commands::{AID, CLA_CHAIN, CLA_PROPRIETARY, ins};
use apdu_specs::vectors::{Step, VectorFile};
use authority::profile::ProfileBuilder;
use card_sim::{Entropy, SimCard, SimClock};
use host_driver::simulated::{AuthorityKeys, Options};

/// Clock of the vector fixture: 2026-11-23 12:00:00 UTC.
pub const FIXTURE_TIME: u64 = 1_795_435_200;
/// Mailing date matching the fixture clock.
pub const FIXTURE_DATE: u32 = 20_261_123;
/// Initial credit of the vector meter.
pub const FIXTURE_CREDIT: u64 = 2_000;

/// Keys of the vector fixture (deterministic).
pub fn vector_keys() -> AuthorityKeys {
    AuthorityKeys::from_seed("pcmeter-vectors")
}

/// Options of the vector fixture.
pub fn vector_options() -> Options {
    Options {
        profile: ProfileBuilder {
            meter_id: String::from("PCM-VECTOR-1"),
            initial_credit: FIXTURE_CREDIT,
            issued_at: FIXTURE_TIME - 3_600,
            ..ProfileBuilder::default()
        },
        clock: SimClock::fixed(FIXTURE_TIME),
        entropy: Entropy::seeded(1),
    }
}

/// The STORE DATA APDUs personalizing the vector meter, chained in short APDUs.
pub fn personalization_apdus(keys: &AuthorityKeys, opts: &Options) -> Vec<Vec<u8>> {
    let signed = host_driver::simulated::signed_profile(keys, opts).expect("vector profile");
    let chunks: Vec<&[u8]> = signed.chunks(255).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let cla = if i + 1 < n { CLA_PROPRIETARY | CLA_CHAIN } else { CLA_PROPRIETARY };
            let mut apdu = vec![cla, ins::STORE_DATA, 0, 0, c.len() as u8];
            apdu.extend_from_slice(c);
            apdu
        })
        .collect()
}

/// The SELECT APDU.
pub fn select_apdu() -> Vec<u8> {
    let mut a = vec![0x00, ins::SELECT, 0x04, 0x00, AID.len() as u8];
    a.extend_from_slice(&AID);
    a.push(0x00);
    a
}

/// The parsed foundation vectors.
pub fn foundation_vectors() -> VectorFile {
    VectorFile::parse(apdu_specs::vectors::files::FOUNDATION).expect("foundation vectors parse")
}

/// A fresh card as the vector file's fixture lines describe it.
pub fn vector_card(vf: &VectorFile) -> SimCard {
    let anchor: [u8; 65] = vf.anchor.as_slice().try_into().expect("anchor is 65 bytes");
    SimCard::manufacture_in_memory(&anchor, Entropy::seeded(1), SimClock::fixed(vf.time)).expect("manufacture")
}

/// A mismatch between a transcript and the card.
#[derive(Debug)]
pub struct Mismatch {
    /// Transcript.
    pub transcript: String,
    /// Line of the command.
    pub line: usize,
    /// What came back.
    pub got: String,
}

/// Replays transcript `name` (with its lineage) through `transmit`,
/// calling `power_cycle` between transcripts. Returns every (step, response).
pub fn replay(
    vf: &VectorFile,
    name: &str,
    mut transmit: impl FnMut(&[u8]) -> Vec<u8>,
    mut power_cycle: impl FnMut(),
) -> Result<Vec<(Step, Vec<u8>)>, Mismatch> {
    let mut seen = Vec::new();
    for (i, t) in vf.lineage(name).into_iter().enumerate() {
        if i > 0 {
            power_cycle();
        }
        for step in &t.steps {
            let r = transmit(&step.capdu);
            if !step.expect.matches(&r) {
                return Err(Mismatch { transcript: t.name.clone(), line: step.line, got: hex::encode_upper(&r) });
            }
            seen.push((step.clone(), r));
        }
    }
    Ok(seen)
}
