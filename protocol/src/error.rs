/// Why a piece of outside data was refused. Every parser in this crate returns it,
/// so hostile input always ends as a value, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("not the expected kind of QR code: {0}")]
    WrongPrefix(String),
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("invalid signature encoding: {0}")]
    BadSignatureEncoding(String),
    #[error("invalid public key: {0}")]
    BadPublicKey(String),
    #[error("signature does not verify")]
    SignatureInvalid,
}
