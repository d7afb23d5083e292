//! Runs the EU DCC conformance cases of a folder through `taipei_protocol::cert`.
//! The format logic all lives there; this file adds what needs the outside world:
//! the folder walk, the known-issues file, and the picture step, which reads each
//! case's QR code with the core's own QR engine.
//!
//! The scenario test includes this same file, so the CLI and the test run one pipeline.

use std::path::{Path, PathBuf};

use taipei_protocol::cert::conformance::{self, CaseReport, KnownIssues};

/// Reads the QR code in a PNG with the core's QR engine.
pub fn read_picture(png: &[u8]) -> Result<String, String> {
    let codes = taipei_core::qr::decode_image(png).map_err(|e| e.to_string())?;
    codes.into_iter().next().map(|code| code.text).ok_or_else(|| "no QR code found in the picture".to_string())
}

/// Every case of a run, and the JSON files that were not cases.
#[derive(Debug, Default)]
pub struct Run {
    pub reports: Vec<CaseReport>,
    pub not_cases: Vec<String>,
    pub known_issues_file: Option<PathBuf>,
}

impl Run {
    pub fn failed(&self) -> usize {
        self.reports.iter().filter(|r| !r.passed()).count()
    }

    pub fn passed(&self) -> usize {
        self.reports.len() - self.failed()
    }

    /// The report, one block per case; the last line is exactly `N passed, N failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for report in &self.reports {
            let verdict = match (report.passed(), report.failed_on_data_defects()) {
                (true, _) => "PASS",
                (false, true) => "FAIL (upstream data defect)",
                (false, false) => "FAIL",
            };
            out += &format!("{verdict} {} — {}\n", report.name, report.description);
            for flag in &report.flags {
                out += &format!("    {}\n", flag.describe());
            }
        }
        for name in &self.not_cases {
            out += &format!("skipped {name}: not a test case (no EXPECTEDRESULTS)\n");
        }
        let known = self.reports.iter().flat_map(|r| &r.flags).filter(|f| f.known_issue.is_some()).count();
        if known > 0 {
            let file = self.known_issues_file.as_deref().map(Path::display);
            out += &format!(
                "{known} check(s) differ as upstream's known_issues.csv ({}) lists; reported as known issues, not failures\n",
                file.map(|f| f.to_string()).unwrap_or_default()
            );
        }
        let defects = self.reports.iter().filter(|r| r.failed_on_data_defects()).count();
        if defects > 0 {
            out += &format!(
                "{defects} of the failed case(s) fail only where their own data contradicts itself (UPSTREAM DATA DEFECT, evidence above)\n"
            );
        }
        out += &format!("{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// `known_issues.csv` in the folder or the nearest folder above it, beside the cases
/// (as `../shared/testdata/eu-dcc` has it) or in a `tests/` folder there (as a clone of
/// the upstream repository has it).
fn find_known_issues(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|d| [d.join("known_issues.csv"), d.join("tests").join("known_issues.csv")])
        .find(|p| p.is_file())
}

/// The member state a case belongs to, as upstream's `known_issues.csv` names it:
/// the nearest folder above `2DCode` named like a country code (`PL` in
/// `PL/1.3.0/2DCode/raw/6.json`) or `common`, else the folder above `2DCode`, else
/// the first folder under the root.
fn country_of(path: &Path, relative: &Path) -> String {
    let name = |c: std::path::Component<'_>| c.as_os_str().to_string_lossy().into_owned();
    let parts: Vec<String> = path.components().map(name).collect();
    let two_d = parts.iter().position(|p| p.eq_ignore_ascii_case("2DCode"));
    let is_country = |p: &String| {
        p.eq_ignore_ascii_case("common") || ((2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_uppercase()))
    };
    let before = &parts[..two_d.unwrap_or(0)];
    if let Some(country) = before.iter().rev().find(|p| is_country(p)) {
        return country.clone();
    }
    match two_d {
        Some(i) if i > 0 => parts[i - 1].clone(),
        _ => relative.components().next().map(name).unwrap_or_default(),
    }
}

/// Runs every case file under `dir`, recursively, in path order.
pub fn run_dir(dir: &Path) -> Result<Run, String> {
    // Absolute, so the country folder and known_issues.csv are found above a `.` too.
    let dir = &std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    json_files(dir, &mut files)?;
    files.sort();
    let known_issues_file = find_known_issues(dir);
    let known = match &known_issues_file {
        Some(path) => KnownIssues::parse(&std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => KnownIssues::default(),
    };
    let mut run = Run { known_issues_file, ..Run::default() };
    for path in files {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        let name = relative.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                // An unreadable case file must not pass silently.
                run.reports.push(CaseReport { name, description: e.to_string(), flags: vec![case_file_failure("could not be read", None)] });
                continue;
            }
        };
        let case: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(case) => case,
            Err(e) => {
                // Read but not JSON: upstream's own harness cannot load the file either,
                // so the case is the data's fault; it still counts as failed.
                let evidence = format!("the case file is not JSON ({e}); no JSON reader, upstream's included, loads it");
                run.reports.push(CaseReport {
                    name,
                    description: format!("not JSON: {e}"),
                    flags: vec![case_file_failure("could not be read", Some(evidence))],
                });
                continue;
            }
        };
        if !conformance::is_case(&case) {
            // Expectations written outside EXPECTEDRESULTS make a case no harness can
            // run: it fails as the data's defect rather than being skipped.
            match conformance::misplaced_expectations(&case) {
                Some(evidence) => run.reports.push(CaseReport {
                    name,
                    description: "expectations outside EXPECTEDRESULTS".into(),
                    flags: vec![case_file_failure("has no EXPECTEDRESULTS", Some(evidence))],
                }),
                None => run.not_cases.push(name),
            }
            continue;
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let report = conformance::check_case(&name, &country_of(&path, relative), &stem, &case, &known, &read_picture);
        run.reports.push(report);
    }
    Ok(run)
}

fn case_file_failure(why: &str, defect: Option<String>) -> conformance::FlagResult {
    conformance::FlagResult {
        flag: "(case file)".into(),
        expected: true,
        found: Some(Err(why.into())),
        known_issue: None,
        defect,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_file_that_is_not_json_fails_as_a_data_defect() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("ES/2DCode/raw");
        std::fs::create_dir_all(&raw).unwrap();
        // Upstream ES 1201's opening: a JSON object written as a string without escapes.
        std::fs::write(raw.join("1201.json"), br#"{"JSON":"{"ver":"1.0.0"}"}"#).unwrap();
        let run = run_dir(dir.path()).unwrap();
        assert_eq!((run.passed(), run.failed()), (0, 1));
        let report = &run.reports[0];
        assert!(report.failed_on_data_defects(), "{report:?}");
        assert!(report.flags[0].describe().contains("UPSTREAM DATA DEFECT: the case file is not JSON"));
    }

    #[test]
    fn expectations_outside_expectedresults_fail_and_other_json_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("BG/2DCode/raw");
        std::fs::create_dir_all(&raw).unwrap();
        // Upstream BG 1's shape: its flags inside TESTCTX.
        std::fs::write(raw.join("1.json"), br#"{"JSON":{},"TESTCTX":{"EXPECTEDVERIFY":true}}"#).unwrap();
        std::fs::write(dir.path().join("BG/notes.json"), br#"{"author":"x"}"#).unwrap();
        let run = run_dir(dir.path()).unwrap();
        assert_eq!((run.passed(), run.failed()), (0, 1));
        assert!(run.reports[0].failed_on_data_defects(), "{:?}", run.reports[0]);
        assert!(run.reports[0].flags[0].describe().contains(".TESTCTX.EXPECTEDVERIFY"));
        assert_eq!(run.not_cases, ["BG/notes.json"]);
    }

    #[test]
    fn known_issues_are_found_beside_the_cases_or_in_an_upstream_clones_tests_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cases = dir.path().join("PL/1.3.0/2DCode/raw");
        std::fs::create_dir_all(&cases).unwrap();
        assert_eq!(find_known_issues(&cases), None);
        std::fs::create_dir_all(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/known_issues.csv"), "").unwrap();
        assert_eq!(find_known_issues(&cases), Some(dir.path().join("tests/known_issues.csv")));
        std::fs::write(dir.path().join("PL/known_issues.csv"), "").unwrap();
        assert_eq!(find_known_issues(&cases), Some(dir.path().join("PL/known_issues.csv")), "the nearest wins");
    }
}
