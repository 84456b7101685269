//! Certifying a meter slot (Fig. 5), the authority's side of a host session:
//! the card generates the key and signs the request, the CA answers its own
//! fresh challenge and issues, and the card installs the certificate.

use crate::ca::{CertificateAuthority, IssueError};
use apdu_specs::x509::Usage;
use host_driver::transport::Transport;
use host_driver::{MeterError, Transaction};

/// Why a slot could not be certified.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// The card refused.
    #[error(transparent)]
    Meter(#[from] MeterError),
    /// The CA refused.
    #[error(transparent)]
    Issue(#[from] IssueError),
}

/// Generates a key in `slot`, requests a certificate answering a fresh CA
/// challenge, has `ca` issue it (the CA sets the subject) and installs it;
/// returns the certificate.
pub fn certify_slot<'a, T: Transport + 'a>(
    tx: &mut Transaction<'a, T>,
    ca: &mut CertificateAuthority,
    slot: u8,
    usage: Usage,
    now: u64,
) -> Result<Vec<u8>, CertifyError> {
    tx.generate_key_pair(slot, usage)?;
    let challenge = ca.challenge(now)?;
    let request = tx.certificate_request(slot, &challenge)?;
    let certificate = ca.issue(&request, now)?;
    tx.install_certificate(slot, &certificate)?;
    Ok(certificate)
}
