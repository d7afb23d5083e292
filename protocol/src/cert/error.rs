/// Why a certificate (or the key meant to check it) was refused. Each stage of the
/// pipeline has its own variant, so a verifier can tell "this is not a certificate"
/// from "this certificate is forged" from "this certificate is out of date".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("unknown certificate prefix: {0}")]
    UnknownPrefix(String),
    #[error("invalid base45: {0}")]
    Base45(String),
    #[error("invalid zlib data: {0}")]
    Compression(String),
    #[error("certificate too large: over {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    #[error("malformed COSE_Sign1: {0}")]
    Cose(String),
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("no key identifier (kid) in the COSE headers")]
    MissingKid,
    #[error("no trusted key for kid {0}")]
    UnknownKid(String),
    #[error("signature does not verify")]
    SignatureInvalid,
    #[error("invalid public key: {0}")]
    BadKey(String),
    #[error("invalid signer certificate: {0}")]
    BadSignerCertificate(String),
    #[error("invalid CWT claims: {0}")]
    Claims(String),
    #[error("not a valid EU DCC payload: {0}")]
    Schema(String),
    #[error("the signer certificate may not sign {0} certificates (extended key usage)")]
    KeyUsage(String),
    #[error("certificate expired at {exp} (checked at {now})")]
    Expired { exp: i64, now: i64 },
    #[error("certificate not yet valid: issued at {iat} (checked at {now})")]
    NotYetValid { iat: i64, now: i64 },
    #[error("invalid time: {0}")]
    Time(String),
    #[error("invalid signed list: {0}")]
    List(String),
    #[error("invalid X.509 certificate: {0}")]
    X509(String),
    #[error("signing failed: {0}")]
    Signing(String),
}
