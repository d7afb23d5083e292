//! Web Push message encryption: RFC 8291 keys in the `aes128gcm` content coding of
//! RFC 8188, as one record.
//!
//! The body is `salt (16) ‖ record size (u32 BE) ‖ key id length (1) ‖ key id ‖
//! ciphertext`, where the key id is the sender's ephemeral P-256 public key (65 bytes,
//! uncompressed). The recipient's long-lived key is stored by the phone; ring cannot
//! import a stored ECDH private key, so the ECDH step is left to the caller (the core
//! does it with `p256`) and everything after it happens here, with ring.

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::rand::SecureRandom;

/// The user agent's authentication secret (RFC 8291 §3.2).
pub const AUTH_SECRET_LEN: usize = 16;
/// An uncompressed P-256 public key.
pub const PUBLIC_KEY_LEN: usize = 65;
pub const SALT_LEN: usize = 16;
/// What FCM, APNs and Web Push services all carry: 4 KB of encrypted body.
pub const MAX_BODY_LEN: usize = 4096;
/// The header with a P-256 key id.
pub const HEADER_LEN: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN;
const TAG_LEN: usize = 16;
/// RFC 8188 §2: the smallest record holds the tag and the delimiter octet.
const MIN_RECORD_SIZE: u32 = TAG_LEN as u32 + 1;
/// The largest plaintext that fits in [`MAX_BODY_LEN`] as one record.
pub const MAX_PLAINTEXT_LEN: usize = MAX_BODY_LEN - HEADER_LEN - TAG_LEN - 1;

/// Why a push body was refused. Every variant is hostile or broken input, never a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushError {
    #[error("push body of {0} bytes is too short for an aes128gcm header and one record")]
    Truncated(usize),
    #[error("push body of {len} bytes is over the {MAX_BODY_LEN}-byte limit of push services")]
    TooLarge { len: usize },
    #[error("record size {0} is below the 18 bytes aes128gcm allows")]
    BadRecordSize(u32),
    #[error("the key id must be the sender's {PUBLIC_KEY_LEN}-byte public key; it is {0} bytes")]
    BadKeyId(usize),
    #[error("the body holds more than one record; Web Push messages are one record")]
    MultipleRecords,
    #[error("the message does not decrypt with this subscription's keys")]
    Undecryptable,
    #[error("the decrypted record does not end with the last-record delimiter")]
    BadPadding,
    #[error("invalid key material: {0}")]
    BadKey(&'static str),
    #[error("a plaintext of {len} bytes does not fit one {MAX_BODY_LEN}-byte push body")]
    PlaintextTooLarge { len: usize },
}

impl WebPushError {
    /// A stable code for logs and counters.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated(_) => "push_truncated",
            Self::TooLarge { .. } => "push_too_large",
            Self::BadRecordSize(_) => "push_bad_record_size",
            Self::BadKeyId(_) => "push_bad_key_id",
            Self::MultipleRecords => "push_multiple_records",
            Self::Undecryptable => "push_undecryptable",
            Self::BadPadding => "push_bad_padding",
            Self::BadKey(_) => "push_bad_key",
            Self::PlaintextTooLarge { .. } => "push_plaintext_too_large",
        }
    }
}

/// A parsed body: the header's fields and the one record, not yet decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub salt: [u8; SALT_LEN],
    pub record_size: u32,
    /// The sender's ephemeral public key, the other half of the ECDH.
    pub sender_public: &'a [u8],
    pub record: &'a [u8],
}

/// Reads the header. Checks sizes only; authenticity is the AEAD's job in [`open`].
pub fn parse(body: &[u8]) -> Result<Envelope<'_>, WebPushError> {
    if body.len() > MAX_BODY_LEN {
        return Err(WebPushError::TooLarge { len: body.len() });
    }
    if body.len() < SALT_LEN + 5 {
        return Err(WebPushError::Truncated(body.len()));
    }
    let (salt, rest) = body.split_at(SALT_LEN);
    let record_size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let key_id_len = usize::from(rest[4]);
    let rest = &rest[5..];
    if record_size < MIN_RECORD_SIZE + 1 {
        return Err(WebPushError::BadRecordSize(record_size));
    }
    if key_id_len != PUBLIC_KEY_LEN {
        return Err(WebPushError::BadKeyId(key_id_len));
    }
    if rest.len() < PUBLIC_KEY_LEN + MIN_RECORD_SIZE as usize {
        return Err(WebPushError::Truncated(body.len()));
    }
    let (sender_public, record) = rest.split_at(PUBLIC_KEY_LEN);
    if record.len() > record_size as usize {
        return Err(WebPushError::MultipleRecords);
    }
    let mut salt_bytes = [0u8; SALT_LEN];
    salt_bytes.copy_from_slice(salt);
    Ok(Envelope { salt: salt_bytes, record_size, sender_public, record })
}

/// Decrypts a parsed body, given the ECDH secret the recipient computed from its
/// private key and `envelope.sender_public`. Returns the plaintext without padding.
pub fn open(
    envelope: &Envelope<'_>,
    ecdh_secret: &[u8],
    recipient_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, WebPushError> {
    let keys = ContentKeys::derive(ecdh_secret, auth_secret, recipient_public, envelope.sender_public, &envelope.salt)?;
    let mut record = envelope.record.to_vec();
    let plain_len = keys
        .key
        .open_in_place(keys.nonce(), Aad::empty(), &mut record)
        .map_err(|_| WebPushError::Undecryptable)?
        .len();
    record.truncate(plain_len);
    // RFC 8188 §2: padding is zeros after a delimiter, 2 for the last record.
    let delimiter = record.iter().rposition(|&b| b != 0).ok_or(WebPushError::BadPadding)?;
    if record[delimiter] != 2 {
        return Err(WebPushError::BadPadding);
    }
    record.truncate(delimiter);
    Ok(record)
}

/// The server's side: encrypts `plaintext` to a subscription with a fresh ephemeral
/// key and salt. `pad_to` rounds the plaintext length up (hiding exact lengths from
/// the push service); 0 adds no padding.
pub fn seal(
    plaintext: &[u8],
    recipient_public: &[u8],
    auth_secret: &[u8],
    pad_to: usize,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, WebPushError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(WebPushError::PlaintextTooLarge { len: plaintext.len() });
    }
    let private = EphemeralPrivateKey::generate(&ECDH_P256, rng).map_err(|_| WebPushError::BadKey("no randomness"))?;
    let sender_public = private.compute_public_key().map_err(|_| WebPushError::BadKey("ephemeral key"))?;
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt).map_err(|_| WebPushError::BadKey("no randomness"))?;
    let peer = UnparsedPublicKey::new(&ECDH_P256, recipient_public);
    agree_ephemeral(private, &peer, |secret| {
        seal_with(plaintext, secret, sender_public.as_ref(), recipient_public, auth_secret, &salt, pad_to)
    })
    .map_err(|_| WebPushError::BadKey("the subscription's public key is not a P-256 point"))?
}

/// [`seal`] with every input given, so the RFC 8291 example can be reproduced byte
/// for byte.
pub fn seal_with(
    plaintext: &[u8],
    ecdh_secret: &[u8],
    sender_public: &[u8],
    recipient_public: &[u8],
    auth_secret: &[u8],
    salt: &[u8; SALT_LEN],
    pad_to: usize,
) -> Result<Vec<u8>, WebPushError> {
    let padded_len = if pad_to > 1 { plaintext.len().div_ceil(pad_to) * pad_to } else { plaintext.len() };
    let padded_len = padded_len.min(MAX_PLAINTEXT_LEN).max(plaintext.len());
    if padded_len > MAX_PLAINTEXT_LEN {
        return Err(WebPushError::PlaintextTooLarge { len: plaintext.len() });
    }
    if sender_public.len() != PUBLIC_KEY_LEN {
        return Err(WebPushError::BadKeyId(sender_public.len()));
    }
    let keys = ContentKeys::derive(ecdh_secret, auth_secret, recipient_public, sender_public, salt)?;
    let mut record = Vec::with_capacity(padded_len + 1 + TAG_LEN);
    record.extend_from_slice(plaintext);
    record.push(2);
    record.resize(padded_len + 1, 0);
    keys.key
        .seal_in_place_append_tag(keys.nonce(), Aad::empty(), &mut record)
        .map_err(|_| WebPushError::BadKey("content key"))?;
    // One record: the record size only has to cover it. 4096 is what RFC 8291's example
    // and browsers send.
    let record_size = u32::try_from(MAX_BODY_LEN).unwrap_or(u32::MAX);
    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&record_size.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(sender_public);
    body.extend_from_slice(&record);
    Ok(body)
}

struct ContentKeys {
    key: LessSafeKey,
    nonce: [u8; 12],
}

impl ContentKeys {
    /// RFC 8291 §3.4 (the input key from ECDH and the auth secret) then RFC 8188 §2.2
    /// (content key and nonce from that key and the salt).
    fn derive(
        ecdh_secret: &[u8],
        auth_secret: &[u8],
        recipient_public: &[u8],
        sender_public: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<Self, WebPushError> {
        if auth_secret.len() != AUTH_SECRET_LEN {
            return Err(WebPushError::BadKey("the auth secret must be 16 bytes"));
        }
        if recipient_public.len() != PUBLIC_KEY_LEN {
            return Err(WebPushError::BadKey("the subscription's public key must be 65 bytes"));
        }
        let key_info: &[&[u8]] = &[b"WebPush: info\0", recipient_public, sender_public];
        let ikm = expand(&Salt::new(HKDF_SHA256, auth_secret).extract(ecdh_secret), key_info, 32)?;
        let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
        let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16)?;
        let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12)?;
        let key = UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| WebPushError::BadKey("content key"))?;
        let mut nonce_bytes = [0u8; 12];
        nonce_bytes.copy_from_slice(&nonce);
        Ok(Self { key: LessSafeKey::new(key), nonce: nonce_bytes })
    }

    /// The first (and only) record's nonce: the derived nonce XOR sequence number 0.
    fn nonce(&self) -> Nonce {
        Nonce::assume_unique_for_key(self.nonce)
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &ring::hkdf::Prk, info: &[&[u8]], len: usize) -> Result<Vec<u8>, WebPushError> {
    let mut out = vec![0u8; len];
    prk.expand(info, Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| WebPushError::BadKey("key derivation"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn body_of(len: usize) -> Vec<u8> {
        let mut body = vec![0u8; len];
        body[16..20].copy_from_slice(&4096u32.to_be_bytes());
        if len > 20 {
            body[20] = 65;
        }
        body
    }

    #[test]
    fn parse_refuses_each_broken_header() {
        assert_eq!(parse(&[0u8; 10]), Err(WebPushError::Truncated(10)));
        assert_eq!(parse(&vec![0u8; 5000]), Err(WebPushError::TooLarge { len: 5000 }));
        let mut b = body_of(200);
        b[16..20].copy_from_slice(&17u32.to_be_bytes());
        assert_eq!(parse(&b), Err(WebPushError::BadRecordSize(17)));
        let mut b = body_of(200);
        b[20] = 33;
        assert_eq!(parse(&b), Err(WebPushError::BadKeyId(33)));
        assert_eq!(parse(&body_of(HEADER_LEN + 10)), Err(WebPushError::Truncated(HEADER_LEN + 10)));
        let mut b = body_of(HEADER_LEN + 100);
        b[16..20].copy_from_slice(&50u32.to_be_bytes());
        assert_eq!(parse(&b), Err(WebPushError::MultipleRecords));
        assert!(parse(&body_of(HEADER_LEN + 17)).is_ok());
    }

    #[test]
    fn seal_refuses_what_would_not_fit_a_push() {
        let rng = SystemRandom::new();
        let key = [4u8; 65];
        let err = seal(&vec![b'x'; MAX_PLAINTEXT_LEN + 1], &key, &[0; 16], 0, &rng).unwrap_err();
        assert_eq!(err, WebPushError::PlaintextTooLarge { len: MAX_PLAINTEXT_LEN + 1 });
        // Not a point on the curve.
        assert!(matches!(seal(b"hi", &key, &[0; 16], 0, &rng), Err(WebPushError::BadKey(_))));
    }

    #[test]
    fn padding_hides_the_length_and_is_removed() {
        let secret = [7u8; 32];
        let (sender, recipient, auth, salt) = ([4u8; 65], [4u8; 65], [1u8; 16], [9u8; 16]);
        let short = seal_with(b"hi", &secret, &sender, &recipient, &auth, &salt, 64).unwrap();
        let long = seal_with(&[b'y'; 60], &secret, &sender, &recipient, &auth, &salt, 64).unwrap();
        assert_eq!(short.len(), long.len());
        let env = parse(&short).unwrap();
        assert_eq!(open(&env, &secret, &recipient, &auth).unwrap(), b"hi");
        // The wrong secret, or one flipped bit, and the AEAD refuses it.
        assert_eq!(open(&env, &[8u8; 32], &recipient, &auth), Err(WebPushError::Undecryptable));
        let mut flipped = short.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&parse(&flipped).unwrap(), &secret, &recipient, &auth), Err(WebPushError::Undecryptable));
    }

    #[test]
    fn a_record_without_the_last_delimiter_is_refused() {
        // Sealed by hand with delimiter 1 ("more records follow"), which a one-record
        // push must never carry.
        let (secret, key, auth, salt) = ([7u8; 32], [4u8; 65], [1u8; 16], [9u8; 16]);
        let keys = ContentKeys::derive(&secret, &auth, &key, &key, &salt).unwrap();
        let mut record = b"hi\x01".to_vec();
        keys.key.seal_in_place_append_tag(keys.nonce(), Aad::empty(), &mut record).unwrap();
        let env = Envelope { salt, record_size: 4096, sender_public: &key, record: &record };
        assert_eq!(open(&env, &secret, &key, &auth), Err(WebPushError::BadPadding));
    }
}
