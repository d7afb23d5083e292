//! CWT claims (RFC 8392) of a certificate. The registered time and issuer claims
//! are typed; every claim, registered or not, is also kept as JSON under its label,
//! so HCERT's `-260` and the city's own claims need no type here.

use ciborium::value::Value;
use serde_json::{Map, Value as Json};

use super::{CertError, cbor};

/// Claim labels: RFC 8392 §3.1.1, and HCERT's health-certificate claim.
pub mod labels {
    pub const ISS: i64 = 1;
    pub const EXP: i64 = 4;
    pub const NBF: i64 = 5;
    pub const IAT: i64 = 6;
    pub const HCERT: i64 = -260;
    /// Key of the EU DCC inside the `hcert` claim map.
    pub const HCERT_EU_DCC: i64 = 1;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    /// Issued at, UTC seconds.
    pub iat: Option<i64>,
    /// Expires at, UTC seconds.
    pub exp: Option<i64>,
    /// Not before, UTC seconds.
    pub nbf: Option<i64>,
    /// Every claim as JSON, keyed by its label in decimal (`"1"`, `"-260"`) or its
    /// text label.
    pub all: Map<String, Json>,
}

/// A NumericDate: integer seconds, or (RFC 8392 allows it) a float, truncated.
fn numeric_date(value: &Value, name: &str) -> Result<i64, CertError> {
    match value {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => Some(f.trunc() as i64),
        _ => None,
    }
    .ok_or_else(|| CertError::Claims(format!("{name} is not a NumericDate")))
}

impl Claims {
    /// Parses the payload of a certificate's COSE message.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, CertError> {
        let value = cbor::parse(bytes)?;
        let Value::Map(entries) = &value else {
            return Err(CertError::Claims("the payload is not a CBOR map".into()));
        };
        let mut claims = Self { iss: None, iat: None, exp: None, nbf: None, all: Map::new() };
        for (key, value) in entries {
            if let Value::Integer(label) = key {
                match i128::from(*label) {
                    l if l == i128::from(labels::ISS) => match value {
                        Value::Text(t) => claims.iss = Some(t.clone()),
                        _ => return Err(CertError::Claims("iss is not text".into())),
                    },
                    l if l == i128::from(labels::EXP) => claims.exp = Some(numeric_date(value, "exp")?),
                    l if l == i128::from(labels::NBF) => claims.nbf = Some(numeric_date(value, "nbf")?),
                    l if l == i128::from(labels::IAT) => claims.iat = Some(numeric_date(value, "iat")?),
                    _ => {}
                }
            }
        }
        match cbor::to_json(&value)? {
            Json::Object(all) => claims.all = all,
            _ => return Err(CertError::Claims("the payload is not a map".into())),
        }
        Ok(claims)
    }

    /// The claim under an integer label.
    pub fn get(&self, label: i64) -> Option<&Json> {
        self.all.get(&label.to_string())
    }

    /// The EU DCC payload (`hcert` → `1`), if this certificate carries one.
    pub fn eu_dcc(&self) -> Option<&Json> {
        self.get(labels::HCERT)?.get(labels::HCERT_EU_DCC.to_string())
    }

    /// Whether the certificate is valid at `now_ms` (UTC milliseconds): not before its
    /// issue time or `nbf`, not after its expiry. A certificate without `exp` does not
    /// expire (a diploma); one without `iat` has no start.
    pub fn check_validity(&self, now_ms: i64) -> Result<(), CertError> {
        let now = now_ms.div_euclid(1000);
        for start in [self.iat, self.nbf].into_iter().flatten() {
            if now_ms < start.saturating_mul(1000) {
                return Err(CertError::NotYetValid { iat: start, now });
            }
        }
        if let Some(exp) = self.exp
            && now_ms > exp.saturating_mul(1000)
        {
            return Err(CertError::Expired { exp, now });
        }
        Ok(())
    }
}
