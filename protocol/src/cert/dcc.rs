//! What is specific to the EU Digital COVID Certificate: its three kinds, the rules
//! of its JSON schema (DCC schema 1.0–1.3, value sets included), and the extended
//! key usages that limit which kinds a signer certificate may sign.

use serde_json::Value as Json;

use super::CertError;
use super::dsc::SignerCertificate;

/// The three kinds of DCC; each holds exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DccKind {
    Test,
    Vaccination,
    Recovery,
}

impl DccKind {
    pub fn key(self) -> &'static str {
        match self {
            Self::Test => "t",
            Self::Vaccination => "v",
            Self::Recovery => "r",
        }
    }

    /// The extended key usage OID allowing a signer to sign this kind (DCC technical
    /// specification, Volume 1, §5.1.1). Early member-state signer certificates carry
    /// the same OIDs with a stray `.0` arc (`1.3.6.1.4.1.0.1847…`); the EU reference
    /// verifiers honour both, and so does this one.
    pub(crate) fn key_usage_oids(self) -> [&'static str; 2] {
        match self {
            Self::Test => ["1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"],
            Self::Vaccination => ["1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"],
            Self::Recovery => ["1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"],
        }
    }

    const ALL: [Self; 3] = [Self::Test, Self::Vaccination, Self::Recovery];
}

impl std::fmt::Display for DccKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Test => "test",
            Self::Vaccination => "vaccination",
            Self::Recovery => "recovery",
        })
    }
}

/// The kind of a DCC payload: exactly one of `v`, `t`, `r` must be present.
pub fn kind_of(dcc: &Json) -> Result<DccKind, CertError> {
    let present: Vec<DccKind> = DccKind::ALL.into_iter().filter(|k| dcc.get(k.key()).is_some()).collect();
    match present.as_slice() {
        [kind] => Ok(*kind),
        [] => Err(CertError::Schema("none of v, t, r is present".into())),
        _ => Err(CertError::Schema("more than one of v, t, r is present".into())),
    }
}

/// Whether `signer` may sign a certificate of `kind`. A signer certificate with none
/// of the DCC key usages may sign every kind; one with some may sign only those.
pub fn check_key_usage(signer: &SignerCertificate, kind: DccKind) -> Result<(), CertError> {
    let has = |oid: &str| signer.extended_key_usage.iter().any(|u| u == oid);
    let restricted = DccKind::ALL.iter().flat_map(|k| k.key_usage_oids()).any(has);
    if !restricted || kind.key_usage_oids().into_iter().any(has) {
        Ok(())
    } else {
        Err(CertError::KeyUsage(kind.to_string()))
    }
}

fn schema(msg: impl Into<String>) -> CertError {
    CertError::Schema(msg.into())
}

fn text<'a>(obj: &'a Json, field: &str, at: &str, max_len: Option<usize>) -> Result<&'a str, CertError> {
    let value = obj.get(field).ok_or_else(|| schema(format!("{at}.{field} is missing")))?;
    let text = value.as_str().ok_or_else(|| schema(format!("{at}.{field} is not a string")))?;
    if max_len.is_some_and(|max| text.chars().count() > max) {
        return Err(schema(format!("{at}.{field} is too long")));
    }
    Ok(text)
}

fn optional_text(obj: &Json, field: &str, at: &str, max_len: usize) -> Result<(), CertError> {
    if obj.get(field).is_some() {
        text(obj, field, at, Some(max_len))?;
    }
    Ok(())
}

/// Whether a text is a standardised (ICAO 9303 machine-readable) name: capitals and
/// `<` only, the DCC schema's `^[A-Z<]*$`.
pub fn is_icao_name(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_uppercase() || b == b'<')
}

fn icao_name(obj: &Json, field: &str, required: bool) -> Result<(), CertError> {
    if obj.get(field).is_none() && !required {
        return Ok(());
    }
    let name = text(obj, field, "nam", Some(80))?;
    if is_icao_name(name) {
        Ok(())
    } else {
        Err(schema(format!("nam.{field} is not an ICAO 9303 name: {name:?}")))
    }
}

/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (DCC 1.3 `dob`), or empty (unknown), or a full
/// date-time (older issuers).
fn is_dob(text: &str) -> bool {
    let date = text.get(..10).filter(|_| text.len() > 10 && text.as_bytes()[10] == b'T').unwrap_or(text);
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        0 => true,
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
}

/// A dose number or series length: the schema's `dose_posint`, an integer 1–9.
fn dose_number(obj: &Json, field: &str, at: &str) -> Result<(), CertError> {
    match obj.get(field).and_then(Json::as_u64) {
        Some(1..=9) => Ok(()),
        Some(n) => Err(schema(format!("{at}.{field} is {n}, outside 1–9"))),
        None => Err(schema(format!("{at}.{field} is missing or not a positive integer"))),
    }
}

/// Fields every entry of a kind must carry (DCC schema: the `required` lists of
/// vaccination_entry, test_entry, recovery_entry).
pub fn required_fields(kind: DccKind) -> &'static [&'static str] {
    match kind {
        DccKind::Vaccination => &["tg", "vp", "mp", "ma", "dt", "co", "is", "ci"],
        DccKind::Test => &["tg", "tt", "sc", "tr", "co", "is", "ci"],
        DccKind::Recovery => &["tg", "fr", "co", "is", "df", "du", "ci"],
    }
}

/// The schema versions this validator knows: 1.0.0 to 1.3.x. Another major version
/// is a different schema, refused rather than guessed at.
fn check_version(ver: &str) -> Result<(), CertError> {
    let parts: Vec<&str> = ver.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(schema(format!("ver is not a semantic version: {ver:?}")));
    }
    if parts[0] != "1" {
        return Err(schema(format!("schema version {ver} is not a DCC 1.x schema")));
    }
    Ok(())
}

/// Whether a document is a DCC object at all — what upstream's `EXPECTEDVALIDOBJECT`
/// asks: an object with a version, a name object, a date of birth and exactly one
/// non-empty list of entries of one kind, each an object. Bounds, formats and value
/// sets are the schema's concern ([`validate_schema`]), so a dose number of 0 is a
/// valid object that fails the schema.
pub fn validate_object(dcc: &Json) -> Result<(DccKind, &[Json]), CertError> {
    if !dcc.is_object() {
        return Err(schema("the payload is not an object"));
    }
    text(dcc, "ver", "dcc", None)?;
    dcc.get("nam").filter(|n| n.is_object()).ok_or_else(|| schema("nam is missing or not an object"))?;
    text(dcc, "dob", "dcc", None)?;
    let kind = kind_of(dcc)?;
    let entries = dcc
        .get(kind.key())
        .and_then(Json::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| schema(format!("{} is not a non-empty list", kind.key())))?;
    if let Some(i) = entries.iter().position(|e| !e.is_object()) {
        return Err(schema(format!("{}[{i}] is not an object", kind.key())));
    }
    Ok((kind, entries))
}

/// Checks a DCC payload against the DCC JSON schema of the version it declares
/// (1.x): a valid object ([`validate_object`]), the name rules, the date of birth,
/// each entry's required fields and bounds (dose numbers 1–9), and every coded field
/// against the EU value sets (`valuesets`).
pub fn validate_schema(dcc: &Json) -> Result<DccKind, CertError> {
    let (kind, entries) = validate_object(dcc)?;
    check_version(text(dcc, "ver", "dcc", None)?)?;
    let nam = &dcc["nam"];
    icao_name(nam, "fnt", true)?;
    icao_name(nam, "gnt", false)?;
    optional_text(nam, "fn", "nam", 80)?;
    optional_text(nam, "gn", "nam", 80)?;
    let dob = text(dcc, "dob", "dcc", None)?;
    if !is_dob(dob) {
        return Err(schema(format!("dob is not a date: {dob:?}")));
    }
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{}[{i}]", kind.key());
        for field in required_fields(kind) {
            text(entry, field, &at, None)?;
        }
        text(entry, "ci", &at, Some(80))?;
        text(entry, "is", &at, Some(80))?;
        if kind == DccKind::Vaccination {
            dose_number(entry, "dn", &at)?;
            dose_number(entry, "sd", &at)?;
        }
        super::valuesets::check_entry(kind, entry, &at)?;
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vaccination() -> Json {
        json!({"ver": "1.3.0", "nam": {"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gnt": "GABRIELE"},
            "dob": "1998-02-26",
            "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
                "dn": 1, "sd": 2, "dt": "2021-02-18", "co": "AT", "is": "BMSGPK Austria",
                "ci": "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B"}]})
    }

    #[test]
    fn accepts_a_correct_payload_and_names_its_kind() {
        assert_eq!(validate_schema(&vaccination()).unwrap(), DccKind::Vaccination);
    }

    #[test]
    fn refuses_each_structural_fault() {
        let mut two_kinds = vaccination();
        two_kinds["t"] = two_kinds["v"].clone();
        let mut no_fnt = vaccination();
        no_fnt["nam"] = json!({"fn": "X"});
        let mut lower = vaccination();
        lower["nam"]["fnt"] = json!("Musterfrau");
        let mut empty = vaccination();
        empty["v"] = json!([]);
        let mut no_ci = vaccination();
        no_ci["v"][0].as_object_mut().unwrap().remove("ci");
        let mut dose_zero = vaccination();
        dose_zero["v"][0]["dn"] = json!(0);
        let mut bad_dob = vaccination();
        bad_dob["dob"] = json!("26.02.1998");
        let mut bad_ver = vaccination();
        bad_ver["ver"] = json!("1.3");
        let mut ver_two = vaccination();
        ver_two["ver"] = json!("2.0.0");
        let mut dose_ten = vaccination();
        dose_ten["v"][0]["sd"] = json!(10);
        let mut unknown_vaccine = vaccination();
        unknown_vaccine["v"][0]["mp"] = json!("EU/1/99/9999");
        let mut unknown_country = vaccination();
        unknown_country["v"][0]["co"] = json!("XY");
        for (name, dcc) in [("two kinds", two_kinds), ("no fnt", no_fnt), ("lowercase fnt", lower),
            ("empty v", empty), ("no ci", no_ci), ("dose 0", dose_zero), ("dob", bad_dob), ("ver", bad_ver),
            ("ver 2", ver_two), ("dose 10", dose_ten), ("vaccine", unknown_vaccine), ("country", unknown_country)]
        {
            assert!(matches!(validate_schema(&dcc), Err(CertError::Schema(_))), "{name}");
        }
    }

    #[test]
    fn a_valid_object_may_still_break_the_schema() {
        let mut dose_zero = vaccination();
        dose_zero["v"][0]["dn"] = json!(0);
        assert_eq!(validate_object(&dose_zero).unwrap().0, DccKind::Vaccination);
        assert!(validate_schema(&dose_zero).unwrap_err().to_string().contains("v[0].dn is 0"));
        for not_object in [json!([1]), json!({"ver": "1.3.0", "nam": {}, "dob": ""}), json!({"ver": "1.3.0", "nam": "X",
            "dob": "", "v": [{}]}), json!({"ver": "1.3.0", "nam": {}, "dob": "", "v": ["x"]})]
        {
            assert!(validate_object(&not_object).is_err(), "{not_object}");
        }
    }
}
