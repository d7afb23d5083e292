//! The EU DCC conformance check: runs one test case of the EU's public test data
//! (dgc-testdata's `2DCode/raw/*.json` layout) through this module's pipeline and
//! compares each `EXPECTED*` flag with what the pipeline found.
//!
//! A flag set to `true` passes when its step succeeds; one set to `false` passes when
//! its step fails. A step whose inputs the case does not carry (e.g. no `2DCODE`
//! picture) cannot be tested and is reported as such, as the upstream harness does;
//! inputs a case leaves out but its `PREFIX` implies are derived through the chain.
//! Reading the picture needs a QR decoder, which the caller provides, so this module
//! stays free of I/O and of the phone's camera code.

use base64::Engine as _;
use serde_json::Value as Json;

use super::cose::{Algorithm, VerifyingKey};
use super::{CertError, Claims, Prefix, SignerCertificate, Sign1, base45_decode, cbor, dcc, inflate, unprefix};

/// Decodes a PNG into the text of the QR code in it.
pub type PictureDecoder<'a> = &'a dyn Fn(&[u8]) -> Result<String, String>;

/// The flags a case can set, in the order of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    PictureDecode,
    Unprefix,
    B45Decode,
    Compression,
    Verify,
    Decode,
    ValidJson,
    SchemaValidation,
    ExpirationCheck,
    KeyUsage,
    ValidObject,
    Encode,
    /// `EXPTECTEDEXPIRED` (sic, as upstream's first README spelt it): the
    /// certificate's `exp` lies before `TESTCTX.VALIDATIONCLOCK`.
    Expired,
    /// `EXPECTEDRESULTS` as a flag inside `EXPECTEDRESULTS`: every other expectation
    /// of the case holds.
    AllResults,
}

impl Flag {
    pub const ALL: [Self; 14] = [
        Self::PictureDecode,
        Self::Unprefix,
        Self::B45Decode,
        Self::Compression,
        Self::Verify,
        Self::Decode,
        Self::ValidJson,
        Self::SchemaValidation,
        Self::ExpirationCheck,
        Self::KeyUsage,
        Self::ValidObject,
        Self::Encode,
        Self::Expired,
        Self::AllResults,
    ];

    /// The flag a key of `EXPECTEDRESULTS` names, spellings found upstream included.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "EXPECTEDEXPIRED" | "EXPTECTEDEXPIRED" => Some(Self::Expired),
            _ => Self::ALL.into_iter().find(|f| f.key() == key),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::PictureDecode => "EXPECTEDPICTUREDECODE",
            Self::Unprefix => "EXPECTEDUNPREFIX",
            Self::B45Decode => "EXPECTEDB45DECODE",
            Self::Compression => "EXPECTEDCOMPRESSION",
            Self::Verify => "EXPECTEDVERIFY",
            Self::Decode => "EXPECTEDDECODE",
            Self::ValidJson => "EXPECTEDVALIDJSON",
            Self::SchemaValidation => "EXPECTEDSCHEMAVALIDATION",
            Self::ExpirationCheck => "EXPECTEDEXPIRATIONCHECK",
            Self::KeyUsage => "EXPECTEDKEYUSAGE",
            Self::ValidObject => "EXPECTEDVALIDOBJECT",
            Self::Encode => "EXPECTEDENCODE",
            Self::Expired => "EXPTECTEDEXPIRED",
            Self::AllResults => "EXPECTEDRESULTS",
        }
    }

    /// The inputs a case must carry for this check (or that the chain derives them from).
    fn inputs(self) -> &'static str {
        match self {
            Self::PictureDecode => "2DCODE",
            Self::Unprefix => "PREFIX",
            Self::B45Decode => "BASE45 or PREFIX",
            Self::Compression => "COMPRESSED, BASE45 or PREFIX",
            Self::Verify | Self::KeyUsage => "COSE (or PREFIX) and TESTCTX.CERTIFICATE",
            Self::Decode => "CBOR or COSE",
            Self::ValidJson => "JSON and PREFIX",
            Self::SchemaValidation => "CBOR or PREFIX",
            Self::ExpirationCheck => "COSE (or PREFIX), TESTCTX.CERTIFICATE and TESTCTX.VALIDATIONCLOCK",
            Self::Expired => "COSE (or PREFIX) and TESTCTX.VALIDATIONCLOCK",
            Self::ValidObject => "JSON",
            Self::Encode => "JSON and CBOR",
            Self::AllResults => "other expectations",
        }
    }

    /// The upstream harness's test names for this check, as `known_issues.csv`
    /// names them.
    fn upstream_tests(self) -> &'static [&'static str] {
        match self {
            Self::PictureDecode => &["test_picture_decode"],
            Self::Unprefix => &["test_un_prefix"],
            Self::B45Decode => &["test_b45decode"],
            Self::Compression => &["test_compression"],
            Self::Verify => &["test_verification_check"],
            Self::Decode => &["test_cose_json", "test_cose_cbor"],
            Self::ValidJson => &["test_cbor_json"],
            Self::SchemaValidation => &["test_cose_schema"],
            Self::ExpirationCheck | Self::Expired => &["test_expiration_check"],
            Self::KeyUsage => &["test_expected_key_usage"],
            Self::ValidObject | Self::Encode | Self::AllResults => &[],
        }
    }
}

/// What the pipeline found for a step: `None` when it was not checked (the case
/// lacks its inputs, or the flag is unknown), otherwise success or the reason it
/// failed.
type Found = Option<Result<(), String>>;

/// One `EXPECTED*` flag of a case and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagResult {
    pub flag: String,
    pub expected: bool,
    pub found: Found,
    /// Set when the flag's outcome differs from what the case expects and
    /// `known_issues.csv` lists the case: the reason given there.
    pub known_issue: Option<String>,
    /// Set when the flag's outcome differs from what the case expects because the
    /// case's own data contradicts itself: the evidence. Still a failure, told apart
    /// from a fault of this pipeline.
    pub defect: Option<String>,
    /// How the step was judged, when the case made the usual way impossible (e.g.
    /// the `kid` names a certificate other than the one the case carries).
    pub note: Option<String>,
}

impl FlagResult {
    fn new(flag: &str, expected: bool, found: Found) -> Self {
        Self { flag: flag.to_string(), expected, found, known_issue: None, defect: None, note: None }
    }

    /// Whether this flag lets the case pass. An unchecked flag neither passes nor
    /// fails the case: it is reported as unchecked.
    pub fn ok(&self) -> bool {
        match &self.found {
            None => true,
            Some(found) => found.is_ok() == self.expected || self.known_issue.is_some(),
        }
    }

    pub fn describe(&self) -> String {
        let got = match (&self.found, Flag::from_key(&self.flag)) {
            (None, Some(flag)) => {
                return format!(
                    "{:<26} expected {:<5}  not tested: the case has no {}",
                    self.flag,
                    self.expected,
                    flag.inputs()
                );
            }
            (None, None) => {
                let why = self.note.as_deref().unwrap_or("unknown flag: this runner cannot check it");
                return format!("{:<26} unchecked: {why}", self.flag);
            }
            (Some(Ok(())), _) => "true".to_string(),
            (Some(Err(why)), _) => format!("false ({why})"),
        };
        let verdict = match (&self.known_issue, &self.defect, self.ok()) {
            (Some(reason), _, _) => format!("  KNOWN ISSUE {reason}"),
            (None, Some(evidence), false) => format!("  UPSTREAM DATA DEFECT: {evidence}"),
            (None, _, true) => String::new(),
            (None, None, false) => "  MISMATCH".to_string(),
        };
        let note = self.note.as_deref().map(|n| format!("  [{n}]")).unwrap_or_default();
        format!("{:<26} expected {:<5}  got {got}{verdict}{note}", self.flag, self.expected)
    }
}

/// The outcome of one case file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    pub name: String,
    pub description: String,
    pub flags: Vec<FlagResult>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.flags.iter().all(FlagResult::ok)
    }

    /// Whether the case fails only on flags whose data upstream got wrong (each with
    /// its evidence).
    pub fn failed_on_data_defects(&self) -> bool {
        !self.passed() && self.flags.iter().all(|f| f.ok() || f.defect.is_some())
    }
}

/// The upstream list of cases whose data is known to be defective:
/// `test_name,country,test_set,reason`, an empty field matching anything.
#[derive(Debug, Clone, Default)]
pub struct KnownIssues {
    rows: Vec<[String; 4]>,
}

impl KnownIssues {
    pub fn parse(csv: &str) -> Self {
        let rows = csv
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.trim().splitn(4, ',').map(|c| c.trim().to_string());
                Some([cols.next()?, cols.next()?, cols.next()?, cols.next()?])
            })
            .collect();
        Self { rows }
    }

    fn reason(&self, flag: Flag, country: &str, test_set: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|[test, c, set, _]| {
                (test.is_empty() || flag.upstream_tests().contains(&test.as_str()))
                    && c.eq_ignore_ascii_case(country)
                    && (set.is_empty() || set == test_set)
            })
            .map(|row| row[3].clone())
    }
}

/// Runs one case. `name` is shown in the report; `country` (the folder above
/// `2DCode`) and `test_set` (the file stem) match it against `known`.
pub fn check_case(
    name: &str,
    country: &str,
    test_set: &str,
    case: &Json,
    known: &KnownIssues,
    picture: PictureDecoder<'_>,
) -> CaseReport {
    let description = case["TESTCTX"]["DESCRIPTION"].as_str().unwrap_or_default().to_string();
    let expected = case.get("EXPECTEDRESULTS").and_then(Json::as_object);
    let chain = Chain { case, picture };
    let mut flags: Vec<FlagResult> = expected
        .into_iter()
        .flatten()
        .filter(|(key, _)| Flag::from_key(key) != Some(Flag::AllResults))
        .map(|(key, value)| {
            let Some(expected) = as_flag(value) else {
                let mut unchecked = FlagResult::new(key, false, None);
                unchecked.note = Some(format!("{value} is not a boolean expectation"));
                return unchecked;
            };
            let flag = Flag::from_key(key);
            let (found, note) = match flag {
                Some(f) => chain.check(f),
                None => (None, None),
            };
            let mut result = FlagResult::new(key, expected, found);
            result.note = note;
            if !result.ok() {
                let f = flag.unwrap_or(Flag::AllResults);
                result.known_issue = known.reason(f, country, test_set);
                result.defect = chain.defect(f);
            }
            result
        })
        .collect();
    // The summary flag is judged last, over the others.
    if let Some((key, value)) = expected.into_iter().flatten().find(|(k, _)| Flag::from_key(k) == Some(Flag::AllResults)) {
        let failing: Vec<&str> = flags.iter().filter(|f| !f.ok()).map(|f| f.flag.as_str()).collect();
        let found = if failing.is_empty() { Ok(()) } else { Err(format!("{} do not hold", failing.join(", "))) };
        flags.push(match as_flag(value) {
            Some(expected) => FlagResult::new(key, expected, Some(found)),
            None => FlagResult::new(key, false, None),
        });
    }
    CaseReport { name: name.to_string(), description, flags }
}

/// An expectation's value: a boolean, or the strings `"true"`/`"false"` some cases
/// carry.
fn as_flag(value: &Json) -> Option<bool> {
    match value {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Json::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether a JSON document is a test case at all (other JSON files may sit beside
/// the cases).
pub fn is_case(value: &Json) -> bool {
    value.get("EXPECTEDRESULTS").is_some_and(Json::is_object)
}

/// Evidence that a JSON file is a test case whose expectations sit in the wrong
/// place: it carries `EXPECTED*` flags, but no top-level `EXPECTEDRESULTS` object,
/// where upstream's harness reads every expectation (`config_env['EXPECTEDRESULTS']`
/// fails on such a file). `None` for a case, or for JSON that is no case at all.
pub fn misplaced_expectations(value: &Json) -> Option<String> {
    fn first_flag(value: &Json, at: &str) -> Option<String> {
        match value {
            Json::Object(map) => map.iter().find_map(|(key, inner)| {
                let path = format!("{at}.{key}");
                if key.starts_with("EXPECTED") { Some(path) } else { first_flag(inner, &path) }
            }),
            Json::Array(items) => items.iter().enumerate().find_map(|(i, inner)| first_flag(inner, &format!("{at}[{i}]"))),
            _ => None,
        }
    }
    if is_case(value) {
        return None;
    }
    let at = first_flag(value, "")?;
    Some(format!(
        "the case file holds the expectation {at} but no top-level EXPECTEDRESULTS, where upstream's own harness \
         reads every expectation (config_env['EXPECTEDRESULTS'] fails on this file)"
    ))
}

/// Each stage of the chain, from the case's own field when it has one, else derived
/// from the stage before (ultimately from `PREFIX`). `None`: no input at all.
struct Chain<'a> {
    case: &'a Json,
    picture: PictureDecoder<'a>,
}

type Stage<T> = Option<Result<T, String>>;

fn text(e: CertError) -> String {
    e.to_string()
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return Err("odd-length or non-ASCII hex".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("hex: {e}")))
        .collect()
}

/// Where two documents differ as the test data means equality — objects regardless
/// of key order, date-time strings as the same instant to the second, numbers by
/// value — or `None` when they do not.
fn difference(a: &Json, b: &Json, at: &str) -> Option<String> {
    let same_leaf = match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            if let Some(k) = x.keys().chain(y.keys()).find(|k| x.contains_key(*k) != y.contains_key(*k)) {
                return Some(format!("{at}.{k} is only on one side"));
            }
            return x.iter().find_map(|(k, v)| difference(v, &y[k], &format!("{at}.{k}")));
        }
        (Json::Array(x), Json::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} has {} items, not {}", x.len(), y.len()));
            }
            return x.iter().zip(y).enumerate().find_map(|(i, (v, w))| difference(v, w, &format!("{at}[{i}]")));
        }
        (Json::String(x), Json::String(y)) => {
            x == y
                || matches!(
                    (super::parse_iso8601_millis(x), super::parse_iso8601_millis(y)),
                    (Ok(p), Ok(q)) if p.div_euclid(1000) == q.div_euclid(1000)
                )
        }
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(p), Some(q), _, _) => p == q,
            (_, _, Some(p), Some(q)) => p == q,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    };
    (!same_leaf).then(|| format!("{at}: {} vs {}", short(a), short(b)))
}

/// A value as JSON text, cut to a length a report line can carry.
fn short(value: &Json) -> String {
    const MAX: usize = 80;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
        None => text,
    }
}

fn same(a: &Json, b: &Json) -> bool {
    difference(a, b, "").is_none()
}

/// The DCC inside decoded CBOR: the claims' `hcert` → `1` when the CBOR is a whole
/// CWT payload, else the CBOR itself (cases carry either).
fn dcc_of(cbor_json: Json) -> Json {
    match cbor_json.get("-260").and_then(|h| h.get("1")) {
        Some(dcc) => dcc.clone(),
        None => cbor_json,
    }
}

fn compare(what: &str, got: &Json, want: &Json) -> Result<(), String> {
    match difference(got, want, "") {
        None => Ok(()),
        Some(at) => Err(format!("{what} differs from JSON at {at}")),
    }
}

impl Chain<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.case.get(name).and_then(Json::as_str)
    }

    fn json(&self) -> Option<&Json> {
        self.case.get("JSON").filter(|j| !j.is_null())
    }

    fn prefixed(&self) -> Stage<String> {
        self.field("PREFIX").map(|p| Ok(p.to_string()))
    }

    fn base45(&self) -> Stage<String> {
        if let Some(b) = self.field("BASE45") {
            return Some(Ok(b.to_string()));
        }
        Some(self.prefixed()?.and_then(|p| unprefix(&p).map(|(_, b)| b.to_string()).map_err(text)))
    }

    fn compressed(&self) -> Stage<Vec<u8>> {
        if let Some(hex) = self.field("COMPRESSED") {
            return Some(from_hex(hex));
        }
        Some(self.base45()?.and_then(|b| base45_decode(&b).map_err(text)))
    }

    fn cose(&self) -> Stage<Vec<u8>> {
        if let Some(hex) = self.field("COSE") {
            return Some(from_hex(hex));
        }
        Some(self.compressed()?.and_then(|z| inflate(&z).map_err(text)))
    }

    fn sign1(&self) -> Stage<Sign1> {
        Some(self.cose()?.and_then(|c| Sign1::from_slice(&c).map_err(text)))
    }

    fn signer(&self) -> Stage<SignerCertificate> {
        let cert = self.case["TESTCTX"]["CERTIFICATE"].as_str()?;
        Some(SignerCertificate::from_base64(cert).map_err(text))
    }

    /// The DCC the whole chain yields, from the prefixed text.
    fn chain_dcc(&self) -> Stage<Json> {
        let prefixed = match self.prefixed()? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        Some(super::decode(&prefixed).map_err(text).and_then(|d| {
            d.claims.eu_dcc().cloned().ok_or_else(|| "no EU DCC in the claims".to_string())
        }))
    }

    /// The DCC of the `CBOR` field.
    fn cbor_dcc(&self) -> Stage<Json> {
        let hex = self.field("CBOR")?;
        Some(from_hex(hex).and_then(|b| cbor::parse(&b).and_then(|v| cbor::to_json(&v)).map_err(text)).map(dcc_of))
    }

    /// Signature check with the case's signer certificate, kid included.
    fn verified(&self) -> Stage<(Sign1, SignerCertificate)> {
        let (sign1, signer) = (self.sign1()?, self.signer()?);
        Some(sign1.and_then(|sign1| {
            let signer = signer?;
            match sign1.kid() {
                None => return Err(text(CertError::MissingKid)),
                Some(kid) if kid != signer.kid.as_slice() => {
                    return Err("the kid does not name the signer certificate".into());
                }
                Some(_) => {}
            }
            sign1.verify(&signer.key).map_err(text)?;
            Ok((sign1, signer))
        }))
    }

    /// The kinds the signed payload holds (`v, t, r`), when it holds more than one
    /// (empty lists included).
    fn several_kinds(&self) -> Option<String> {
        kinds_together(&self.chain_dcc()?.ok()?)
    }

    /// The DCC inside the signed payload when its hcert claim (`-260` → `1`) is a
    /// byte string of CBOR rather than the map HCERT requires: `None` when the claim
    /// is a map, or absent, or the bytes are no CBOR.
    fn wrapped_dcc(&self) -> Option<Json> {
        let sign1 = self.sign1()?.ok()?;
        let claims = cbor::parse(sign1.payload()).ok()?;
        let entry = |map: &ciborium::value::Value, label: i64| {
            let label_of = |k: &ciborium::value::Value| k.as_integer().and_then(|i| i64::try_from(i).ok());
            map.as_map()?.iter().find(|(k, _)| label_of(k) == Some(label)).map(|(_, v)| v.clone())
        };
        let bytes = entry(&entry(&claims, -260)?, 1)?.into_bytes().ok()?;
        cbor::parse(&bytes).and_then(|v| cbor::to_json(&v)).ok()
    }

    /// A stage's output must equal the case's own field for the next stage, when the
    /// case has that field.
    fn matches_hex_field(&self, got: &[u8], field: &str, what: &str) -> Result<(), String> {
        match self.field(field).map(from_hex) {
            Some(Ok(want)) if want != got => Err(format!("{what} differ from {field}")),
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// A step's outcome, and how it was judged when that is not the usual way.
    fn check(&self, flag: Flag) -> (Found, Option<String>) {
        match flag {
            Flag::KeyUsage => self.key_usage(),
            Flag::ExpirationCheck => self.expiration(),
            Flag::Expired => (self.expired(), None),
            _ => (self.step(flag), None),
        }
    }

    fn step(&self, flag: Flag) -> Found {
        match flag {
            Flag::PictureDecode => {
                let png = self.field("2DCODE")?;
                let got = base64::engine::general_purpose::STANDARD
                    .decode(png.split_whitespace().collect::<String>())
                    .map_err(|e| format!("2DCODE base64: {e}"))
                    .and_then(|png| (self.picture)(&png));
                Some(got.and_then(|text| match self.field("PREFIX") {
                    Some(p) if p != text => Err("the QR code's text differs from PREFIX".into()),
                    _ => Ok(()),
                }))
            }
            Flag::Unprefix => {
                let prefixed = self.field("PREFIX")?;
                Some(match unprefix(prefixed) {
                    Err(e) => Err(text(e)),
                    Ok((Prefix::EuDcc, body)) => match self.field("BASE45") {
                        Some(b) if b != body => Err("the text after the prefix differs from BASE45".into()),
                        _ => Ok(()),
                    },
                    Ok((other, _)) => Err(format!("{} is not an EU DCC prefix", other.as_str())),
                })
            }
            Flag::B45Decode => Some(self.base45()?.and_then(|b| {
                self.matches_hex_field(&base45_decode(&b).map_err(text)?, "COMPRESSED", "decoded bytes")
            })),
            Flag::Compression => Some(self.compressed()?.and_then(|z| {
                self.matches_hex_field(&inflate(&z).map_err(text)?, "COSE", "inflated bytes")
            })),
            Flag::Verify => Some(self.verified()?.map(|_| ())),
            Flag::Decode => {
                let from_cose = self.sign1().map(|s| {
                    s.and_then(|s| cbor::parse(s.payload()).and_then(|v| cbor::to_json(&v)).map_err(text))
                        .map(dcc_of)
                });
                let decoded = self.cbor_dcc().or_else(|| from_cose.clone())?;
                Some(decoded.and_then(|dcc| {
                    if let Some(json) = self.json() {
                        compare("CBOR", &dcc, json)?;
                    }
                    match from_cose {
                        Some(Ok(cose_dcc)) if !same(&cose_dcc, &dcc) => Err("COSE payload differs from CBOR".into()),
                        Some(Err(e)) => Err(format!("COSE: {e}")),
                        _ => Ok(()),
                    }
                }))
            }
            Flag::ValidJson => {
                let json = self.json()?;
                Some(self.chain_dcc()?.and_then(|dcc| compare("the decoded chain", &dcc, json)))
            }
            Flag::SchemaValidation => {
                let dcc = self.cbor_dcc().or_else(|| self.chain_dcc())?;
                Some(dcc.and_then(|dcc| dcc::validate_schema(&dcc).map(|_| ()).map_err(text)))
            }
            Flag::ValidObject => Some(dcc::validate_object(self.json()?).map(|_| ()).map_err(text)),
            Flag::Encode => {
                let json = self.json()?;
                let encoded = cbor::to_json(&cbor::from_json(json)).map_err(text);
                Some(self.cbor_dcc()?.and_then(|dcc| compare("CBOR", &dcc, &encoded?)))
            }
            Flag::KeyUsage | Flag::ExpirationCheck | Flag::Expired | Flag::AllResults => None,
        }
    }

    /// The certificate and its signer certificate, with a note when the `kid`
    /// names another certificate than the one the case carries: the signer's own
    /// checks (key usage, validity) are then judged on the certificate the case
    /// gives, as upstream's harness does, and the note says so.
    fn payload_and_signer(&self) -> Stage<(Claims, SignerCertificate, Option<String>)> {
        let (sign1, signer) = (self.sign1()?, self.signer()?);
        Some(sign1.and_then(|sign1| {
            let signer = signer?;
            let note = match sign1.kid() {
                Some(kid) if kid != signer.kid.as_slice() => Some(format!(
                    "the kid {} names another certificate than TESTCTX.CERTIFICATE ({}); judged on the latter",
                    hex(kid),
                    hex(&signer.kid)
                )),
                _ => None,
            };
            Ok((Claims::from_cbor(sign1.payload()).map_err(text)?, signer, note))
        }))
    }

    /// Whether the case's signer certificate may sign the payload's kind — upstream's
    /// key usage check, which reads the certificate's extended key usages whether or
    /// not the signature verifies with it.
    fn key_usage(&self) -> (Found, Option<String>) {
        match self.payload_and_signer() {
            None => (None, None),
            Some(Err(e)) => (Some(Err(e)), None),
            Some(Ok((claims, signer, note))) => {
                let found = claims
                    .eu_dcc()
                    .ok_or_else(|| "no EU DCC in the claims".to_string())
                    .and_then(|dcc| dcc::kind_of(dcc).map_err(text))
                    .and_then(|kind| upstream_key_usage(&signer, kind));
                (Some(found), note)
            }
        }
    }

    fn clock(&self) -> Option<Result<i64, String>> {
        let clock = self.case["TESTCTX"]["VALIDATIONCLOCK"].as_str()?;
        Some(super::parse_iso8601_millis(clock).map_err(text))
    }

    /// The certificate's validity at the case's clock: issued before the clock,
    /// expiring after it, and both inside the signer certificate's validity (a
    /// signer cannot vouch for a time it was not valid) when the case carries the
    /// certificate the `kid` names.
    fn expiration(&self) -> (Found, Option<String>) {
        let (Some(now_ms), Some(stage)) = (self.clock(), self.payload_and_signer()) else { return (None, None) };
        let mut note = None;
        let found = now_ms.and_then(|now_ms| {
            let (claims, signer, kid_note) = stage?;
            let (iat_ms, exp_ms) = match (claims.iat_ms, claims.exp_ms) {
                (Some(iat), Some(exp)) => (iat, exp),
                _ => return Err("iat or exp is missing".into()),
            };
            // The bound is the signing certificate's: when the kid names another
            // one, the case does not carry it, and the bound cannot be judged.
            if let Some(kid_note) = kid_note {
                note = Some(format!("{kid_note}; the signer's validity bound is not checked"));
            } else if iat_ms < signer.not_before.saturating_mul(1000) || exp_ms > signer.not_after.saturating_mul(1000) {
                return Err(format!(
                    "validity {} – {} exceeds the signer certificate's {} – {}",
                    super::format_rfc3339_millis(iat_ms),
                    super::format_rfc3339_millis(exp_ms),
                    super::format_rfc3339(signer.not_before),
                    super::format_rfc3339(signer.not_after)
                ));
            }
            claims.check_validity(now_ms).map_err(text)
        });
        (Some(found), note)
    }

    /// Whether the certificate has expired at the case's clock (`exp` before it).
    fn expired(&self) -> Found {
        let now_ms = self.clock()?;
        let sign1 = self.sign1()?;
        Some(now_ms.and_then(|now_ms| {
            let claims = Claims::from_cbor(sign1?.payload()).map_err(text)?;
            let exp_ms = claims.exp_ms.ok_or("the certificate has no exp")?;
            if exp_ms < now_ms {
                Ok(())
            } else {
                Err(format!("valid until {}", super::format_rfc3339_millis(exp_ms)))
            }
        }))
    }

    /// Evidence that a flag's mismatch lies in the case's own data rather than in
    /// this pipeline, when there is such evidence.
    fn defect(&self, flag: Flag) -> Option<String> {
        // A DCC wrapped in a byte string is no DCC map to decode, compare, validate or
        // classify; upstream's harness reads the claim as a map and fails these too.
        if matches!(flag, Flag::Decode | Flag::ValidJson | Flag::SchemaValidation | Flag::KeyUsage)
            && let Some(inner) = self.wrapped_dcc()
        {
            let against_json = match self.json().map(|json| difference(&inner, json, "")) {
                Some(None) => "; unwrapped, it equals the case's JSON".to_string(),
                Some(Some(at)) => format!("; unwrapped, it differs from the case's JSON at {at}"),
                None => String::new(),
            };
            return Some(format!(
                "the signed payload's hcert claim (-260 → 1) is a byte string holding CBOR, not the DCC map \
                 HCERT requires, which upstream's own harness reads as a map too{against_json}"
            ));
        }
        // The CBOR field is not hex, the form every byte field of the test data takes
        // and upstream's harness reads (`unhexlify`); base64 is the usual slip.
        if matches!(flag, Flag::Decode | Flag::Encode | Flag::SchemaValidation)
            && let Some(field) = self.field("CBOR")
            && let Err(why) = from_hex(field)
        {
            let signed = self.sign1().and_then(Result::ok);
            let as_base64 = match base64::engine::general_purpose::STANDARD.decode(field.trim()) {
                Ok(bytes) if signed.as_ref().is_some_and(|s| s.payload() == bytes.as_slice()) => {
                    "; read as base64 it is the signed payload, byte for byte".to_string()
                }
                Ok(bytes) => format!("; read as base64 it is {} bytes, not the signed payload", bytes.len()),
                Err(_) => String::new(),
            };
            return Some(format!(
                "the case's CBOR field is not hex ({why}), the form the test data's byte fields take and \
                 upstream's own harness reads (unhexlify), so no reader decodes it as the case means{as_base64}"
            ));
        }
        match flag {
            // The kid names a certificate the case does not carry, yet the case expects
            // the signature to verify with the one it carries.
            Flag::Verify => {
                let (sign1, signer) = (self.sign1()?.ok()?, self.signer()?.ok()?);
                if let Some(kid) = sign1.kid()
                    && kid != signer.kid.as_slice()
                {
                    return Some(format!(
                        "the COSE kid {} names no certificate the case carries (TESTCTX.CERTIFICATE's kid is {}), \
                         so no verifier can check the signature, upstream's harness included (it asserts the kid \
                         names TESTCTX.CERTIFICATE)",
                        hex(kid),
                        hex(&signer.kid)
                    ));
                }
                // ES256 signs r ‖ s over P-256, 32 bytes each (RFC 9053 §2.1): a
                // signature of another length cannot verify under the algorithm the
                // message itself declares, whatever key is tried.
                let length = sign1.signature().len();
                (sign1.algorithm() == Algorithm::Es256 && length != 64).then(|| {
                    let key = match &signer.key {
                        VerifyingKey::Unsupported(what) => format!(", and TESTCTX.CERTIFICATE's key is {what}"),
                        _ => String::new(),
                    };
                    format!(
                        "the COSE header declares ES256, whose signature is 64 bytes (r‖s over P-256), but the \
                         signature is {length} bytes{key}: it cannot verify under the algorithm the message names, \
                         as upstream's harness (test_verification_check, a P-256 key) finds too"
                    )
                })
            }
            // The JSON is the odd one out: the QR's text decodes, its payload agrees
            // with the case's CBOR (when it has one), and only the JSON differs — so it
            // encodes to other CBOR, too.
            Flag::ValidJson | Flag::Decode | Flag::Encode => {
                let json = self.json()?;
                let signed = self.chain_dcc()?.ok()?;
                let at = difference(&signed, json, "")?;
                let verifies = self.verified().is_some_and(|v| v.is_ok());
                match self.cbor_dcc() {
                    // The CBOR sides with the JSON against the signed QR: both were
                    // written apart from what was signed. Only a signature that verifies
                    // makes the QR the authority.
                    Some(Ok(cbor)) if !same(&cbor, &signed) => (verifies && same(&cbor, json)).then(|| {
                        format!(
                            "the case's JSON and CBOR agree with each other but not with its own QR payload, whose \
                             signature verifies with TESTCTX.CERTIFICATE, at {at}"
                        )
                    }),
                    _ => {
                        let verifies = if verifies { ", whose signature verifies with TESTCTX.CERTIFICATE" } else { "" };
                        Some(format!("the case's JSON disagrees with its own QR payload{verifies}, at {at}"))
                    }
                }
            }
            // The case's own JSON holds more than one of `v`, `t`, `r`, which no DCC
            // schema allows, yet the case expects it a valid DCC object.
            Flag::ValidObject => {
                let kinds = kinds_together(self.json()?)?;
                Some(format!(
                    "the case's JSON holds {kinds} together (empty lists included), which the DCC schema refuses \
                     and upstream's own harness too (it asserts exactly one of v, t, r)"
                ))
            }
            // The signed payload holds more than one of `v`, `t`, `r`: upstream's own
            // harness asserts exactly one before it reads the signer's key usage too.
            Flag::KeyUsage if self.several_kinds().is_some() => {
                let kinds = self.several_kinds()?;
                Some(format!(
                    "the signed payload holds {kinds} together, which upstream's own harness \
                     (test_expected_key_usage) refuses: it asserts exactly one of v, t, r"
                ))
            }
            // The signed payload holds more than one of `v`, `t`, `r` (empty lists
            // included), which upstream's own harness refuses in `test_cose_schema`
            // whatever the case expects.
            Flag::SchemaValidation => {
                let dcc = self.chain_dcc()?.ok()?;
                if let Some(kinds) = self.several_kinds() {
                    return Some(format!(
                        "the signed payload holds {kinds} together, which upstream's own harness (test_cose_schema) \
                         refuses: it asserts exactly one of v, t, r"
                    ));
                }
                // A standardised name outside the schema's own pattern, or an entry
                // without a field the schema requires, fails the JSON schema upstream's
                // harness validates with, whatever the case expects.
                let ver = dcc.get("ver").and_then(Json::as_str).unwrap_or("?");
                let harness = "which upstream's own harness (test_cose_schema, jsonschema) fails too";
                let bad_name = ["fnt", "gnt"].into_iter().find_map(|field| {
                    let name = dcc.get("nam")?.get(field)?.as_str()?;
                    (!dcc::is_icao_name(name)).then(|| {
                        format!(
                            "the signed payload's nam.{field} {name:?} breaks the pattern ^[A-Z<]*$ of the DCC \
                             schema {ver} it declares, {harness}"
                        )
                    })
                });
                let (kind, entries) = dcc::validate_object(&dcc).ok()?;
                let at = |i: usize| format!("{}[{i}]", kind.key());
                let missing = || {
                    entries.iter().enumerate().find_map(|(i, entry)| {
                        let field = dcc::required_fields(kind).iter().find(|f| entry.get(**f).is_none())?;
                        Some(format!(
                            "the signed payload's {} has no {field}, which the DCC schema {ver} requires of every \
                             {kind} entry, {harness}",
                            at(i)
                        ))
                    })
                };
                // A coded field outside its EU value set: the case contradicts the
                // specification, and the other member states' cases that expect such a
                // payload refused (PL 1.3.0 cases 7 and 8).
                let uncoded = || {
                    entries.iter().enumerate().find_map(|(i, entry)| {
                        let why = match super::valuesets::check_entry(kind, entry, &at(i)).err()? {
                            CertError::Schema(detail) => detail,
                            other => other.to_string(),
                        };
                        Some(format!(
                            "the signed payload's {why}, the set the DCC schema names for that field, yet the case \
                             expects it valid, while other member states' cases (PL 1.3.0 2DCode/raw/7 and 8) expect \
                             such a payload refused"
                        ))
                    })
                };
                bad_name.or_else(missing).or_else(uncoded)
            }
            // The case's own clock lies outside its payload's validity, which
            // upstream's harness (`test_expiration_check`: iat ≤ clock ≤ exp, to the
            // clock's fraction of a second) fails too, whatever the case expects.
            Flag::ExpirationCheck => {
                let clock = self.case["TESTCTX"]["VALIDATIONCLOCK"].as_str()?;
                let now_ms = self.clock()?.ok()?;
                let (claims, _, _) = self.payload_and_signer()?.ok()?;
                let (iat_ms, exp_ms) = (claims.iat_ms?, claims.exp_ms?);
                let outside = now_ms < iat_ms || now_ms > exp_ms;
                outside.then(|| {
                    format!(
                        "the case's VALIDATIONCLOCK {clock} lies outside its own payload's validity {} – {}, \
                         which upstream's own harness (test_expiration_check) fails too",
                        super::format_rfc3339_millis(iat_ms),
                        super::format_rfc3339_millis(exp_ms)
                    )
                })
            }
            // The certificate the case carries limits its signer to other kinds, yet
            // the case expects it to be allowed this one.
            // Or it allows the kind, yet the case expects it refused because (as its kid
            // shows) another certificate signed, one the case does not carry: upstream's
            // harness judges key usage on TESTCTX.CERTIFICATE too.
            Flag::KeyUsage => {
                let (claims, signer, kid_note) = self.payload_and_signer()?.ok()?;
                let kind = dcc::kind_of(claims.eu_dcc()?).ok()?;
                match upstream_key_usage(&signer, kind) {
                    Err(_) => Some(format!(
                        "TESTCTX.CERTIFICATE's extended key usages ({}) do not include {kind}, the payload's kind",
                        signer.extended_key_usage.join(", ")
                    )),
                    Ok(()) => match kid_note {
                        Some(_) => {
                            let usages = match signer.extended_key_usage.as_slice() {
                                [] => "no extended key usage, so every kind".to_string(),
                                some => some.join(", "),
                            };
                            Some(format!(
                                "the case expects its signer refused, but the certificate it carries \
                                 (TESTCTX.CERTIFICATE, which upstream's harness judges too) allows {kind} ({usages}); \
                                 the kid names another certificate, which the case does not carry"
                            ))
                        }
                        // The signer that signed has no extended key usage at all: it may
                        // sign every kind, and upstream's harness fails any case that
                        // expects such a signer refused.
                        None if signer.extended_key_usage.is_empty() => Some(format!(
                            "the case expects its signer refused for {kind}, but TESTCTX.CERTIFICATE, whose kid the \
                             COSE message names, has no extended key usage, so it may sign every kind; upstream's own \
                             harness (test_expected_key_usage) fails such a case too (\"Given DSC is valid to sign \
                             HCERT Type\")"
                        )),
                        None => None,
                    },
                }
            }
            _ => None,
        }
    }
}

/// The kinds a DCC holds (`v, t, r`), when it holds more than one (empty lists
/// included).
fn kinds_together(dcc: &Json) -> Option<String> {
    let kinds: Vec<&str> = ["v", "t", "r"].into_iter().filter(|k| dcc.get(k).is_some()).collect();
    (kinds.len() > 1).then(|| kinds.join(", "))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}


/// Upstream's key usage check (`test_expected_key_usage`): a signer certificate with
/// any extended key usage may sign only the kinds whose DCC usage it lists; one with
/// none may sign every kind. The wallet itself ([`dcc::check_key_usage`]) lets only
/// the DCC usages restrict, as the trust framework says; the runner judges each flag
/// with upstream's meaning, and the two differ only for a certificate whose extended
/// key usages are all foreign (IS 2DCode/raw/3 expects such a one to fail).
fn upstream_key_usage(signer: &SignerCertificate, kind: dcc::DccKind) -> Result<(), String> {
    if signer.extended_key_usage.is_empty() {
        return Ok(());
    }
    if kind.key_usage_oids().into_iter().any(|oid| signer.extended_key_usage.iter().any(|u| u == oid)) {
        Ok(())
    } else {
        Err(format!("the signer certificate's extended key usages ({}) do not allow {kind}", signer.extended_key_usage.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_as_the_test_data_means_it() {
        let a = json!({"sc": "2021-05-16T14:34:56+02:00", "dn": 1, "v": [{"x": "a"}]});
        assert!(same(&a, &json!({"v": [{"x": "a"}], "dn": 1, "sc": "2021-05-16T12:34:56.400Z"})));
        let off_by_two_hours = json!({"sc": "2021-05-16T14:34:56Z", "dn": 1, "v": [{"x": "a"}]});
        assert_eq!(difference(&a, &off_by_two_hours, "").unwrap(), r#".sc: "2021-05-16T14:34:56+02:00" vs "2021-05-16T14:34:56Z""#);
        assert!(!same(&a, &json!({"sc": "2021-05-16T12:34:56Z", "dn": 2, "v": [{"x": "a"}]})));
        assert!(!same(&a, &json!({"sc": "2021-05-16T12:34:56Z", "dn": 1, "v": [{"x": "a"}], "extra": 0})));
    }

    #[test]
    fn known_issues_match_by_check_country_and_set() {
        let known = KnownIssues::parse(
            "test_name,country,test_set,reason\ntest_cose_json,FR,test_pcr_ok,bad dr\ntest_verification_check,FI,,all FI\n",
        );
        assert_eq!(known.reason(Flag::Decode, "FR", "test_pcr_ok").as_deref(), Some("bad dr"));
        assert_eq!(known.reason(Flag::Decode, "FR", "vaccin_ok"), None);
        assert_eq!(known.reason(Flag::ValidJson, "FR", "test_pcr_ok"), None);
        assert_eq!(known.reason(Flag::Verify, "FI", "7").as_deref(), Some("all FI"));
    }

    #[test]
    fn unknown_flags_and_missing_inputs_are_told_apart() {
        let case = json!({"EXPECTEDRESULTS": {"EXPECTEDPICTUREDECODE": true, "EXPECTEDTELEPATHY": true}});
        let no_picture: PictureDecoder<'_> = &|_| Err("unused".into());
        let report = check_case("c", "XX", "c", &case, &KnownIssues::default(), no_picture);
        let missing = report.flags.iter().find(|f| f.flag == "EXPECTEDPICTUREDECODE").unwrap();
        assert!(missing.ok() && missing.describe().contains("no 2DCODE"));
        let unknown = report.flags.iter().find(|f| f.flag == "EXPECTEDTELEPATHY").unwrap();
        assert!(unknown.found.is_none() && unknown.describe().contains("unchecked: unknown flag"));
        assert!(report.passed(), "an unknown flag is reported as unchecked, not failed");
    }
}
