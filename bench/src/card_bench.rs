//! The card in process, on any store and engine: the raw limits (P-256 sign,
//! SHA-256 of 1 MiB) and the meter's operations through the full APDU path.

use apdu_specs::x509::Usage;
use card_core::Applet;
use card_core::platform::{CryptoEngine, Store};
use card_sim::{Engine, Entropy, SimClock, SimPlatform};
use std::time::{Duration, Instant};
use testkit::pki::{self, ext_apdu};

/// How long a loop took: wall-clock time (what a disk wait counts in) and
/// this thread's CPU time (what other processes on a shared machine do not
/// inflate: the in-process rows use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU time of this thread.
    pub cpu: Duration,
}

impl Span {
    /// The longest span (the identity of `min`).
    pub const MAX: Span = Span { wall: Duration::MAX, cpu: Duration::MAX };

    /// Keeps the shorter wall time and the shorter CPU time of two runs.
    pub fn best(self, other: Span) -> Span {
        Span { wall: self.wall.min(other.wall), cpu: self.cpu.min(other.cpu) }
    }
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

/// A started measurement.
pub struct Timer {
    wall: Instant,
    cpu: Duration,
}

impl Timer {
    /// Starts both clocks.
    pub fn start() -> Self {
        Self { wall: Instant::now(), cpu: thread_cpu() }
    }

    /// The span since the start.
    pub fn span(&self) -> Span {
        Span { wall: self.wall.elapsed(), cpu: thread_cpu().saturating_sub(self.cpu) }
    }
}

/// The card under test.
pub type Card<S> = Applet<SimPlatform<S>>;

/// Asserts 9000 and returns the response.
pub fn ok(r: Vec<u8>) -> Vec<u8> {
    assert!(r.ends_with(&[0x90, 0x00]), "card refused: {:02X?}", &r[r.len().saturating_sub(2)..]);
    r
}

/// An operational card on `store` with `engine`: personalized with 1e11
/// minor units, activated, registered with the vector CA, slot 0 certified
/// for postmarks, the PIN verified.
pub fn operational<S: Store>(engine: Engine, store: S) -> Card<S> {
    operational_with_ca(engine, store).0
}

/// As [`operational`], with the CA the card is registered with.
pub fn operational_with_ca<S: Store>(engine: Engine, store: S) -> (Card<S>, authority::CertificateAuthority) {
    let keys = testkit::vector_keys();
    let mut opts = testkit::vector_options();
    opts.profile.initial_credit = 100_000_000_000;
    let platform = SimPlatform::with_engine(engine, store, Entropy::Os, SimClock::fixed(testkit::FIXTURE_TIME));
    let mut a = Applet::manufacture(platform, &keys.issuer.public(), testkit::VECTOR_SERIAL).expect("manufacture");
    ok(a.process(&testkit::select_apdu()));
    for apdu in testkit::personalization_apdus(&keys, &opts) {
        ok(a.process(&apdu));
    }
    ok(a.process(&testkit::verify_apdu("123456")));
    ok(a.process(&[0x00, 0x44, 0x00, 0x00]));
    let mut ca = pki::ca_for(&keys);
    let mut send = |c: &[u8]| a.process(c);
    pki::register_raw(&mut send, &mut ca);
    ok(send(&testkit::verify_apdu("123456")));
    pki::certify_raw(&mut send, &mut ca, 0, Usage::Postmark);
    (a, ca)
}

/// Time of `n` indicia (a standard PRINT INDICIUM, one APDU each).
pub fn indicia<S: Store>(card: &mut Card<S>, n: usize) -> Span {
    let ind = testkit::indicium_apdu(1, 1);
    let t = Timer::start();
    for _ in 0..n {
        let r = card.process(&ind);
        assert_eq!(r.len(), 126, "indicium refused: {:02X?}", &r[r.len().saturating_sub(2)..]);
        std::hint::black_box(r);
    }
    t.span()
}

/// Time of `n` postmarks of a 32-byte digest (RFC 3161 TSTInfo + signed attributes + commit + sign).
pub fn postmarks_digest<S: Store>(card: &mut Card<S>, n: usize) -> Span {
    let postmark = ext_apdu([0x80, 0x56, 0x00, 0x00], &[9u8; 32]);
    let t = Timer::start();
    for _ in 0..n {
        std::hint::black_box(ok(card.process(&postmark)));
    }
    t.span()
}

/// The 1 MiB message and the APDUs that hash it on the card (HASH start, 128 × 8 KiB, POSTMARK of the hash).
pub struct MibApdus {
    start: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    postmark: Vec<u8>,
    /// The message.
    pub message: Vec<u8>,
}

impl MibApdus {
    /// Builds them.
    pub fn new() -> Self {
        let message = vec![0xA5u8; 1 << 20];
        Self {
            start: ext_apdu([0x80, 0x54, 0x00, 0x00], &[]),
            chunks: message.chunks(8192).map(|c| ext_apdu([0x80, 0x54, 0x01, 0x00], c)).collect(),
            postmark: ext_apdu([0x80, 0x56, 0x01, 0x00], &[]),
            message,
        }
    }
}

/// Time of `n` postmarks of a 1 MiB message hashed on the card.
pub fn postmarks_mib<S: Store>(card: &mut Card<S>, m: &MibApdus, n: usize) -> Span {
    let t = Timer::start();
    for _ in 0..n {
        ok(card.process(&m.start));
        for c in &m.chunks {
            ok(card.process(c));
        }
        std::hint::black_box(ok(card.process(&m.postmark)));
    }
    t.span()
}

/// A fresh crypto engine and one key, as the card signs.
pub struct RawSigner {
    crypto: card_sim::SimCrypto,
    key: card_core::SecretKey,
}

impl RawSigner {
    /// A signer on `engine`.
    pub fn new(engine: Engine) -> Self {
        let mut crypto = engine.instantiate(Entropy::Os);
        let (key, _) = crypto.p256_generate().expect("key");
        Self { crypto, key }
    }

    /// One P-256 signature of a 32-byte digest (low-S, as the card signs).
    pub fn sign(&mut self) {
        std::hint::black_box(self.crypto.p256_sign_digest(&self.key, &[7u8; 32]).expect("sign"));
    }

    /// Time of `n` signatures.
    pub fn signs(&mut self, n: usize) -> Span {
        let t = Timer::start();
        for _ in 0..n {
            self.sign();
        }
        t.span()
    }

    /// Time of `n` SHA-256 digests of `message` on the same engine.
    pub fn hashes(&self, message: &[u8], n: usize) -> Span {
        let t = Timer::start();
        for _ in 0..n {
            std::hint::black_box(self.crypto.sha256(&[message]));
        }
        t.span()
    }
}

/// What one engine did in process on the memory store, as rates per second.
#[derive(Debug, Clone, Copy)]
pub struct InProcess {
    /// The engine.
    pub engine: Engine,
    /// Raw signs/s.
    pub sign: f64,
    /// Raw SHA-256 of 1 MiB per second.
    pub hash_mib: f64,
    /// Indicia/s.
    pub indicia: f64,
    /// Digest postmarks/s.
    pub postmarks: f64,
    /// 1 MiB postmarks/s.
    pub postmarks_mib: f64,
}

fn per_s(n: usize, d: Span) -> f64 {
    n as f64 / d.cpu.as_secs_f64()
}

/// Measures `engine` on the memory store: the raw sign and each operation,
/// interleaved in `runs` rounds (best of each), so that a load change on the
/// machine hits the limit and the operation alike.
pub fn in_process(engine: Engine, n: usize, runs: usize, mib_n: usize) -> InProcess {
    let mut card = operational(engine, card_sim::MemoryStore::new());
    let mut raw = RawSigner::new(engine);
    let mib = MibApdus::new();
    let [mut sign, mut ind, mut pm, mut pm_mib, mut hash] = [Span::MAX; 5];
    // Warm up once.
    indicia(&mut card, n / 10 + 1);
    for _ in 0..runs {
        sign = sign.best(raw.signs(n));
        ind = ind.best(indicia(&mut card, n));
        pm = pm.best(postmarks_digest(&mut card, n));
        hash = hash.best(raw.hashes(&mib.message, mib_n));
        pm_mib = pm_mib.best(postmarks_mib(&mut card, &mib, mib_n));
    }
    InProcess {
        engine,
        sign: per_s(n, sign),
        hash_mib: per_s(mib_n, hash),
        indicia: per_s(n, ind),
        postmarks: per_s(n, pm),
        postmarks_mib: per_s(mib_n, pm_mib),
    }
}
