//! Charged services. Every service has its own piece count; every service but
//! postage has a flat fee in the rate table.

use crate::codec::FormatError;

/// A charged service of the meter (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Service {
    /// Postage indicium, priced by rate class and weight.
    Postage = 0,
    /// On-card P-256 key pair generation.
    KeyGeneration = 1,
    /// Certificate request signed by the device key.
    CertificateRequest = 2,
    /// Installation of an X.509 certificate into a slot.
    CertificateInstall = 3,
    /// Cryptographic postmark (RFC 3161 token).
    Postmark = 4,
    /// Postmark validation.
    PostmarkValidation = 5,
    /// X.509 certificate verification against the CA anchor.
    CertificateVerification = 6,
    /// Certificate issued by the meter as an agent.
    AgentIssuance = 7,
    /// Revocation of a slot certificate.
    Revocation = 8,
    /// Payment certificate under a line of credit.
    PaymentCertificate = 9,
    /// Signature of arbitrary data with a slot key.
    SignData = 10,
    /// Decryption of data encrypted to a slot key.
    Decrypt = 11,
}

/// Number of services (and of per-service piece counts).
pub const SERVICE_COUNT: usize = 12;

impl Service {
    /// All services in code order.
    pub const ALL: [Service; SERVICE_COUNT] = [
        Service::Postage,
        Service::KeyGeneration,
        Service::CertificateRequest,
        Service::CertificateInstall,
        Service::Postmark,
        Service::PostmarkValidation,
        Service::CertificateVerification,
        Service::AgentIssuance,
        Service::Revocation,
        Service::PaymentCertificate,
        Service::SignData,
        Service::Decrypt,
    ];

    /// Services that carry a flat fee in the rate table (all but postage).
    pub fn fee_services() -> impl Iterator<Item = Service> {
        Self::ALL.into_iter().filter(|s| *s != Service::Postage)
    }

    /// The service code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Index into the piece-count array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Decodes a service code.
    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        Self::ALL.into_iter().find(|s| s.code() == code).ok_or(FormatError::Invalid("service"))
    }

    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postage => "postage",
            Self::KeyGeneration => "key generation",
            Self::CertificateRequest => "certificate request",
            Self::CertificateInstall => "certificate install",
            Self::Postmark => "postmark",
            Self::PostmarkValidation => "postmark validation",
            Self::CertificateVerification => "certificate verification",
            Self::AgentIssuance => "agent issuance",
            Self::Revocation => "revocation",
            Self::PaymentCertificate => "payment certificate",
            Self::SignData => "sign data",
            Self::Decrypt => "decrypt",
        }
    }
}
