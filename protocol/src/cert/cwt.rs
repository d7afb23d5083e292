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
    /// Issued at, UTC seconds (a fractional NumericDate rounded down).
    pub iat: Option<i64>,
    /// Expires at, UTC seconds (a fractional NumericDate rounded down).
    pub exp: Option<i64>,
    /// Not before, UTC seconds (a fractional NumericDate rounded down).
    pub nbf: Option<i64>,
    /// The same three instants to the millisecond. A NumericDate may be a float
    /// (RFC 8392 §2), and at the edge of validity its fraction decides: a
    /// certificate with `exp` 1638875450.007 is still valid at …:50.005.
    pub iat_ms: Option<i64>,
    pub exp_ms: Option<i64>,
    pub nbf_ms: Option<i64>,
    /// Every claim as JSON, keyed by its label in decimal (`"1"`, `"-260"`) or its
    /// text label.
    pub all: Map<String, Json>,
}

/// A NumericDate in UTC milliseconds: integer seconds, or (RFC 8392 allows it) a
/// float, kept to the millisecond.
fn numeric_date_ms(value: &Value, name: &str) -> Result<i64, CertError> {
    match value {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok().map(|secs| secs.saturating_mul(1000)),
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => Some((f * 1000.0).round() as i64),
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
        let mut claims =
            Self { iss: None, iat: None, exp: None, nbf: None, iat_ms: None, exp_ms: None, nbf_ms: None, all: Map::new() };
        for (key, value) in entries {
            if let Value::Integer(label) = key {
                match i128::from(*label) {
                    l if l == i128::from(labels::ISS) => match value {
                        Value::Text(t) => claims.iss = Some(t.clone()),
                        _ => return Err(CertError::Claims("iss is not text".into())),
                    },
                    l if l == i128::from(labels::EXP) => claims.exp_ms = Some(numeric_date_ms(value, "exp")?),
                    l if l == i128::from(labels::NBF) => claims.nbf_ms = Some(numeric_date_ms(value, "nbf")?),
                    l if l == i128::from(labels::IAT) => claims.iat_ms = Some(numeric_date_ms(value, "iat")?),
                    _ => {}
                }
            }
        }
        let secs = |ms: Option<i64>| ms.map(|ms| ms.div_euclid(1000));
        (claims.iat, claims.exp, claims.nbf) = (secs(claims.iat_ms), secs(claims.exp_ms), secs(claims.nbf_ms));
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
        for start_ms in [self.iat_ms, self.nbf_ms].into_iter().flatten() {
            if now_ms < start_ms {
                return Err(CertError::NotYetValid { iat: start_ms.div_euclid(1000), now });
            }
        }
        if let Some(exp_ms) = self.exp_ms
            && now_ms > exp_ms
        {
            return Err(CertError::Expired { exp: exp_ms.div_euclid(1000), now });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Value) -> Claims {
        let payload = Value::Map(vec![(Value::Integer(labels::IAT.into()), Value::Float(1_621_595_450.116)), (Value::Integer(labels::EXP.into()), exp)]);
        Claims::from_cbor(&cbor::serialize(&payload)).unwrap()
    }

    #[test]
    fn a_fractional_numeric_date_keeps_its_milliseconds() {
        let c = claims(Value::Float(1_638_875_450.007));
        assert_eq!((c.iat, c.exp), (Some(1_621_595_450), Some(1_638_875_450)));
        assert_eq!((c.iat_ms, c.exp_ms), (Some(1_621_595_450_116), Some(1_638_875_450_007)));
        assert!(c.check_validity(1_638_875_450_007).is_ok(), "valid up to the fraction");
        assert!(matches!(c.check_validity(1_638_875_450_008), Err(CertError::Expired { exp: 1_638_875_450, .. })));
        assert!(matches!(c.check_validity(1_621_595_450_115), Err(CertError::NotYetValid { .. })));
        let whole = claims(Value::Integer(1_638_875_450.into()));
        assert!(whole.check_validity(1_638_875_450_000).is_ok() && whole.check_validity(1_638_875_450_001).is_err());
        assert!(Claims::from_cbor(&cbor::serialize(&Value::Map(vec![(Value::Integer(labels::EXP.into()), Value::Float(f64::NAN))]))).is_err());
    }
}
