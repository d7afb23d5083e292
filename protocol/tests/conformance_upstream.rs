//! Upstream dgc-testdata cases of member states outside the shared subset, kept as
//! small fixtures (see `dgc-testdata/SOURCE.md`): each stands for a kind of case
//! the runner once got wrong, and each test also shows the runner can still fail.

use std::path::Path;

use taipei_protocol::cert::conformance::{CaseReport, FlagResult, KnownIssues, check_case};

fn load(relative: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dgc-testdata").join(relative);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn check(relative: &str, case: &serde_json::Value) -> CaseReport {
    let country = relative.split('/').next().unwrap();
    let stem = Path::new(relative).file_stem().unwrap().to_str().unwrap();
    let no_picture = |_: &[u8]| -> Result<String, String> { Err("no QR engine in the protocol crate".into()) };
    check_case(relative, country, stem, case, &KnownIssues::default(), &no_picture)
}

fn run(relative: &str) -> CaseReport {
    check(relative, &load(relative))
}

fn show(report: &CaseReport) -> String {
    report.flags.iter().map(FlagResult::describe).collect::<Vec<_>>().join("\n")
}

fn flag<'a>(report: &'a CaseReport, key: &str) -> &'a FlagResult {
    report.flags.iter().find(|f| f.flag == key).unwrap()
}

/// PL 1.3.0 cases 7, 8: a test device identifier and a country code outside the EU
/// value sets must fail schema validation (and nothing else).
#[test]
fn value_sets_are_checked_in_schema_validation() {
    for (case, field, code) in [("PL/1.3.0/2DCode/raw/7.json", "t[0].ma", "9999"), ("PL/1.3.0/2DCode/raw/8.json", "r[0].co", "XY")] {
        let report = run(case);
        assert!(report.passed(), "{case}\n{}", show(&report));
        let schema = flag(&report, "EXPECTEDSCHEMAVALIDATION");
        let why = schema.found.clone().unwrap().unwrap_err();
        assert!(why.contains(field) && why.contains(code), "{why}");
        assert!(flag(&report, "EXPECTEDVERIFY").found == Some(Ok(())), "the rest of the chain is sound");
    }
    // The same case expecting a valid schema now fails.
    let mut wrong = load("PL/1.3.0/2DCode/raw/7.json");
    wrong["EXPECTEDRESULTS"]["EXPECTEDSCHEMAVALIDATION"] = true.into();
    assert!(!check("PL/1.3.0/2DCode/raw/7.json", &wrong).passed());
}

/// IT case 4: a NAAT (PCR) test carries `ma` `""`. The device value set lists rapid
/// antigen tests only, so a NAAT entry is not held to it; a rapid test with the same
/// empty device still fails.
#[test]
fn a_naat_test_is_not_held_to_the_rapid_test_device_list() {
    let report = run("IT/2DCode/raw/4.json");
    assert!(report.passed(), "{}", show(&report));
    assert_eq!(flag(&report, "EXPECTEDSCHEMAVALIDATION").found, Some(Ok(())));
    let mut rapid = load("IT/2DCode/raw/4.json");
    rapid["JSON"]["t"][0]["tt"] = "LP217198-3".into();
    let report = check("IT/2DCode/raw/4.json", &rapid);
    // The QR still says NAAT: only the JSON comparison may differ, never the schema.
    assert_eq!(flag(&report, "EXPECTEDSCHEMAVALIDATION").found, Some(Ok(())), "{}", show(&report));
    assert!(!report.passed());
}

/// PL 1.3.0 case 6: the kid names the recovery signer, the case carries the
/// vaccination signer. The signature must not verify, yet key usage and expiry are
/// judged on the certificate the case carries, as upstream does, and say so.
#[test]
fn signer_selection_follows_the_case_certificate() {
    let report = run("PL/1.3.0/2DCode/raw/6.json");
    assert!(report.passed(), "{}", show(&report));
    assert!(flag(&report, "EXPECTEDVERIFY").found.clone().unwrap().is_err());
    let usage = flag(&report, "EXPECTEDKEYUSAGE");
    assert_eq!(usage.found, Some(Ok(())));
    assert!(usage.note.as_deref().unwrap().contains("names another certificate"), "{:?}", usage.note);
    // A vaccination signer may not sign a recovery: swap the payload's expectations
    // the other way and the key usage check must fail.
    let mut recovery_signer = load("PL/1.3.0/2DCode/raw/6.json");
    recovery_signer["TESTCTX"]["CERTIFICATE"] = load("PL/1.3.0/2DCode/raw/8.json")["TESTCTX"]["CERTIFICATE"].clone();
    let report = check("PL/1.3.0/2DCode/raw/6.json", &recovery_signer);
    assert!(flag(&report, "EXPECTEDKEYUSAGE").found.clone().unwrap().is_err(), "{}", show(&report));
    assert!(!report.passed());
}

/// IS case 5: an RSA (PS256) signer certificate with no extended key usage may sign
/// every kind.
#[test]
fn rsa_signer_without_key_usage_signs_every_kind() {
    let report = run("IS/2DCode/raw/5.json");
    assert!(report.passed(), "{}", show(&report));
    assert_eq!(flag(&report, "EXPECTEDKEYUSAGE").found, Some(Ok(())));
    assert_eq!(flag(&report, "EXPECTEDVERIFY").found, Some(Ok(())));
}

/// IS case 3: a signer certificate whose extended key usages are all foreign to the
/// DCC (a critical 2.23.136.1.1.14.2 only) may not sign a test, as upstream's harness
/// reads the extension; its case expects key usage to fail.
#[test]
fn a_foreign_extended_key_usage_restricts_the_signer() {
    let report = run("IS/2DCode/raw/3.json");
    assert!(report.passed(), "{}", show(&report));
    assert!(flag(&report, "EXPECTEDKEYUSAGE").found.as_ref().is_some_and(|f| f.is_err()), "{}", show(&report));
}

/// ES case 2101: its clock is before its own payload's issue time, yet it expects the
/// expiration check to pass; upstream's harness fails it too, so the case fails as a
/// data defect with that evidence.
#[test]
fn a_clock_outside_the_payloads_own_validity_is_a_data_defect() {
    let report = run("ES/2DCode/raw/2101.json");
    assert!(!report.passed(), "{}", show(&report));
    let expiration = flag(&report, "EXPECTEDEXPIRATIONCHECK");
    let defect = expiration.defect.as_deref().unwrap_or_default();
    assert!(defect.contains("VALIDATIONCLOCK") && defect.contains("outside its own payload's validity"), "{}", show(&report));
}

/// Upstream's flag spellings: `EXPTECTEDEXPIRED` (sic) means "expired at the clock",
/// a nested `EXPECTEDRESULTS` means "every other expectation holds", and a flag no
/// one knows is reported unchecked without failing the case.
#[test]
fn upstream_flag_spellings_are_understood() {
    let mut case = load("PL/1.3.0/2DCode/raw/8.json");
    case["EXPECTEDRESULTS"]["EXPTECTEDEXPIRED"] = false.into();
    case["EXPECTEDRESULTS"]["EXPECTEDRESULTS"] = true.into();
    case["EXPECTEDRESULTS"]["EXPECTEDTELEPATHY"] = true.into();
    let report = check("PL/1.3.0/2DCode/raw/8.json", &case);
    assert!(report.passed(), "{}", show(&report));
    assert!(flag(&report, "EXPECTEDTELEPATHY").describe().contains("unchecked"));

    // exp is 2023-05-24; at a clock in 2024 the certificate has expired.
    case["TESTCTX"]["VALIDATIONCLOCK"] = "2024-01-01T00:00:00Z".into();
    let report = check("PL/1.3.0/2DCode/raw/8.json", &case);
    assert_eq!(flag(&report, "EXPTECTEDEXPIRED").found, Some(Ok(())));
    assert!(!report.passed(), "expired, and EXPECTEDEXPIRATIONCHECK still expects valid");
    let summary = flag(&report, "EXPECTEDRESULTS");
    assert!(summary.found.clone().unwrap().unwrap_err().contains("EXPECTEDEXPIRATIONCHECK"), "{}", summary.describe());
}

/// A case whose JSON disagrees with its own signed QR fails, labelled as an
/// upstream data defect with the place they differ.
#[test]
fn data_defects_fail_with_their_evidence() {
    let mut case = load("PL/1.3.0/2DCode/raw/6.json");
    case["JSON"]["v"][0]["dt"] = "2021-05-19".into();
    let report = check("PL/1.3.0/2DCode/raw/6.json", &case);
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    let decode = flag(&report, "EXPECTEDVALIDJSON");
    assert!(decode.defect.as_deref().unwrap().contains(".v[0].dt"), "{}", decode.describe());
    assert!(decode.describe().contains("UPSTREAM DATA DEFECT"));
    // The same JSON encodes to other CBOR than the case's (IT 2DCode/raw/1 has its dob
    // so): that mismatch is the same defect.
    let mut case = load("IS/2DCode/raw/5.json");
    case["JSON"]["dob"] = "1969-09-08".into();
    let report = check("IS/2DCode/raw/5.json", &case);
    let encode = flag(&report, "EXPECTEDENCODE");
    assert!(!encode.ok() && encode.defect.as_deref().unwrap().contains(".dob"), "{}", show(&report));
    assert!(report.failed_on_data_defects(), "{}", show(&report));
}

/// DK case 5: a vaccination with empty `t` and `r` lists beside it, expected to pass
/// schema validation. Upstream's own harness refuses any payload holding more than one
/// of `v`, `t`, `r`, so the mismatch is reported as the case's data defect, with that
/// evidence, and still counted as a failure.
#[test]
fn several_kinds_in_one_payload_are_an_upstream_data_defect() {
    let report = run("DK/2DCode/raw/5.json");
    assert!(!report.passed(), "{}", show(&report));
    assert!(report.failed_on_data_defects(), "{}", show(&report));
    let schema = flag(&report, "EXPECTEDSCHEMAVALIDATION");
    assert!(schema.found.clone().unwrap().unwrap_err().contains("more than one of v, t, r"), "{}", show(&report));
    assert!(schema.defect.as_deref().unwrap().contains("holds v, t, r together"), "{:?}", schema.defect);
    assert_eq!(flag(&report, "EXPECTEDVERIFY").found, Some(Ok(())), "the signature verifies");
    // Only the schema flag fails: the rest of the chain is sound.
    assert!(report.flags.iter().filter(|f| !f.ok()).all(|f| f.flag == "EXPECTEDSCHEMAVALIDATION"), "{}", show(&report));
    // The case's JSON holds the same three lists: expecting it a valid DCC object (as
    // SM 2DCode/raw/1 does) is the data's defect too.
    let mut case = load("DK/2DCode/raw/5.json");
    case["EXPECTEDRESULTS"]["EXPECTEDVALIDOBJECT"] = true.into();
    let report = check("DK/2DCode/raw/5.json", &case);
    let object = flag(&report, "EXPECTEDVALIDOBJECT");
    assert!(object.defect.as_deref().unwrap().contains("the case's JSON holds v, t, r together"), "{}", object.describe());
    assert!(report.failed_on_data_defects(), "{}", show(&report));
}

/// PL case 6 as upstream first published it (`PL/2DCode/raw/6.json`, before the 1.3.0
/// copy): its kid names the recovery signer, which the case does not carry, yet it
/// expects the signature to verify and the vaccination signer it does carry to be
/// refused. Both mismatches are the data's, and say why; the case still fails.
#[test]
fn a_kid_naming_no_carried_certificate_is_an_upstream_data_defect() {
    let report = run("PL/2DCode/raw/6.json");
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    let verify = flag(&report, "EXPECTEDVERIFY");
    assert!(verify.defect.as_deref().unwrap().contains("kid 18ed2b7f54e77904 names no certificate the case carries"), "{}", verify.describe());
    let usage = flag(&report, "EXPECTEDKEYUSAGE");
    assert_eq!(usage.found, Some(Ok(())), "{}", usage.describe());
    assert!(usage.defect.as_deref().unwrap().contains("allows vaccination"), "{}", usage.describe());
    // A signature that fails with the certificate its kid names is no data defect.
    let mut case = load("IS/2DCode/raw/5.json");
    case["EXPECTEDRESULTS"]["EXPECTEDVERIFY"] = false.into();
    let report = check("IS/2DCode/raw/5.json", &case);
    let verify = flag(&report, "EXPECTEDVERIFY");
    assert!(!verify.ok() && verify.defect.is_none() && !report.failed_on_data_defects(), "{}", show(&report));
}

/// A case that fails only its schema flag, as an upstream data defect whose evidence
/// says `evidence`, and passes once it expects the schema to refuse the payload: the
/// schema check itself still works on this payload.
fn schema_flag_is_the_only_defect(relative: &str, evidence: &str) -> CaseReport {
    let report = run(relative);
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    let schema = flag(&report, "EXPECTEDSCHEMAVALIDATION");
    assert!(schema.defect.as_deref().unwrap().contains(evidence), "{}", schema.describe());
    assert!(report.flags.iter().filter(|f| !f.ok()).all(|f| f.flag == "EXPECTEDSCHEMAVALIDATION"), "{}", show(&report));
    let mut case = load(relative);
    case["EXPECTEDRESULTS"]["EXPECTEDSCHEMAVALIDATION"] = false.into();
    assert!(check(relative, &case).passed());
    report
}

/// LV case 4: the signed `nam.gnt` is `"ARTURS "` (a trailing space), which the DCC
/// schema's `^[A-Z<]*$` refuses, while the case expects schema validation to pass.
#[test]
fn a_name_outside_the_schema_pattern_is_an_upstream_data_defect() {
    let report = schema_flag_is_the_only_defect("LV/2DCode/raw/4.json", r#"nam.gnt "ARTURS " breaks the pattern"#);
    let schema = flag(&report, "EXPECTEDSCHEMAVALIDATION");
    assert!(schema.found.clone().unwrap().unwrap_err().contains("nam.gnt"), "{}", schema.describe());
}

/// SK case 3: the hcert claim's `1` is a byte string holding the DCC's CBOR instead of
/// the DCC map. Decoding, the JSON comparison and key usage fail as the data's defect,
/// with the unwrapped DCC compared to the case's JSON as evidence.
#[test]
fn a_dcc_wrapped_in_a_byte_string_is_an_upstream_data_defect() {
    let report = run("SK/2DCode/raw/3.json");
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    assert_eq!(flag(&report, "EXPECTEDVERIFY").found, Some(Ok(())), "the signature itself verifies");
    for key in ["EXPECTEDDECODE", "EXPECTEDVALIDJSON", "EXPECTEDKEYUSAGE"] {
        let defect = flag(&report, key).defect.clone().unwrap_or_default();
        assert!(defect.contains("byte string holding CBOR") && defect.contains("equals the case's JSON"), "{key}: {defect}");
    }
    let mut case = load("SK/2DCode/raw/3.json");
    case["JSON"]["dob"] = "1955-04-22".into();
    let report = check("SK/2DCode/raw/3.json", &case);
    let defect = flag(&report, "EXPECTEDDECODE").defect.clone().unwrap();
    assert!(defect.contains("differs from the case's JSON at .dob"), "{defect}");
}

/// LI case 1: the signed recovery entry has no `ci`, which every DCC schema version
/// requires, while the case expects schema validation to pass.
#[test]
fn a_required_field_missing_from_the_signed_entry_is_an_upstream_data_defect() {
    schema_flag_is_the_only_defect("LI/2DCode/raw/1.json", "r[0] has no ci");
}

/// HU case 1: the signed `mp` is "COVID-19 Vaccine Moderna", no code of the EU value
/// set, yet the case expects schema validation to pass — against the PL cases that
/// expect a code outside the sets refused. The value sets still refuse it; the
/// report says whose the contradiction is.
#[test]
fn a_value_outside_the_value_sets_expected_valid_is_an_upstream_data_defect() {
    let report = schema_flag_is_the_only_defect("HU/2DCode/raw/1.json", r#"v[0].mp "COVID-19 Vaccine Moderna""#);
    let schema = flag(&report, "EXPECTEDSCHEMAVALIDATION");
    assert!(schema.found.clone().unwrap().unwrap_err().contains("vaccines-covid-19-names"), "{}", schema.describe());
    assert!(schema.defect.as_deref().unwrap().contains("PL 1.3.0"), "{}", schema.describe());
    assert_eq!(flag(&report, "EXPECTEDVERIFY").found, Some(Ok(())), "the signature verifies");
}

/// PT case 1: the signed payload carries empty `t` and `r` lists beside `v`; the
/// case's JSON and CBOR leave them out and agree with each other, not with the QR,
/// whose signature verifies. Decoding, the JSON comparison and key usage (upstream's
/// harness asserts exactly one of v, t, r there too) fail as the data's defect.
#[test]
fn json_and_cbor_written_apart_from_the_signed_payload_are_an_upstream_data_defect() {
    let report = run("PT/2DCode/raw/1.json");
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    for key in ["EXPECTEDDECODE", "EXPECTEDVALIDJSON"] {
        let defect = flag(&report, key).defect.clone().unwrap_or_default();
        assert!(defect.contains("JSON and CBOR agree with each other but not with its own QR payload"), "{key}: {defect}");
    }
    let usage = flag(&report, "EXPECTEDKEYUSAGE").defect.clone().unwrap_or_default();
    assert!(usage.contains("holds v, t, r together"), "{usage}");
    // Without a signature that verifies, the QR is no authority over the JSON and CBOR.
    let mut case = load("PT/2DCode/raw/1.json");
    case["TESTCTX"]["CERTIFICATE"] = load("IS/2DCode/raw/5.json")["TESTCTX"]["CERTIFICATE"].clone();
    let report = check("PT/2DCode/raw/1.json", &case);
    let decode = flag(&report, "EXPECTEDDECODE");
    assert!(!decode.ok() && decode.defect.is_none(), "{}", show(&report));
}

/// ES case 402: `iat` and `exp` are CBOR floats (RFC 8392 allows a fractional
/// NumericDate) and the clock sits 7 ms after the whole second of `exp`, within its
/// fraction: the expiration check must pass, as upstream's harness finds. Its
/// signature is 96 bytes under an ES256 header, from a P-384 signer: no verifier can
/// check it under the algorithm the message names, and the mismatch is the data's.
#[test]
fn a_fractional_numeric_date_counts_and_a_signature_of_the_wrong_length_is_a_data_defect() {
    let report = run("ES/2DCode/raw/402.json");
    assert_eq!(flag(&report, "EXPECTEDEXPIRATIONCHECK").found, Some(Ok(())), "{}", show(&report));
    let verify = flag(&report, "EXPECTEDVERIFY");
    assert!(verify.defect.as_deref().unwrap().contains("declares ES256") && verify.describe().contains("96 bytes"), "{}", verify.describe());
    assert!(report.failed_on_data_defects(), "{}", show(&report));
    assert!(report.flags.iter().filter(|f| !f.ok()).all(|f| f.flag == "EXPECTEDVERIFY"), "{}", show(&report));
    // One second later the certificate has expired, and the case's own data says so.
    let mut late = load("ES/2DCode/raw/402.json");
    late["TESTCTX"]["VALIDATIONCLOCK"] = "2021-12-07T11:10:51Z".into();
    let report = check("ES/2DCode/raw/402.json", &late);
    let expiration = flag(&report, "EXPECTEDEXPIRATIONCHECK");
    assert!(!expiration.ok() && expiration.defect.as_deref().unwrap().contains("2021-12-07T11:10:50.007Z"), "{}", expiration.describe());
}

/// IS case 4: its signer certificate has no extended key usage, so it may sign every
/// kind, yet the case expects key usage refused; upstream's harness fails it too. The
/// same case expecting key usage to pass passes.
#[test]
fn a_signer_without_key_usage_expected_refused_is_an_upstream_data_defect() {
    let report = run("IS/2DCode/raw/4.json");
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    let usage = flag(&report, "EXPECTEDKEYUSAGE");
    assert_eq!(usage.found, Some(Ok(())));
    assert!(usage.defect.as_deref().unwrap().contains("has no extended key usage"), "{}", usage.describe());
    let mut case = load("IS/2DCode/raw/4.json");
    case["EXPECTEDRESULTS"]["EXPECTEDKEYUSAGE"] = true.into();
    assert!(check("IS/2DCode/raw/4.json", &case).passed());
    // A signer whose usages allow only vaccinations is refused a test with no defect
    // to blame (PL 1.3.0 case 9 carries such a signer).
    case["EXPECTEDRESULTS"]["EXPECTEDKEYUSAGE"] = false.into();
    case["TESTCTX"]["CERTIFICATE"] = load("PL/1.3.0/2DCode/raw/6.json")["TESTCTX"]["CERTIFICATE"].clone();
    let usage = flag(&check("IS/2DCode/raw/4.json", &case), "EXPECTEDKEYUSAGE").clone();
    assert!(usage.found.clone().unwrap().is_err() && usage.ok(), "{}", usage.describe());
}

/// MK case 1: its CBOR field is base64, not hex; read as base64 it is the signed
/// payload. Decoding fails as the data's defect, with that evidence; the same bytes
/// written as hex decode.
#[test]
fn a_cbor_field_that_is_not_hex_is_an_upstream_data_defect() {
    let report = run("MK/2DCode/raw/1.json");
    assert!(!report.passed() && report.failed_on_data_defects(), "{}", show(&report));
    let decode = flag(&report, "EXPECTEDDECODE");
    assert!(decode.defect.as_deref().unwrap().contains("is the signed payload, byte for byte"), "{}", decode.describe());
    use base64::Engine as _;
    let mut case = load("MK/2DCode/raw/1.json");
    let bytes = base64::engine::general_purpose::STANDARD.decode(case["CBOR"].as_str().unwrap()).unwrap();
    case["CBOR"] = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into();
    let report = check("MK/2DCode/raw/1.json", &case);
    assert!(report.passed(), "{}", show(&report));
}

/// BG case 1 keeps its expectations inside TESTCTX, with no top-level
/// EXPECTEDRESULTS: no harness can run it, so it is reported as the data's defect
/// rather than taken for a file that is no case.
#[test]
fn expectations_outside_expectedresults_are_an_upstream_data_defect() {
    use taipei_protocol::cert::conformance::{is_case, misplaced_expectations};
    let case = load("BG/2DCode/raw/1.json");
    assert!(!is_case(&case));
    let evidence = misplaced_expectations(&case).unwrap();
    assert!(evidence.contains(".TESTCTX.EXPECTEDDECODE"), "{evidence}");
    assert_eq!(misplaced_expectations(&load("IS/2DCode/raw/4.json")), None, "a case");
    assert_eq!(misplaced_expectations(&serde_json::json!({"JSON": {"ver": "1.3.0"}})), None, "no case at all");
}
