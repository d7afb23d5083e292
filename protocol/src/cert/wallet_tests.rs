//! The wallet's verdicts and contract checks, over every way a certificate can fail.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

use super::city::{CityCertificate, mask_name, sample_diploma};
use super::contract::{self, Contract, ContractSignature, ContractStatus};
use super::lists::{StatusBits, TrustAnchor, TrustList, TrustedIssuer};
use super::verdict::{CheckStatus, Lists, Verdict, VerdictCheck, VerdictKind, verify_text};
use super::{CertificateBuilder, Prefix, key_id};
use crate::b64;

const NOW_MS: i64 = 1_750_000_000_000;
const ISSUED: i64 = 1_740_000_000;

fn key() -> EcdsaKeyPair {
    crate::ecdsa::test_key_pair()
}

fn kid(k: &EcdsaKeyPair) -> Vec<u8> {
    key_id(k.public_key().as_ref())
}

fn entry(k: &EcdsaKeyPair, issuer: &str, types: &[&str]) -> TrustedIssuer {
    TrustedIssuer {
        kid: b64::encode(kid(k)),
        issuer: issuer.into(),
        name: format!("{issuer} agency"),
        public_key: b64::encode(k.public_key().as_ref()),
        not_before_ms: 0,
        not_after_ms: i64::MAX,
        types: types.iter().map(|t| (*t).to_string()).collect(),
    }
}

struct Fixture {
    edu: EcdsaKeyPair,
    trust: TrustList,
    status: StatusBits,
}

fn fixture() -> Fixture {
    let edu = key();
    let trust = TrustList { as_of_ms: NOW_MS - 1000, issuers: vec![entry(&edu, "TPE-EDU", &["diploma"])], anchors: vec![] };
    Fixture { edu, trust, status: StatusBits::with_len(64) }
}

impl Fixture {
    fn verdict(&self, text: &str, now_ms: i64) -> super::verdict::Verdict {
        verify_text(text, Lists { trust: &self.trust, status: Some((&self.status, NOW_MS - 500)) }, now_ms)
    }
}

#[test]
fn a_genuine_diploma_is_valid_and_shows_its_fields() {
    let f = fixture();
    let diploma = sample_diploma("陳小明", 3, ISSUED);
    let text = diploma.sign(&f.edu, &kid(&f.edu)).unwrap();
    assert!(text.starts_with("TPC1:"));
    let v = f.verdict(&text, NOW_MS);
    assert_eq!(v.kind, VerdictKind::Valid, "{}", v.reason);
    assert_eq!(v.certificate.as_ref(), Some(&diploma));
    assert_eq!(v.certificate.unwrap().holder, "陳○明");
    assert_eq!(v.issuer_name.as_deref(), Some("TPE-EDU agency"));
    assert!(v.reason.contains("checked against lists of"), "{}", v.reason);
    // A diploma does not expire: still valid in fifty years.
    assert!(f.verdict(&text, NOW_MS + 50 * 365 * 86_400_000).is_valid());
}

#[test]
fn every_failure_has_its_own_kind() {
    let mut f = fixture();
    let edu_kid = kid(&f.edu);
    let good = sample_diploma("陳小明", 5, ISSUED);
    let text = good.sign(&f.edu, &edu_kid).unwrap();

    // Forged: a stranger's key under the trusted kid.
    let forged = good.sign(&key(), &edu_kid).unwrap();
    assert_eq!(f.verdict(&forged, NOW_MS).kind, VerdictKind::InvalidSignature);
    // Unknown issuer: a key the trust list does not hold.
    let stranger = key();
    assert_eq!(f.verdict(&good.sign(&stranger, &kid(&stranger)).unwrap(), NOW_MS).kind, VerdictKind::UnknownIssuer);
    // A trusted key claiming another agency.
    let other_agency = CityCertificate { issuer: "TPE-SW".into(), ..good.clone() };
    assert_eq!(f.verdict(&other_agency.sign(&f.edu, &edu_kid).unwrap(), NOW_MS).kind, VerdictKind::UnknownIssuer);
    // Not allowed this type.
    let proof = CityCertificate { cert_type: "low_income".into(), ..good.clone() };
    let v = f.verdict(&proof.sign(&f.edu, &edu_kid).unwrap(), NOW_MS);
    assert_eq!(v.kind, VerdictKind::IssuerNotAllowedType);
    assert!(v.reason.contains("low_income"));
    // Expired and not yet valid.
    let visit = CityCertificate { cert_type: "diploma".into(), expires_at: Some(ISSUED + 86_400), ..good.clone() };
    let visit = visit.sign(&f.edu, &edu_kid).unwrap();
    assert_eq!(f.verdict(&visit, NOW_MS).kind, VerdictKind::Expired);
    assert_eq!(f.verdict(&visit, (ISSUED - 10) * 1000).kind, VerdictKind::NotYetValid);
    // Tampered: one character of the base45 changed.
    let mut chars: Vec<char> = text.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert!(matches!(f.verdict(&tampered, NOW_MS).kind, VerdictKind::Tampered | VerdictKind::InvalidSignature));
    assert_eq!(f.verdict("TPC1:%%%%", NOW_MS).kind, VerdictKind::Tampered);
    assert_eq!(f.verdict(&text[..text.len() - 3], NOW_MS).kind, VerdictKind::Tampered);
    // Not a certificate.
    for other in ["", "hello", "https://example.com", "TPL1:1234", "HC2:6BFOXN"] {
        assert_eq!(f.verdict(other, NOW_MS).kind, VerdictKind::NotACertificate, "{other}");
    }
    // Revoked once its bit is set, whatever else holds.
    assert!(f.verdict(&text, NOW_MS).is_valid());
    f.status.revoke(5);
    let v = f.verdict(&text, NOW_MS);
    assert_eq!(v.kind, VerdictKind::Revoked);
    assert_eq!(v.certificate.unwrap().status_index, 5);
    // Without a status list: valid, saying revocation was not checked.
    let v = verify_text(&text, Lists { trust: &f.trust, status: None }, NOW_MS);
    assert!(v.is_valid() && v.reason.contains("not checked"), "{}", v.reason);
}

#[test]
fn an_issuer_key_outside_its_window_is_not_trusted() {
    let mut f = fixture();
    f.trust.issuers[0].not_after_ms = (ISSUED - 1) * 1000;
    let text = sample_diploma("林大華", 1, ISSUED).sign(&f.edu, &kid(&f.edu)).unwrap();
    let v = f.verdict(&text, NOW_MS);
    assert_eq!(v.kind, VerdictKind::UnknownIssuer);
    assert!(v.reason.contains("not valid"));
}

#[test]
fn eu_dccs_run_through_the_same_pipeline() {
    let mut f = fixture();
    let dsc = key();
    let dcc = test_result("1232");
    let text = CertificateBuilder::new(Prefix::EuDcc).issuer("AT").issued_at(ISSUED).eu_dcc(&dcc).sign(&dsc, &kid(&dsc)).unwrap();
    assert_eq!(f.verdict(&text, NOW_MS).kind, VerdictKind::UnknownIssuer);
    f.trust.issuers.push(entry(&dsc, "AT", &["eu_dcc"]));
    let v = f.verdict(&text, NOW_MS);
    assert_eq!(v.kind, VerdictKind::Valid, "{}", v.reason);
    assert_eq!(v.eu_dcc.unwrap()["nam"]["gn"], "Erika");
    assert_eq!(v.format.as_deref(), Some("eu_dcc"));
}

/// An EU DCC test result with the test device `ma`.
fn test_result(device: &str) -> serde_json::Value {
    serde_json::json!({"ver": "1.3.0", "nam": {"fn": "Musterfrau", "gn": "Erika", "fnt": "MUSTERFRAU", "gnt": "ERIKA"},
        "dob": "1964-08-12", "t": [{"tg": "840539006", "tt": "LP217198-3", "ma": device, "sc": "2021-06-01T10:00:00Z",
        "tr": "260415000", "tc": "Teststelle", "co": "AT", "is": "BMSGPK Austria", "ci": "URN:UVCI:01:AT:TEST#1"}]})
}

/// The one failed step of a verdict, checking that the steps run in order, that every
/// check before it passed (or could not be made) and every check after it was not reached.
fn failed_step(v: &Verdict) -> &super::verdict::VerdictStep {
    let codes: Vec<VerdictCheck> = v.steps.iter().map(|s| s.code).collect();
    assert_eq!(codes, VerdictCheck::ALL, "every check once, in order");
    let i = v.steps.iter().position(|s| s.status == CheckStatus::Failed).unwrap_or_else(|| panic!("no failed step: {v:?}"));
    assert!(v.steps[..i].iter().all(|s| s.status != CheckStatus::Failed));
    assert!(v.steps[i + 1..].iter().all(|s| s.status == CheckStatus::NotChecked && s.words.en.contains("earlier check failed")));
    assert_eq!(v.reason, v.steps[i].words.en, "the reason is the failed step's words");
    assert!(!v.steps[i].words.zh.is_empty() && !v.steps[i].words.zh.is_ascii(), "{:?}", v.steps[i].words);
    &v.steps[i]
}

#[test]
fn a_valid_verdict_passes_every_check_and_says_so_in_both_languages() {
    let f = fixture();
    let text = sample_diploma("陳小明", 3, ISSUED).sign(&f.edu, &kid(&f.edu)).unwrap();
    let v = f.verdict(&text, NOW_MS);
    assert!(v.is_valid());
    assert!(v.steps.iter().all(|s| s.status == CheckStatus::Passed && s.detail.is_none()), "{:#?}", v.steps);
    let signature = v.steps.iter().find(|s| s.code == VerdictCheck::Signature).unwrap();
    assert_eq!(signature.words.en, "The signature matches TPE-EDU agency.");
    assert_eq!(signature.words.zh, "簽章與TPE-EDU agency相符。");
    assert_eq!(v.steps.last().unwrap().words.en, "This certificate does not expire.");
    // No status list: valid, with revocation shown as not checked, and why.
    let v = verify_text(&text, Lists { trust: &f.trust, status: None }, NOW_MS);
    let revocation = v.steps.iter().find(|s| s.code == VerdictCheck::Revocation).unwrap();
    assert_eq!((v.kind, revocation.status), (VerdictKind::Valid, CheckStatus::NotChecked));
    assert!(revocation.words.en.contains("no status list yet"), "{:?}", revocation.words);
}

#[test]
fn each_failure_names_its_step_in_plain_words() {
    let mut f = fixture();
    let edu_kid = kid(&f.edu);
    let good = sample_diploma("陳小明", 7, ISSUED);

    // A forged signature: a stranger's key under the trusted kid.
    let forged = f.verdict(&good.sign(&key(), &edu_kid).unwrap(), NOW_MS);
    let step = failed_step(&forged);
    assert_eq!((forged.kind, step.code), (VerdictKind::InvalidSignature, VerdictCheck::Signature));
    assert!(step.words.en.starts_with("This certificate's signature does not match any trusted issuer"), "{:?}", step.words);
    assert!(step.words.zh.contains("簽章"), "{:?}", step.words);
    assert_eq!(step.detail.as_deref(), Some("signature does not verify"));

    // An expired one: the words say when, in Taipei time.
    let visit = CityCertificate { expires_at: Some(ISSUED + 86_400), ..good.clone() }.sign(&f.edu, &edu_kid).unwrap();
    let expired = f.verdict(&visit, NOW_MS);
    let step = failed_step(&expired);
    assert_eq!((expired.kind, step.code), (VerdictKind::Expired, VerdictCheck::Validity));
    let (exp_utc, exp_taipei) = (super::format_rfc3339(ISSUED + 86_400), super::format_rfc3339(ISSUED + 86_400 + 8 * 3600));
    let shown = format!("{} {}", &exp_taipei[..10], &exp_taipei[11..16]);
    assert_eq!(step.words.en, format!("This certificate is past its validity: it expired {shown} (Taipei time)."));
    assert!(step.words.zh.contains(&shown) && step.words.zh.contains("已超過有效期限"), "{:?}", step.words);
    assert!(step.detail.as_deref().unwrap().starts_with("certificate expired at"), "{exp_utc} {:?}", step.detail);

    // A revoked one: its bit set in the status list.
    let text = good.sign(&f.edu, &edu_kid).unwrap();
    f.status.revoke(7);
    let revoked = f.verdict(&text, NOW_MS);
    let step = failed_step(&revoked);
    assert_eq!((revoked.kind, step.code), (VerdictKind::Revoked, VerdictCheck::Revocation));
    assert_eq!(step.words.en, "TPE-EDU agency has revoked this certificate.");
    assert_eq!(step.words.zh, "TPE-EDU agency已撤銷此證明。");

    // A value-set failure: an EU test result naming a test device outside the EU list.
    let dsc = key();
    f.trust.issuers.push(entry(&dsc, "AT", &["eu_dcc"]));
    let sign = |dcc: &serde_json::Value| {
        CertificateBuilder::new(Prefix::EuDcc).issuer("AT").issued_at(ISSUED).eu_dcc(dcc).sign(&dsc, &kid(&dsc)).unwrap()
    };
    let v = f.verdict(&sign(&test_result("1232")), NOW_MS);
    assert!(v.is_valid(), "{:#?}", v.steps);
    assert_eq!(v.steps[2].words.en, "This test result follows the rules of its format.");
    let bad_device = f.verdict(&sign(&test_result("9999")), NOW_MS);
    let step = failed_step(&bad_device);
    assert_eq!((bad_device.kind, step.code), (VerdictKind::Tampered, VerdictCheck::Content));
    assert_eq!(step.words.en, "This test result holds a code that is not on the EU's official lists.");
    assert_eq!(step.words.zh, "此檢驗結果含有不在歐盟官方清單上的代碼。");
    assert!(step.detail.as_deref().unwrap().contains("t[0].ma \"9999\""), "{:?}", step.detail);
    // An EU test result past its expiry is a test result past its validity.
    let late = CertificateBuilder::new(Prefix::EuDcc)
        .issuer("AT")
        .issued_at(ISSUED)
        .expires_at(ISSUED + 3600)
        .eu_dcc(&test_result("1232"))
        .sign(&dsc, &kid(&dsc))
        .unwrap();
    let late = f.verdict(&late, NOW_MS);
    assert!(failed_step(&late).words.en.starts_with("This test result is past its validity"), "{}", late.reason);

    // Before the content: not a certificate, and damaged data.
    let v = f.verdict("https://example.com", NOW_MS);
    assert_eq!(failed_step(&v).code, VerdictCheck::Format);
    let v = f.verdict("TPC1:%%%%", NOW_MS);
    assert_eq!((failed_step(&v).code, v.steps[0].status), (VerdictCheck::Integrity, CheckStatus::Passed));
    // An unknown issuer.
    let stranger = key();
    let v = f.verdict(&good.sign(&stranger, &kid(&stranger)).unwrap(), NOW_MS);
    assert_eq!(failed_step(&v).words.en, "This certificate was not signed by any issuer the city trusts.");
}

#[test]
fn a_verdict_round_trips_through_json_with_stable_names() {
    let f = fixture();
    let text = sample_diploma("陳小明", 3, ISSUED).sign(&key(), &kid(&f.edu)).unwrap();
    let v = f.verdict(&text, NOW_MS);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["kind"], "invalid_signature");
    assert_eq!(json["steps"][4]["code"], "signature");
    assert_eq!(json["steps"][4]["status"], "failed");
    assert_eq!(json["steps"][5]["status"], "not_checked");
    assert!(json["steps"][4]["words"]["zh"].is_string() && json["steps"][4]["words"]["en"].is_string());
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
}

#[test]
fn a_diploma_stays_small_enough_for_paper() {
    let f = fixture();
    let text = sample_diploma("陳小明", 66_700, ISSUED).sign(&f.edu, &kid(&f.edu)).unwrap();
    // Around 580 characters: QR version 15 at level M (alphanumeric holds up to 758).
    assert!(text.len() < 758, "a diploma is {} characters", text.len());
}

#[test]
fn names_are_masked_as_the_city_shows_them() {
    assert_eq!(mask_name("陳小明"), "陳○明");
    assert_eq!(mask_name("王明"), "王○");
    assert_eq!(mask_name("歐陽小明"), "歐○○明");
    assert_eq!(mask_name(""), "");
}

/// A party of a contract chain: its rcgen key (P-256) and certificate parameters.
struct Party {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
}

impl Party {
    fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CountryName, "TW");
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36])];
        Self { key, params }
    }

    fn ca(cn: &str, path_len: u8) -> Self {
        let mut party = Self::new(cn);
        party.params.distinguished_name.push(rcgen::DnType::OrganizationName, "Taipei City Government");
        party.params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(path_len));
        party.params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        party.params.extended_key_usages = vec![];
        party
    }

    fn self_signed(&self) -> Vec<u8> {
        self.params.self_signed(&self.key).unwrap().der().to_vec()
    }

    fn signed_by(&self, issuer: &Self) -> Vec<u8> {
        let issuer = rcgen::Issuer::from_params(&issuer.params, &issuer.key);
        self.params.signed_by(&self.key, &issuer).unwrap().der().to_vec()
    }

    fn pkcs8(&self) -> Vec<u8> {
        self.key.serialize_der()
    }
}

fn sign_contract(c: &mut Contract, pkcs8: &[u8], chain: Vec<Vec<u8>>, signer: &str, at_ms: i64) {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng).unwrap();
    let order = c.signatures.len() as u32 + 1;
    let msg = contract::signature_message(&c.id, &c.document_sha256, order, at_ms, signer);
    let sig = pair.sign(&rng, &msg).unwrap();
    c.signatures.push(ContractSignature {
        order,
        signed_at_ms: at_ms,
        received_at_ms: Some(at_ms + 1_000),
        signer: signer.into(),
        chain: chain.iter().map(b64::encode).collect(),
        signature: b64::encode(sig.as_ref()),
    });
}

fn new_contract() -> Contract {
    Contract {
        id: "C1".into(),
        title: "系統維護契約".into(),
        document_sha256: "ab".repeat(32),
        signatures: vec![],
        voided_at_ms: None,
        void_reason: None,
    }
}

#[test]
fn contract_signatures_chain_to_the_anchor() {
    let ca = Party::ca("Taipei Test CA", 1);
    let ca_der = ca.self_signed();
    let agency = Party::new("臺北市政府資訊局");
    let mut vendor = Party::new("大同資訊");
    vendor.params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x10, 0x02]));
    let mut c = new_contract();
    sign_contract(&mut c, &agency.pkcs8(), vec![agency.signed_by(&ca)], "臺北市政府資訊局", NOW_MS);
    sign_contract(&mut c, &vendor.pkcs8(), vec![vendor.signed_by(&ca)], "大同資訊", NOW_MS + 60_000);
    let anchors = vec![ca_der.clone()];
    let view = contract::check(&c, &anchors);
    assert_eq!(view.status, ContractStatus::Valid, "{:?}", view.signatures);
    assert_eq!(view.signatures[1].subject_dn, "C=TW, CN=大同資訊");
    assert_eq!(view.signatures[1].issuer_dn, "C=TW, CN=Taipei Test CA, O=Taipei City Government");
    assert_eq!(view.signatures[1].serial, "1002");

    // Another document under the same signatures.
    let mut changed = c.clone();
    changed.document_sha256 = "cd".repeat(32);
    assert_eq!(contract::check(&changed, &anchors).status, ContractStatus::Invalid);
    // A signer whose certificate comes from a CA the city does not trust.
    let rogue = Party::ca("Taipei Test CA", 1).self_signed();
    let view = contract::check(&c, &[rogue]);
    assert_eq!(view.status, ContractStatus::Invalid);
    assert!(view.signatures[0].problem.as_deref().unwrap().contains("trust anchor"), "{:?}", view.signatures[0].problem);
    // No anchors at all, and a chain of garbage.
    assert_eq!(contract::check(&c, &[]).status, ContractStatus::Invalid);
    let mut garbage = c.clone();
    garbage.signatures[0].chain = vec![b64::encode([0x30, 0x03, 1, 2, 3])];
    assert_eq!(contract::check(&garbage, &anchors).status, ContractStatus::Invalid);
    // Voided wins over everything and keeps the history.
    let mut voided = c;
    voided.voided_at_ms = Some(NOW_MS + 120_000);
    voided.void_reason = Some("廠商解約".into());
    let view = contract::check(&voided, &anchors);
    assert_eq!(view.status, ContractStatus::Voided);
    assert_eq!(view.signatures.len(), 2);
    // The anchors travel in the trust list.
    let list = TrustList {
        as_of_ms: 0,
        issuers: vec![],
        anchors: vec![TrustAnchor { name: "CA".into(), certificate: b64::encode(&ca_der) }],
    };
    assert_eq!(list.anchor_certificates(), anchors);
}

/// One signature by `signer` (with `chain`) under `anchor`: its problem, if any.
fn problem(signer: &Party, chain: Vec<Vec<u8>>, anchor: &[u8], at_ms: i64) -> Option<String> {
    let mut c = new_contract();
    sign_contract(&mut c, &signer.pkcs8(), chain, "signer", at_ms);
    contract::check(&c, &[anchor.to_vec()]).signatures[0].problem.clone()
}

#[test]
fn contract_chains_are_refused_with_their_reason() {
    let ca = Party::ca("Taipei Test CA", 1);
    let anchor = ca.self_signed();
    let good = Party::new("good");
    assert_eq!(problem(&good, vec![good.signed_by(&ca)], &anchor, NOW_MS), None);

    // An extension the verifier does not understand, marked critical.
    let mut odd = Party::new("odd");
    let mut ext = rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 7], vec![0x05, 0x00]);
    ext.set_criticality(true);
    odd.params.custom_extensions = vec![ext];
    let why = problem(&odd, vec![odd.signed_by(&ca)], &anchor, NOW_MS).unwrap();
    assert!(why.contains("unknown critical extension 1.3.6.1.4.1.99999.7"), "{why}");

    // A certificate for TLS servers, not for signing documents.
    let mut tls = Party::new("tls");
    tls.params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let why = problem(&tls, vec![tls.signed_by(&ca)], &anchor, NOW_MS).unwrap();
    assert!(why.contains("not for signing documents") && why.contains("1.3.6.1.5.5.7.3.1"), "{why}");

    // The root allows one CA below it; a chain of two intermediates is one too many.
    let first = Party::ca("first", 5);
    let second = Party::ca("second", 5);
    let deep = Party::new("deep");
    let chain = vec![deep.signed_by(&second), second.signed_by(&first), first.signed_by(&ca)];
    let why = problem(&deep, chain, &anchor, NOW_MS).unwrap();
    assert!(why.contains("path length"), "{why}");
    // One intermediate is within the limit.
    let shallow = Party::new("shallow");
    assert_eq!(problem(&shallow, vec![shallow.signed_by(&first), first.signed_by(&ca)], &anchor, NOW_MS), None);

    // Outside validity at the time the server received it, whatever the signer claims.
    let mut lapsed = Party::new("lapsed");
    lapsed.params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    let chain = vec![lapsed.signed_by(&ca)];
    let after = 1_760_000_000_000; // 2025-10
    let why = problem(&lapsed, chain.clone(), &anchor, after).unwrap();
    assert!(why.contains("was not valid when the server received"), "{why}");
    let mut c = new_contract();
    sign_contract(&mut c, &lapsed.pkcs8(), chain.clone(), "signer", 1_700_000_000_000);
    c.signatures[0].received_at_ms = Some(after);
    let why = contract::check(&c, &[anchor.clone()]).signatures[0].problem.clone().unwrap();
    assert!(why.contains("not valid when the server received"), "a backdated claim must not help: {why}");
    // A signature the server never recorded has no trusted time.
    c.signatures[0].received_at_ms = None;
    let why = contract::check(&c, &[anchor]).signatures[0].problem.clone().unwrap();
    assert!(why.contains("no time of receipt"), "{why}");
}
