//! Shared fixtures for the workspace tests: the deterministic vector card,
//! the transcript replayer, and snapshots of observable card state.

pub mod forge;
pub mod oracle;
pub mod pcsc_rig;
pub mod pki;
pub mod postgres;
pub mod scripted;
pub mod services;
pub mod soft_meter;
pub mod suite;

use apdu_specs::commands::{AID, CLA_CHAIN, CLA_PROPRIETARY, ins};
use apdu_specs::perso::CardSerial;
use apdu_specs::sw::Sw;
use apdu_specs::vectors::{Step, VectorFile};
use authority::profile::ProfileBuilder;
use card_sim::{Entropy, SimCard, SimClock};
use pcmeter::simulated::{AuthorityKeys, Options};

/// Clock of the vector fixture: 2026-11-23 12:00:00 UTC.
pub const FIXTURE_TIME: u64 = 1_795_435_200;
/// Mailing date matching the fixture clock.
pub const FIXTURE_DATE: u32 = 20_261_123;
/// Initial credit of the vector meter.
pub const FIXTURE_CREDIT: u64 = 2_000;

/// Serial the vector card is manufactured with.
pub const VECTOR_SERIAL: CardSerial = CardSerial(*b"PCMV0001");

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
        card_serial: Some(VECTOR_SERIAL),
    }
}

/// `data` sent with `header` as a chain of short APDUs (CLA bit 10 on all but the last).
pub fn chained_apdus(header: [u8; 4], data: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = data.chunks(255).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let cla = if i + 1 < n { header[0] | CLA_CHAIN } else { header[0] };
            let mut apdu = vec![cla, header[1], header[2], header[3], c.len() as u8];
            apdu.extend_from_slice(c);
            apdu
        })
        .collect()
}

/// The STORE DATA APDUs personalizing the card `opts.card_serial` names, chained in short APDUs.
pub fn personalization_apdus(keys: &AuthorityKeys, opts: &Options) -> Vec<Vec<u8>> {
    let serial = opts.card_serial.expect("the options name the card serial");
    let signed = pcmeter::simulated::signed_profile(keys, opts, serial).expect("vector profile");
    chained_apdus([CLA_PROPRIETARY, ins::STORE_DATA, 0, 0], &signed)
}

/// VERIFY of the user PIN.
pub fn verify_apdu(digits: &str) -> Vec<u8> {
    let mut a = vec![0x00, ins::VERIFY, 0x00, 0x81, 0x08];
    a.extend_from_slice(apdu_specs::pin::PinBlock::from_digits(digits).expect("PIN digits").as_bytes());
    a
}

/// PRINT INDICIUM for [`piece`]`(class, grams)`, Le 00.
pub fn indicium_apdu(class: u8, grams: u32) -> Vec<u8> {
    let mut a = vec![CLA_PROPRIETARY, ins::PRINT_INDICIUM, 0x00, 0x00, 19];
    a.extend_from_slice(&piece(class, grams).encode());
    a.push(0);
    a
}

/// A mail piece posted on the fixture date from 10001 to 94105.
pub fn piece(class: u8, grams: u32) -> apdu_specs::mailpiece::MailPiece {
    apdu_specs::mailpiece::MailPiece {
        rate_class: class,
        weight_grams: grams,
        date: FIXTURE_DATE,
        origin: *b"10001",
        destination: *b"94105",
    }
}

/// Replays transcript `name` on a fresh vector card driven directly.
pub fn replay_on_card(vf: &VectorFile, name: &str) -> Result<Vec<(Step, Vec<u8>)>, Mismatch> {
    let card = std::cell::RefCell::new(vector_card(vf));
    replay(
        vf,
        name,
        |c| card.borrow_mut().transmit(c).expect("card powered"),
        || {
            let mut card = card.borrow_mut();
            card.power_off();
            card.power_on().expect("power on");
        },
    )
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
    SimCard::manufacture_in_memory(&anchor, vf.serial, Entropy::seeded(1), SimClock::fixed(vf.time))
        .expect("manufacture")
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

/// A card driven with raw APDUs (the applet directly, no host layer).
pub struct DirectCard<S: card_core::platform::Store = card_sim::MemoryStore> {
    /// The simulated card.
    pub card: SimCard<S>,
    /// Its clock.
    pub clock: SimClock,
}

impl DirectCard {
    /// A blank card manufactured with the vector issuer key and serial, selected.
    pub fn blank() -> Self {
        Self::blank_with_serial(VECTOR_SERIAL)
    }

    /// A blank card manufactured with the vector issuer key and `serial`, selected.
    pub fn blank_with_serial(serial: CardSerial) -> Self {
        let keys = vector_keys();
        let clock = SimClock::fixed(FIXTURE_TIME);
        let card =
            SimCard::manufacture_in_memory(&keys.issuer.public(), serial, Entropy::seeded(7), clock.clone()).unwrap();
        let mut c = Self { card, clock };
        c.select();
        c
    }

    /// A personalized, activated card; selected, PIN *not* verified.
    pub fn operational() -> Self {
        Self::operational_with_credit(FIXTURE_CREDIT)
    }

    /// As [`Self::operational`] with another initial credit.
    pub fn operational_with_credit(credit: u64) -> Self {
        let mut c = Self::blank();
        let mut opts = vector_options();
        opts.profile.initial_credit = credit;
        for a in personalization_apdus(&vector_keys(), &opts) {
            assert_eq!(c.sw(&a), Sw::OK);
        }
        assert_eq!(c.verify("123456"), Sw::OK);
        assert_eq!(c.sw(&[0x00, 0x44, 0x00, 0x00]), Sw::OK);
        c.power_cycle();
        c
    }
}

impl<S: card_core::platform::Store> DirectCard<S> {
    /// Sends an APDU; returns data and SW.
    pub fn send(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let r = self.card.transmit(apdu).expect("card powered");
        assert!(r.len() >= 2, "response without status word");
        let (d, sw) = r.split_at(r.len() - 2);
        (d.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
    }

    /// Sends hex; returns data and SW.
    pub fn hex(&mut self, apdu: &str) -> (Vec<u8>, u16) {
        let clean: String = apdu.chars().filter(|c| !c.is_whitespace()).collect();
        self.send(&hex::decode(clean).unwrap())
    }

    /// Sends an APDU; returns the SW.
    pub fn sw(&mut self, apdu: &[u8]) -> u16 {
        self.send(apdu).1
    }

    /// SELECT.
    pub fn select(&mut self) {
        assert_eq!(self.sw(&select_apdu()), Sw::OK);
    }

    /// VERIFY with digits.
    pub fn verify(&mut self, digits: &str) -> u16 {
        self.sw(&verify_apdu(digits))
    }

    /// PRINT INDICIUM for a piece mailed today.
    pub fn print(&mut self, class: u8, grams: u32) -> (Vec<u8>, u16) {
        let piece = apdu_specs::mailpiece::MailPiece {
            rate_class: class,
            weight_grams: grams,
            date: apdu_specs::date::yyyymmdd_from_unix(self.clock.now().unwrap()),
            origin: *b"10001",
            destination: *b"94105",
        };
        let mut a = vec![0x80, 0x60, 0x00, 0x00, 19];
        a.extend_from_slice(&piece.encode());
        a.push(0);
        self.send(&a)
    }

    /// An APDU sending `data` with (CLA, INS, P1, P2), chained in short APDUs when long.
    pub fn send_chained(&mut self, header: [u8; 4], data: &[u8]) -> (Vec<u8>, u16) {
        let apdus = chained_apdus(header, data);
        let n = apdus.len();
        let mut last = (Vec::new(), Sw::OK.0);
        for (i, a) in apdus.iter().enumerate() {
            last = self.send(a);
            if i + 1 < n && last.1 != Sw::OK {
                return last;
            }
        }
        last
    }

    /// UPDATE RATES with a signed table.
    pub fn update_rates(&mut self, signed: &[u8]) -> u16 {
        self.send_chained([0x80, 0x62, 0x00, 0x00], signed).1
    }

    /// GET DATA of a tag (data must come with 9000).
    pub fn get(&mut self, tag: u16) -> Vec<u8> {
        let [p1, p2] = tag.to_be_bytes();
        let (d, sw) = self.send(&[0x00, 0xCA, p1, p2, 0x00]);
        assert_eq!(sw, Sw::OK, "GET DATA {tag:04X}");
        d
    }

    /// The registers.
    pub fn registers(&mut self) -> apdu_specs::registers::Registers {
        apdu_specs::registers::Registers::parse(&self.get(apdu_specs::tags::REGISTERS)).unwrap()
    }

    /// The status.
    pub fn status(&mut self) -> apdu_specs::registers::Status {
        apdu_specs::registers::Status::parse(&self.get(apdu_specs::tags::STATUS)).unwrap()
    }

    /// Power off and on, then SELECT.
    pub fn power_cycle(&mut self) {
        self.card.power_off();
        self.card.power_on().unwrap();
        self.select();
    }

    /// Everything observable about persistent state, for "nothing changed" checks.
    /// Taken without disturbing the session (GET DATA only).
    pub fn snapshot(&mut self) -> Vec<Vec<u8>> {
        let mut status = self.get(apdu_specs::tags::STATUS);
        // Drop the PIN-verified flag: it is session state, not persistent state.
        status[3] &= !apdu_specs::registers::flags::PIN_VERIFIED;
        let mut out = vec![self.get(apdu_specs::tags::REGISTERS), status, self.get(apdu_specs::tags::AUDIT_HEAD)];
        let (rates, _) = self.send(&[0x00, 0xCA, 0xDF, 0x22, 0x00]);
        out.push(rates);
        out
    }
}

/// A signed rate table from the vector authority.
pub fn signed_table(
    version: u32,
    effective_from: u64,
    tweak: impl FnOnce(&mut apdu_specs::rates::RateTable),
) -> Vec<u8> {
    let mut t = authority::default_rate_table(version, effective_from);
    tweak(&mut t);
    authority::sign_rate_table(&vector_keys().authority, &t)
}

/// True when `sw` is documented for the command `capdu` carries (or generically).
pub fn documented(capdu: &[u8], sw: apdu_specs::sw::Sw) -> bool {
    use apdu_specs::commands::{self, GENERIC_STATUS_WORDS};
    match capdu.get(1).and_then(|ins| commands::by_ins(*ins)) {
        Some(spec) => commands::documents(spec, sw),
        None => GENERIC_STATUS_WORDS.iter().any(|(s, _)| *s == sw.family()),
    }
}

/// The crypto engine every simulated card of the tests runs: the one
/// `PCMETER_ENGINE` names, soft when unset. A name that is unknown or not
/// compiled in fails the test: the suite never falls back to another engine.
pub fn engine() -> card_sim::Engine {
    card_sim::Engine::from_env().unwrap_or_else(|e| panic!("{}: {e}", card_sim::Engine::ENV))
}

/// Packages whose binaries link no simulated card (the authority service):
/// built without the card-sim engine feature, which they cannot take.
const WITHOUT_CARD: &[&str] = &["authority"];

/// Path of a workspace binary next to the test executables, (re)built by
/// cargo first, with the card-sim feature of [`engine`] when it needs one.
pub fn workspace_bin(package: &str, name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target profile dir").to_path_buf();
    let bin = dir.join(name);
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", package, "--bin", name]);
        if let Some(feature) = engine().cargo_feature().filter(|_| !WITHOUT_CARD.contains(&package)) {
            cmd.args(["--features", &format!("card-sim/{feature}")]);
        }
        if release {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("cargo runs").success(), "building {name}");
    }
    bin
}
