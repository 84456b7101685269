//! The certificate authority (Fig. 5): a self-signed P-256 root, issuance
//! from device-signed meter requests, the certificate database, revocation
//! and the CRL.

use crate::certdb::{CertDb, CertificateRecord, DbError, IssueRefusal, RegistryError, Status};
use crate::keys::SigningKeyPair;
use apdu_specs::certs::{CHALLENGE_LEN, CertificateRequest, DOMAIN_CERTIFICATE_REQUEST, meter_subject};
use apdu_specs::crl::{CrlContent, Revoked};
use apdu_specs::csr;
use apdu_specs::signed::Signed;
use apdu_specs::x509::{self, CertificateProfile, Template, Usage};
use apdu_specs::{FormatError, oid};
use host_driver::signature::P256Verifier;

/// How long a meter certificate is valid (two years).
pub const CERTIFICATE_LIFETIME: u64 = 2 * 365 * 86_400;
/// How long the root is valid (twenty years).
pub const ROOT_LIFETIME: u64 = 20 * 365 * 86_400;
/// How far back notBefore is set, for clock skew.
pub const BACKDATE: u64 = 3600;
/// How long a challenge handed out for a certificate request stays usable.
pub const CHALLENGE_LIFETIME: u64 = 600;

/// Why a request was refused (Fig. 5, steps 514/516).
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Not a signed envelope around a well-formed request.
    #[error("malformed certificate request: {0}")]
    Malformed(FormatError),
    /// Step 514: the meter is not registered with the authority.
    #[error("unknown identity: meter {0} is not registered")]
    UnknownMeter(String),
    /// Step 516: the device signature does not verify with the registered key.
    #[error("unverified identity: the device signature of meter {0} does not verify")]
    DeviceSignature(String),
    /// The PKCS#10 signature does not verify with the key it carries.
    #[error("no proof of possession: the request is not signed by its own key")]
    ProofOfPossession,
    /// The requested extensions do not match the usage the device stated.
    #[error("the request's extensions do not match usage {0}")]
    UsageMismatch(&'static str),
    /// The OS random source failed; no challenge was handed out.
    #[error("no OS randomness for a challenge")]
    Randomness,
    /// The store refused: a replayed, unknown or expired challenge, or a revoked key.
    #[error(transparent)]
    Refused(#[from] IssueRefusal),
}

impl From<DbError> for IssueError {
    fn from(e: DbError) -> Self {
        Self::Refused(IssueRefusal::Db(e))
    }
}

/// Why no CRL was published.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The CRL could not be encoded (a time beyond year 9999).
    #[error("the CRL could not be encoded: {0}")]
    Encoding(#[from] FormatError),
}

/// Why a revocation could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The CA never certified this key for that meter and slot.
    #[error("no certificate of this key for meter {meter} slot {slot}")]
    UnknownKey {
        /// Hex meter ID.
        meter: String,
        /// Slot.
        slot: u8,
    },
    /// The database failed; nothing was revoked.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The CA.
#[derive(Debug)]
pub struct CertificateAuthority {
    key: SigningKeyPair,
    name: Vec<u8>,
    certificate: Vec<u8>,
    db: CertDb,
}

/// The certificate, CRL or request made of `tbs` and the CA key's signature over it.
fn signed_by(key: &SigningKeyPair, tbs: &[u8]) -> Result<Vec<u8>, FormatError> {
    x509::signed_object(tbs, &key.sign_digest(&P256Verifier.sha256(&[tbs])))
}

fn key_id(public: &[u8]) -> Vec<u8> {
    x509::key_id(&P256Verifier.sha256(&[public])).to_vec()
}

fn hex_id(meter_id: &[u8; 12]) -> String {
    hex::encode_upper(meter_id)
}

impl CertificateAuthority {
    /// A CA with a self-signed root named `common_name`, valid from `now`
    /// (refused when the validity cannot be encoded).
    pub fn new(key: SigningKeyPair, common_name: &str, now: u64, db: CertDb) -> Result<Self, FormatError> {
        let name = x509::name(&[(oid::ORGANIZATION, "PCMeter"), (oid::COMMON_NAME, common_name)])?;
        let public = key.public();
        let kid = key_id(&public);
        let tbs = Template {
            serial: &[1],
            issuer: &name,
            subject: &name,
            not_before: now.saturating_sub(BACKDATE),
            not_after: now + ROOT_LIFETIME,
            public_key: &public,
            profile: CertificateProfile::Root,
            subject_key_id: &kid,
            authority_key_id: &kid,
        }
        .tbs()?;
        let certificate = signed_by(&key, &tbs)?;
        Ok(Self { key, name, certificate, db })
    }

    /// The root certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The root certificate as PEM.
    pub fn certificate_pem(&self) -> String {
        pem("CERTIFICATE", &self.certificate)
    }

    /// The CA public key (the card's anchor).
    pub fn public_key(&self) -> [u8; 65] {
        self.key.public()
    }

    /// The database.
    pub fn db(&self) -> &CertDb {
        &self.db
    }

    /// Registers a meter's device key; a meter registered with another key is refused.
    pub fn register_meter(
        &mut self,
        meter_id: &[u8; 12],
        device_key: &[u8; 65],
        now: u64,
    ) -> Result<(), RegistryError> {
        self.db.register_meter(meter_id, device_key, now)
    }

    /// Hands out a fresh single-use challenge for a certificate request,
    /// valid for [`CHALLENGE_LIFETIME`] from `now`.
    pub fn challenge(&mut self, now: u64) -> Result<[u8; CHALLENGE_LEN], IssueError> {
        let mut challenge = [0u8; CHALLENGE_LEN];
        getrandom::fill(&mut challenge).map_err(|_| IssueError::Randomness)?;
        self.db.add_challenge(&challenge, now + CHALLENGE_LIFETIME)?;
        Ok(challenge)
    }

    /// Issues a certificate for a device-signed request: the meter must be
    /// registered, its device signature and the request's proof of
    /// possession must verify, and the requested profile must match the
    /// stated usage. The request's challenge is consumed and a key with a
    /// revoked certificate is refused, in the transaction that records the
    /// certificate. The profile and the subject are the CA's, not the request's.
    pub fn issue(&mut self, envelope: &[u8], now: u64) -> Result<Vec<u8>, IssueError> {
        let signed = Signed::parse(envelope).map_err(IssueError::Malformed)?;
        let request = CertificateRequest::parse(signed.body).map_err(IssueError::Malformed)?;
        let id = hex_id(&request.meter_id);
        let device = self.db.device_key(&request.meter_id)?.ok_or_else(|| IssueError::UnknownMeter(id.clone()))?;
        let verifier = P256Verifier;
        let digest = verifier.sha256(&Signed::signing_input(DOMAIN_CERTIFICATE_REQUEST, signed.body));
        if !verifier.verify_digest(&device, &digest, &signed.signature) {
            return Err(IssueError::DeviceSignature(id));
        }
        let csr = csr::Request::parse(request.csr).map_err(IssueError::Malformed)?;
        if !verifier.verify_digest(&csr.public_key, &verifier.sha256(&[csr.info]), &csr.signature) {
            return Err(IssueError::ProofOfPossession);
        }
        if csr.usage() != Some(request.usage) {
            return Err(IssueError::UsageMismatch(request.usage.name()));
        }
        let der = self.record(
            Some(&request.challenge),
            now,
            &request.meter_id,
            request.slot,
            &csr.public_key,
            request.usage,
            (now.saturating_sub(BACKDATE), now + CERTIFICATE_LIFETIME),
        )?;
        tracing::info!(meter = %hex_id(&request.meter_id), slot = request.slot, usage = request.usage.name(), "certificate issued");
        Ok(der)
    }

    /// Signs and records a certificate for a meter's slot key with the
    /// given validity, without a request (the CA operator's path; the checks
    /// of [`Self::issue`] are the operator's). A revoked key is refused.
    pub fn certify(
        &mut self,
        meter_id: &[u8; 12],
        slot: u8,
        public_key: &[u8],
        usage: Usage,
        not_before: u64,
        not_after: u64,
    ) -> Result<Vec<u8>, IssueError> {
        self.record(None, not_before, meter_id, slot, public_key, usage, (not_before, not_after))
    }

    /// Builds, signs and records a certificate in one store transaction
    /// (consuming `challenge` at `now` when there is one).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        challenge: Option<&[u8]>,
        now: u64,
        meter_id: &[u8; 12],
        slot: u8,
        public_key: &[u8],
        usage: Usage,
        (not_before, not_after): (u64, u64),
    ) -> Result<Vec<u8>, IssueError> {
        let subject = meter_subject(meter_id, slot, usage).map_err(IssueRefusal::Encoding)?;
        let (key, name) = (&self.key, &self.name);
        let record = self.db.issue(challenge, now, public_key, |counter| {
            // Serial: 0x01 ‖ 8-byte counter, positive and never reused.
            let mut serial = vec![0x01];
            serial.extend_from_slice(&counter.to_be_bytes());
            let tbs = Template {
                serial: &serial,
                issuer: name,
                subject: &subject,
                not_before,
                not_after,
                public_key,
                profile: CertificateProfile::Slot(usage),
                subject_key_id: &key_id(public_key),
                authority_key_id: &key_id(&key.public()),
            }
            .tbs()?;
            Ok(CertificateRecord {
                der: signed_by(key, &tbs)?,
                serial,
                meter_id: *meter_id,
                slot,
                subject: subject.clone(),
                public_key: public_key.to_vec(),
                usage: usage as u8,
                not_before,
                not_after,
                status: Status::Valid,
            })
        })?;
        Ok(record.der)
    }

    /// Revokes the key of `meter_id`'s `slot` (Fig. 6, 622): every
    /// certificate of the key goes on the CRL and the key is never certified
    /// again. Returns the serials newly revoked; the card's order is
    /// [`crate::orders::revocation_order`] for the same meter, slot and key.
    pub fn revoke_key(
        &mut self,
        meter_id: &[u8; 12],
        slot: u8,
        public_key: &[u8; 65],
        reason: u8,
        now: u64,
    ) -> Result<Vec<Vec<u8>>, RevokeError> {
        let known = self.db.certificates_of(meter_id)?.iter().any(|c| c.slot == slot && c.public_key == public_key);
        if !known {
            return Err(RevokeError::UnknownKey { meter: hex_id(meter_id), slot });
        }
        let serials = self.db.revoke_key(meter_id, slot, public_key, now, reason)?;
        tracing::info!(meter = %hex_id(meter_id), slot, certificates = serials.len(), "key revoked");
        Ok(serials)
    }

    /// Revokes the key of certificate `serial` (all its certificates); false
    /// when the serial is unknown or already revoked.
    pub fn revoke(&mut self, serial: &[u8], reason: u8, now: u64) -> Result<bool, DbError> {
        self.db.revoke(serial, now, reason)
    }

    /// Publishes a CRL listing every revoked certificate, valid for `lifetime` seconds.
    pub fn crl(&mut self, now: u64, lifetime: u64) -> Result<Vec<u8>, CrlError> {
        let revoked = self
            .db
            .revoked()?
            .into_iter()
            .filter_map(|c| match c.status {
                Status::Revoked { time, reason } => Some(Revoked { serial: c.serial, time, reason }),
                Status::Valid => None,
            })
            .collect();
        let content = CrlContent {
            issuer: self.name.clone(),
            this_update: now,
            next_update: now + lifetime,
            number: self.db.next("crl number")?,
            authority_key_id: key_id(&self.key.public()),
            revoked,
        };
        let tbs = content.tbs()?;
        Ok(signed_by(&self.key, &tbs)?)
    }
}

/// PEM armour (RFC 7468) for `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
