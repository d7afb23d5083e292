//! CBOR in, JSON out (and back for the issuer). The claim maps of certificates are
//! kept generic as `serde_json::Value`, so the wallet shows and compares them without
//! a Rust type per certificate kind.

use ciborium::value::{Integer, Value};
use serde_json::{Map, Number, Value as Json};

use super::CertError;
use super::time::format_rfc3339;

/// Deepest nesting accepted in a certificate's CBOR. Real payloads nest four or five
/// levels (claims → hcert → dcc → v → entry); the bound keeps hostile input from
/// exhausting the stack.
pub const MAX_DEPTH: usize = 16;

/// CBOR tags that carry a date-time (RFC 8949 §3.4.1, §3.4.2) or a date (RFC 8943).
const TAG_DATETIME_TEXT: u64 = 0;
const TAG_DATETIME_EPOCH: u64 = 1;

/// Decodes exactly one CBOR item spanning all of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Value, CertError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| CertError::Cbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Cbor(format!("{} bytes after the item", rest.len())));
    }
    Ok(value)
}

pub fn serialize(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every Value is serialisable.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

pub fn integer_to_json(i: Integer) -> Json {
    let wide = i128::from(i);
    if let Ok(u) = u64::try_from(wide) {
        Json::Number(u.into())
    } else if let Ok(s) = i64::try_from(wide) {
        Json::Number(s.into())
    } else {
        // Below i64::MIN: JSON numbers cannot carry it exactly, so keep the digits.
        Json::String(wide.to_string())
    }
}

/// A map key as JSON text: text keys stay, integer labels (CWT claims, hcert's `1`)
/// become their decimal form.
fn key_to_string(key: &Value) -> Result<String, CertError> {
    match key {
        Value::Text(t) => Ok(t.clone()),
        Value::Integer(i) => Ok(i128::from(*i).to_string()),
        other => Err(CertError::Cbor(format!("unsupported map key {other:?}"))),
    }
}

/// Converts CBOR to JSON the way the DCC test data writes it: text and integer keys
/// become object keys, byte strings base64url, date-time tags their RFC 3339 text.
/// Duplicate keys are refused: two values under one claim label could make a
/// verifier and a display disagree.
pub fn to_json(value: &Value) -> Result<Json, CertError> {
    Ok(match value {
        Value::Integer(i) => integer_to_json(*i),
        Value::Bytes(b) => Json::String(crate::b64::encode(b)),
        Value::Float(f) => Json::Number(
            Number::from_f64(*f).ok_or_else(|| CertError::Cbor("non-finite float".into()))?,
        ),
        Value::Text(t) => Json::String(t.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Tag(TAG_DATETIME_EPOCH, inner) => match inner.as_ref() {
            Value::Integer(i) => {
                let secs = i64::try_from(i128::from(*i))
                    .map_err(|_| CertError::Cbor("epoch date-time out of range".into()))?;
                Json::String(format_rfc3339(secs))
            }
            Value::Float(f) if f.is_finite() && f.abs() < 1e15 => {
                Json::String(format_rfc3339(f.floor() as i64))
            }
            _ => return Err(CertError::Cbor("tag 1 must hold a number".into())),
        },
        Value::Tag(TAG_DATETIME_TEXT, inner) if !matches!(inner.as_ref(), Value::Text(_)) => {
            return Err(CertError::Cbor("tag 0 must hold text".into()));
        }
        // Other tags (date-time text, RFC 8943 dates, …) annotate their content; the
        // content is what the JSON form holds.
        Value::Tag(_, inner) => to_json(inner)?,
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = key_to_string(k)?;
                if map.insert(key.clone(), to_json(v)?).is_some() {
                    return Err(CertError::Cbor(format!("duplicate map key {key}")));
                }
            }
            Json::Object(map)
        }
        other => return Err(CertError::Cbor(format!("unsupported CBOR item {other:?}"))),
    })
}

/// Converts JSON to CBOR for the issuer: integers stay integers (so a DCC's `dn: 1`
/// encodes as the unsigned integer the specification shows), other numbers floats.
pub fn from_json(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::Integer(u.into()),
            (None, Some(i)) => Value::Integer(i.into()),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => Value::Map(
            map.iter().map(|(k, v)| (Value::Text(k.clone()), from_json(v))).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_the_test_data() {
        // {1: {"dn": 1, "sc": 0("2021-02-20T12:34:56Z")}, -260: h'0102', "t": 1(1620064800)}
        let value = Value::Map(vec![
            (
                Value::Integer(1.into()),
                Value::Map(vec![
                    (Value::Text("dn".into()), Value::Integer(1.into())),
                    (Value::Text("sc".into()), Value::Tag(0, Box::new(Value::Text("2021-02-20T12:34:56Z".into())))),
                ]),
            ),
            (Value::Integer((-260).into()), Value::Bytes(vec![1, 2])),
            (Value::Text("t".into()), Value::Tag(1, Box::new(Value::Integer(1_620_064_800.into())))),
        ]);
        let json = to_json(&parse(&serialize(&value)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"1": {"dn": 1, "sc": "2021-02-20T12:34:56Z"}, "-260": "AQI", "t": "2021-05-03T18:00:00Z"})
        );
    }

    #[test]
    fn refuses_hostile_cbor() {
        // 100 nested arrays: over the depth bound, refused without exhausting the stack.
        let mut deep = vec![0x81u8; 100];
        deep.push(0x00);
        assert!(matches!(parse(&deep), Err(CertError::Cbor(_))));
        // A byte string claiming 4 GiB with nothing behind it.
        assert!(parse(&[0x5a, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Trailing bytes after a complete item.
        assert!(parse(&[0x01, 0x02]).is_err());
        // Duplicate keys.
        let dup = serialize(&Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(1.into())),
            (Value::Integer(1.into()), Value::Integer(2.into())),
        ]));
        assert!(to_json(&parse(&dup).unwrap()).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn json_round_trips_through_cbor() {
        let json = serde_json::json!({"ver": "1.3.0", "v": [{"dn": 2, "sd": 2, "x": -3, "f": 1.5}], "ok": true, "n": null});
        assert_eq!(to_json(&from_json(&json)).unwrap(), json);
    }
}
