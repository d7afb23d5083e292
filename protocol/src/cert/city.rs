//! The city's own certificate claims (prefix `TPC1:`): diplomas, low-income household
//! proofs, event visit proofs, awards.
//!
//! Registered CWT claims carry what they can (`iss` the issuing agency, `iat`, `exp`:
//! none for a diploma, which does not expire); everything else sits in one map under
//! a private-use claim label, with one-byte integer keys. Compactness is the point: a
//! diploma's QR must be read from paper at arm's length, and every byte grows the code
//! (a typical diploma is about 580 characters, QR version 15 at level M).

use ciborium::value::Value;
use serde::{Deserialize, Serialize};

use super::{CertError, CertificateBuilder, Claims, Prefix};

/// Private-use CWT claim label (below -65536, RFC 8392 §9.1) of the city's claims map.
pub const CITY_CLAIM: i64 = -65537;

/// Keys inside the city's claims map. Never renumber: printed certificates carry them.
mod keys {
    pub const TYPE: i64 = 1;
    pub const HOLDER: i64 = 2;
    pub const TITLE: i64 = 3;
    pub const FIELDS: i64 = 4;
    pub const STATUS: i64 = 5;
    pub const DOCUMENT: i64 = 6;
}

/// Longest text accepted in any one claim; keeps a hostile certificate from carrying
/// a novel into the wallet's list view.
const MAX_TEXT: usize = 500;
const MAX_FIELDS: usize = 32;

/// A text in both languages the city publishes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WalletText))]
pub struct Text {
    pub zh: String,
    pub en: String,
}

impl Text {
    pub fn new(zh: &str, en: &str) -> Self {
        Self { zh: zh.to_owned(), en: en.to_owned() }
    }
}

/// One labelled line of a certificate ("畢業學校 School: 臺北市立建國高級中學").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WalletField))]
pub struct Field {
    pub label: Text,
    pub value: String,
}

/// The decoded claims of a city certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CityCertificate {
    /// The issuing agency's id in the trust list (`TPE-EDU`).
    pub issuer: String,
    /// The holder's display name as the city masks it (`陳○明`).
    pub holder: String,
    /// `diploma`, `low_income`, `event_visit`, `award`, …: what the trust list allows
    /// an issuer to sign.
    pub cert_type: String,
    pub title: Text,
    pub fields: Vec<Field>,
    /// UTC seconds.
    pub issued_at: i64,
    /// UTC seconds; `None`: does not expire.
    pub expires_at: Option<i64>,
    /// This certificate's bit in the issuer's status list.
    pub status_index: u64,
    /// Lowercase hex SHA-256 of the document the certificate vouches for, if any.
    pub document_sha256: Option<String>,
}

/// The display name as the city shows it: first and last character kept, the ones
/// between masked (`陳小明` → `陳○明`, `王明` → `王○`, `歐陽小明` → `歐○○明`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => chars[0].to_string(),
        2 => format!("{}○", chars[0]),
        n => {
            let mut out = String::new();
            out.push(chars[0]);
            out.extend(std::iter::repeat_n('○', n - 2));
            out.push(chars[n - 1]);
            out
        }
    }
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn text_pair(t: &Text) -> Value {
    Value::Array(vec![Value::Text(t.zh.clone()), Value::Text(t.en.clone())])
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl CityCertificate {
    /// Refuses what the issuer must never sign: overlong texts, a bad hash.
    pub fn check(&self) -> Result<(), CertError> {
        let bad = |what: &str| Err(CertError::Claims(what.to_owned()));
        let texts = [&self.issuer, &self.holder, &self.cert_type, &self.title.zh, &self.title.en];
        if texts.iter().any(|t| t.is_empty() || t.len() > MAX_TEXT) {
            return bad("issuer, holder, type and title must be 1-500 bytes");
        }
        if self.fields.len() > MAX_FIELDS {
            return bad("at most 32 fields");
        }
        if self.fields.iter().any(|f| [&f.label.zh, &f.label.en, &f.value].iter().any(|t| t.len() > MAX_TEXT)) {
            return bad("a field is longer than 500 bytes");
        }
        if let Some(h) = &self.document_sha256
            && (h.len() != 64 || h.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return bad("document_sha256 must be 64 lowercase hex digits");
        }
        Ok(())
    }

    /// The unsigned certificate: registered claims plus the city map.
    pub fn builder(&self) -> Result<CertificateBuilder, CertError> {
        self.check()?;
        let mut map = vec![
            (int(keys::TYPE), Value::Text(self.cert_type.clone())),
            (int(keys::HOLDER), Value::Text(self.holder.clone())),
            (int(keys::TITLE), text_pair(&self.title)),
            (int(keys::STATUS), Value::Integer(self.status_index.into())),
        ];
        if !self.fields.is_empty() {
            let fields = self
                .fields
                .iter()
                .map(|f| Value::Array(vec![Value::Text(f.label.zh.clone()), Value::Text(f.label.en.clone()), Value::Text(f.value.clone())]))
                .collect();
            map.push((int(keys::FIELDS), Value::Array(fields)));
        }
        if let Some(hash) = self.document_sha256.as_deref().and_then(from_hex) {
            map.push((int(keys::DOCUMENT), Value::Bytes(hash)));
        }
        let mut builder = CertificateBuilder::new(Prefix::Taipei).issuer(&self.issuer).issued_at(self.issued_at);
        if let Some(exp) = self.expires_at {
            builder = builder.expires_at(exp);
        }
        Ok(builder.cbor_claim(CITY_CLAIM, Value::Map(map)))
    }

    /// Signs with ES256 under `kid`: the `TPC1:` text a QR code holds.
    pub fn sign(&self, key_pair: &ring::signature::EcdsaKeyPair, kid: &[u8]) -> Result<String, CertError> {
        self.builder()?.sign(key_pair, kid)
    }

    /// Reads the city claims out of a decoded certificate. Anything missing or of the
    /// wrong shape is a `Claims` error: a trusted signer never writes that.
    pub fn from_claims(claims: &Claims) -> Result<Self, CertError> {
        let bad = |what: &str| CertError::Claims(format!("city claims: {what}"));
        let map = claims.get(CITY_CLAIM).and_then(|v| v.as_object()).ok_or_else(|| bad("missing"))?;
        let text = |key: i64| -> Result<String, CertError> {
            map.get(&key.to_string()).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| bad(&format!("key {key} is not text")))
        };
        let strings = |v: &serde_json::Value, n: usize| -> Option<Vec<String>> {
            let items = v.as_array().filter(|a| a.len() == n)?;
            items.iter().map(|i| i.as_str().map(str::to_owned)).collect()
        };
        let title = map.get(&keys::TITLE.to_string()).and_then(|v| strings(v, 2)).ok_or_else(|| bad("title"))?;
        let fields = match map.get(&keys::FIELDS.to_string()) {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| bad("fields"))?
                .iter()
                .map(|f| {
                    let [zh, en, value]: [String; 3] = strings(f, 3).and_then(|s| s.try_into().ok()).ok_or_else(|| bad("field"))?;
                    Ok(Field { label: Text { zh, en }, value })
                })
                .collect::<Result<_, CertError>>()?,
        };
        let document_sha256 = match map.get(&keys::DOCUMENT.to_string()) {
            None => None,
            Some(v) => {
                // Byte strings reach JSON as base64url (cbor::to_json).
                let bytes = v.as_str().and_then(|s| crate::b64::decode(s).ok()).filter(|b| b.len() == 32).ok_or_else(|| bad("document hash"))?;
                Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
            }
        };
        let [zh, en]: [String; 2] = title.try_into().map_err(|_| bad("title"))?;
        let cert = Self {
            issuer: claims.iss.clone().ok_or_else(|| bad("no issuer (iss)"))?,
            holder: text(keys::HOLDER)?,
            cert_type: text(keys::TYPE)?,
            title: Text { zh, en },
            fields,
            issued_at: claims.iat.ok_or_else(|| bad("no issue time (iat)"))?,
            expires_at: claims.exp,
            status_index: map.get(&keys::STATUS.to_string()).and_then(|v| v.as_u64()).ok_or_else(|| bad("status index"))?,
            document_sha256,
        };
        cert.check()?;
        Ok(cert)
    }
}

/// The fields of a real-looking diploma, for tests, the demo and the size bench.
pub fn sample_diploma(holder_full_name: &str, status_index: u64, issued_at: i64) -> CityCertificate {
    CityCertificate {
        issuer: "TPE-EDU".into(),
        holder: mask_name(holder_full_name),
        cert_type: "diploma".into(),
        title: Text::new("高級中等學校畢業證書", "Senior High School Diploma"),
        fields: vec![
            Field { label: Text::new("學校", "School"), value: "臺北市立建國高級中學 Taipei Municipal Jianguo High School".into() },
            Field { label: Text::new("學程", "Program"), value: "普通科 General".into() },
            Field { label: Text::new("畢業日期", "Graduated"), value: "2024-06-15".into() },
            Field { label: Text::new("證書字號", "No."), value: "北市建中字第1130001234號".into() },
        ],
        issued_at,
        expires_at: None,
        status_index,
        document_sha256: None,
    }
}

