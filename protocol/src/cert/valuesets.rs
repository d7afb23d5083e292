//! The EU DCC value sets (eHealth Network): which codes a DCC's coded fields may
//! hold. Schema 1.0.x listed most of them as enumerations inside the schema; from
//! 1.1.0 the schema refers to the published value-set files instead. Either way a
//! code outside the set fails schema validation, so `dcc::validate_schema` checks
//! them for every 1.x version: disease, vaccine type, product and holder, test
//! device, test result and country. The test type never had an enumeration (1.0.x
//! issuers wrote free text there) and is left unchecked. The codes are vendored in `valuesets/valuesets.json`, each set with
//! the upstream file and commit it was taken from (display names left out); a code
//! retired upstream stays listed, as certificates issued with it stay valid.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::CertError;
use super::dcc::DccKind;

const DATA: &str = include_str!("valuesets/valuesets.json");

/// A value set: its upstream id and its codes.
#[derive(Debug)]
pub struct ValueSet {
    pub id: String,
    pub codes: HashSet<String>,
}

fn sets() -> &'static HashMap<String, ValueSet> {
    static SETS: OnceLock<HashMap<String, ValueSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        // A damaged data file leaves the sets empty, which refuses every code: a
        // unit test keeps the file readable.
        let doc: Json = serde_json::from_str(DATA).unwrap_or(Json::Null);
        doc["sets"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, set)| {
                let codes = set["codes"].as_array().into_iter().flatten().filter_map(Json::as_str);
                let id = set["valueSetId"].as_str().unwrap_or(name).to_string();
                (name.clone(), ValueSet { id, codes: codes.map(str::to_string).collect() })
            })
            .collect()
    })
}

/// LOINC type of a nucleic acid amplification test (PCR): its entries name no device.
const NAAT: &str = "LP6464-4";

/// The value set a field of an entry of `kind` is coded in, if it is coded.
fn set_for(kind: DccKind, field: &str) -> Option<&'static str> {
    Some(match (kind, field) {
        (_, "tg") => "disease-agent-targeted",
        (_, "co") => "country-2-codes",
        (DccKind::Vaccination, "vp") => "vaccine-prophylaxis",
        (DccKind::Vaccination, "mp") => "vaccine-medicinal-product",
        (DccKind::Vaccination, "ma") => "vaccine-mah-manf",
        (DccKind::Test, "ma") => "test-manf",
        (DccKind::Test, "tr") => "test-result",
        _ => return None,
    })
}

/// Checks every coded field an entry carries against its value set; `at` names the
/// entry in the error (`v[0]`).
pub fn check_entry(kind: DccKind, entry: &Json, at: &str) -> Result<(), CertError> {
    let Some(fields) = entry.as_object() else { return Ok(()) };
    for (field, value) in fields {
        let Some(name) = set_for(kind, field) else { continue };
        // The device list holds rapid antigen tests only; a NAAT entry's `ma` names no
        // listed device (upstream NAAT cases carry `""`), so it is not coded there.
        if kind == DccKind::Test && field == "ma" && fields.get("tt").and_then(Json::as_str) == Some(NAAT) {
            continue;
        }
        let set = sets().get(name).ok_or_else(|| CertError::Schema(format!("the value set {name} is not available")))?;
        let code = value.as_str().ok_or_else(|| CertError::Schema(format!("{at}.{field} is not a string")))?;
        if !set.codes.contains(code) {
            return Err(CertError::Schema(format!("{at}.{field} {code:?} is not in the EU value set {}", set.id)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_naat_test_names_no_listed_device_but_a_rapid_test_must() {
        let naat = json!({"tg": "840539006", "tt": "LP6464-4", "ma": "", "tr": "260415000"});
        check_entry(DccKind::Test, &naat, "t[0]").unwrap();
        let rapid = json!({"tg": "840539006", "tt": "LP217198-3", "ma": "", "tr": "260415000"});
        assert!(check_entry(DccKind::Test, &rapid, "t[0]").unwrap_err().to_string().contains("t[0].ma"));
    }

    #[test]
    fn every_coded_field_has_its_vendored_set() {
        for (kind, field) in [(DccKind::Vaccination, "vp"), (DccKind::Vaccination, "mp"), (DccKind::Vaccination, "ma"),
            (DccKind::Test, "ma"), (DccKind::Test, "tr"), (DccKind::Recovery, "tg"), (DccKind::Recovery, "co")]
        {
            let name = set_for(kind, field).unwrap();
            assert!(!sets()[name].codes.is_empty(), "{name}");
        }
        assert_eq!(sets()["country-2-codes"].codes.len(), 250, "ISO 3166 alpha-2 and XK");
    }

    #[test]
    fn the_test_devices_are_the_2021_08_25_list_and_keep_every_earlier_code() {
        let doc: Json = serde_json::from_str(DATA).unwrap();
        assert_eq!(doc["sets"]["test-manf"]["valueSetDate"], "2021-08-25");
        let devices = &sets()["test-manf"].codes;
        assert_eq!(devices.len(), 142);
        // Listed since 2021-07-15, and added by 2021-08-25 (ECOTEST, LIAISON Quick Detect).
        for code in ["1232", "1833", "2350", "2290"] {
            check_entry(DccKind::Test, &json!({ "ma": code }), "t[0]").unwrap();
        }
    }

    #[test]
    fn codes_outside_the_sets_are_refused_with_the_field_and_set() {
        let test = json!({"tg": "840539006", "tt": "LP217198-3", "ma": "1232", "tr": "260415000", "co": "PL"});
        check_entry(DccKind::Test, &test, "t[0]").unwrap();
        for (field, bad) in [("ma", "9999"), ("co", "XY"), ("tr", "1"), ("tg", "12345")] {
            let mut entry = test.clone();
            entry[field] = json!(bad);
            let err = check_entry(DccKind::Test, &entry, "t[0]").unwrap_err().to_string();
            assert!(err.contains(&format!("t[0].{field}")) && err.contains(bad), "{err}");
        }
        // The test type is free text in every schema version (issuers wrote
        // "COVID-19 test" under 1.0.x), so it is not checked.
        let mut free_type = test.clone();
        free_type["tt"] = json!("COVID-19 test");
        check_entry(DccKind::Test, &free_type, "t[0]").unwrap();
        // A vaccination's `ma` is a marketing authorisation holder, not a test device.
        let err = check_entry(DccKind::Vaccination, &json!({"ma": "1232"}), "v[0]").unwrap_err();
        assert!(err.to_string().contains("vaccines-covid-19-auth-holders"), "{err}");
    }
}
