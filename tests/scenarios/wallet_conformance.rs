//! The certificate pipeline against the EU DCC public test data: the very runner of
//! `taipei wallet conformance`, included from the CLI so both run one pipeline.

use std::path::PathBuf;

use taipei_protocol::cert::conformance::{KnownIssues, check_case};

#[path = "../../cli/src/wallet/conformance.rs"]
mod conformance;

/// `$TAIPEI_TESTDATA/eu-dcc`, else `../shared/testdata/eu-dcc`; required under `CI=true`.
fn eu_dcc_dir() -> Option<PathBuf> {
    taipei_scenarios::testdata_dir("eu-dcc")
}

#[test]
fn every_eu_dcc_case_passes() {
    let Some(dir) = eu_dcc_dir() else { return };
    let run = conformance::run_dir(&dir).unwrap();
    let report = run.render();
    println!("{report}");
    assert!(run.reports.len() >= 50, "only {} cases found in {}", run.reports.len(), dir.display());
    assert_eq!(run.failed(), 0, "{report}");
    assert!(report.ends_with(&format!("{} passed, 0 failed", run.reports.len())));
}

fn load(dir: &std::path::Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

fn passes(case: &serde_json::Value) -> bool {
    check_case("case", "XX", "case", case, &KnownIssues::default(), &conformance::read_picture).passed()
}

/// The runner must be able to fail: a forged signature, a wrong expectation and a
/// picture of another code each turn a passing case into a failing one.
#[test]
fn the_runner_catches_forgeries_and_wrong_expectations() {
    let Some(dir) = eu_dcc_dir() else { return };
    let valid = load(&dir, "common/2DCode/raw/CO3.json");
    assert!(passes(&valid));

    let mut forged = valid.clone();
    let cose = forged["COSE"].as_str().unwrap().to_string();
    let last = u8::from_str_radix(&cose[cose.len() - 2..], 16).unwrap() ^ 1;
    forged["COSE"] = format!("{}{last:02x}", &cose[..cose.len() - 2]).into();
    assert!(!passes(&forged), "a flipped signature byte went unnoticed");

    let mut wrong = valid.clone();
    wrong["EXPECTEDRESULTS"]["EXPECTEDVERIFY"] = false.into();
    assert!(!passes(&wrong), "a valid signature was reported as the expected failure");

    let mut other_key = valid;
    other_key["TESTCTX"]["CERTIFICATE"] = load(&dir, "common/2DCode/raw/CO1.json")["TESTCTX"]["CERTIFICATE"].clone();
    assert!(!passes(&other_key), "another signer's certificate verified the signature");

    let mut swapped_picture = load(&dir, "AT/2DCode/raw/1.json");
    swapped_picture["2DCODE"] = load(&dir, "AT/2DCode/raw/2.json")["2DCODE"].clone();
    assert!(!passes(&swapped_picture), "the QR code of another certificate matched PREFIX");
}
