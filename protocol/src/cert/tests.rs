//! Round trips, tampering and truncation through the whole pipeline, with real keys.

use ring::signature::{EcdsaKeyPair, KeyPair as _};
use serde_json::json;

use super::*;

const IAT: i64 = 1_700_000_000;
const EXP: i64 = IAT + 86_400;
const NOW_MS: i64 = (IAT + 60) * 1000;

struct Signer {
    pair: EcdsaKeyPair,
    trusted: TrustedKey,
}

fn signer() -> Signer {
    let pair = crate::ecdsa::test_key_pair();
    let public = pair.public_key().as_ref().to_vec();
    let trusted = TrustedKey { kid: key_id(&public), key: VerifyingKey::es256_from_sec1(&public).unwrap() };
    Signer { pair, trusted }
}

fn diploma() -> CertificateBuilder {
    CertificateBuilder::new(Prefix::Taipei)
        .issuer("TW-TPE")
        .issued_at(IAT)
        .expires_at(EXP)
        .claim(-70_001, &json!({"type": "diploma", "name": "王小明", "school": "臺北市立大學", "year": 2024}))
}

fn issue(s: &Signer, builder: &CertificateBuilder) -> String {
    builder.sign(&s.pair, &s.trusted.kid).unwrap()
}

#[test]
fn city_certificate_round_trips() {
    let s = signer();
    let text = issue(&s, &diploma());
    assert!(text.starts_with("TPC1:"));
    // Everything after the prefix is in the QR alphanumeric set.
    assert!(text.bytes().all(|b| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&b)));
    let decoded = verify(&text, std::slice::from_ref(&s.trusted), NOW_MS).unwrap();
    assert_eq!(decoded.prefix, Prefix::Taipei);
    assert_eq!(decoded.cose.algorithm(), Algorithm::Es256);
    assert_eq!(decoded.claims.iss.as_deref(), Some("TW-TPE"));
    assert_eq!((decoded.claims.iat, decoded.claims.exp), (Some(IAT), Some(EXP)));
    assert_eq!(decoded.claims.get(-70_001).unwrap()["school"], "臺北市立大學");
}

#[test]
fn eu_dcc_round_trips_with_integer_hcert_key() {
    let s = signer();
    let dcc = json!({"ver": "1.3.0", "nam": {"fnt": "WANG"}, "dob": "1990-01-01", "r": [{"tg": "840539006"}]});
    let text = issue(&s, &CertificateBuilder::new(Prefix::EuDcc).issued_at(IAT).expires_at(EXP).eu_dcc(&dcc));
    let decoded = verify(&text, &[s.trusted], NOW_MS).unwrap();
    assert_eq!(decoded.claims.eu_dcc(), Some(&dcc));
}

#[test]
fn any_flipped_byte_in_the_signed_message_is_caught() {
    let s = signer();
    let text = issue(&s, &diploma());
    let cose = inflate(&base45_decode(unprefix(&text).unwrap().1).unwrap()).unwrap();
    let trusted = [s.trusted];
    // Every byte of the COSE message: headers, payload and signature alike.
    for i in 0..cose.len() {
        let mut forged = cose.clone();
        forged[i] ^= 0x01;
        let result = verify(&wrap(Prefix::Taipei, &forged), &trusted, NOW_MS);
        assert!(result.is_err(), "flipping byte {i} of {} went unnoticed", cose.len());
    }
    // A letter of the issuer changed: still a well-formed certificate, caught by the signature.
    let payload_at = cose.windows(6).position(|w| w == b"TW-TPE").unwrap();
    let mut forged = cose.clone();
    forged[payload_at] ^= 0x20;
    let result = verify(&wrap(Prefix::Taipei, &forged), &trusted, NOW_MS);
    assert_eq!(result.unwrap_err(), CertError::SignatureInvalid);
    let mut forged = cose;
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    assert_eq!(verify(&wrap(Prefix::Taipei, &forged), &trusted, NOW_MS).unwrap_err(), CertError::SignatureInvalid);
}

#[test]
fn unknown_kid_and_wrong_key_are_refused() {
    let (s, other) = (signer(), signer());
    let text = issue(&s, &diploma());
    assert!(matches!(verify(&text, std::slice::from_ref(&other.trusted), NOW_MS), Err(CertError::UnknownKid(_))));
    // The right kid mapped to someone else's key: a forged trust entry.
    let wrong = TrustedKey { kid: s.trusted.kid.clone(), key: other.trusted.key };
    assert_eq!(verify(&text, &[wrong], NOW_MS).unwrap_err(), CertError::SignatureInvalid);
    assert!(verify(&text, &[], NOW_MS).is_err());
}

#[test]
fn validity_window_is_enforced() {
    let s = signer();
    let text = issue(&s, &diploma());
    let trusted = [s.trusted];
    assert!(verify(&text, &trusted, IAT * 1000).is_ok());
    assert!(verify(&text, &trusted, EXP * 1000).is_ok());
    assert_eq!(verify(&text, &trusted, EXP * 1000 + 1).unwrap_err(), CertError::Expired { exp: EXP, now: EXP });
    assert_eq!(verify(&text, &trusted, IAT * 1000 - 1).unwrap_err(), CertError::NotYetValid { iat: IAT, now: IAT - 1 });
}

#[test]
fn a_certificate_without_exp_does_not_expire() {
    let s = signer();
    let text = issue(&s, &CertificateBuilder::new(Prefix::Taipei).issuer("TW-TPE").issued_at(IAT));
    let far_future = (IAT + 100 * 365 * 86_400) * 1000;
    assert!(verify(&text, &[s.trusted], far_future).is_ok());
}

#[test]
fn truncation_at_every_stage_gives_a_typed_error() {
    let s = signer();
    let text = issue(&s, &diploma());
    let trusted = [s.trusted];
    for cut in 0..text.len() {
        let err = verify(&text[..cut], &trusted, NOW_MS).unwrap_err();
        assert!(
            matches!(err, CertError::UnknownPrefix(_) | CertError::Base45(_) | CertError::Compression(_)),
            "cut at {cut}: {err}"
        );
    }
    let cose = inflate(&base45_decode(unprefix(&text).unwrap().1).unwrap()).unwrap();
    for cut in 0..cose.len() {
        let err = verify(&wrap(Prefix::Taipei, &cose[..cut]), &trusted, NOW_MS).unwrap_err();
        assert!(matches!(err, CertError::Cbor(_) | CertError::Cose(_)), "COSE cut at {cut}: {err}");
    }
}

#[test]
fn prefixes_are_strict() {
    for text in ["HC2:NCF", "HL0:NCF", "NCF", "hc1:NCF", "", "TPC2:x"] {
        assert!(matches!(unprefix(text), Err(CertError::UnknownPrefix(_))), "{text}");
    }
    assert_eq!(unprefix("HC1:ABC").unwrap(), (Prefix::EuDcc, "ABC"));
    assert_eq!(unprefix("TPC1:ABC").unwrap(), (Prefix::Taipei, "ABC"));
}

#[test]
fn base45_refuses_bad_alphabet_and_overflow() {
    assert!(base45_decode("BB8").is_ok());
    assert!(base45_decode("bb8").is_err()); // lower case is not base45
    assert!(base45_decode("GGW").is_err()); // 65536 and above does not fit two bytes
    assert!(base45_decode("A").is_err()); // a lone trailing character
}

#[test]
fn zip_bombs_and_corrupt_streams_are_refused() {
    let bomb = deflate(&vec![0u8; 10 * MAX_COSE_LEN]);
    assert!(bomb.len() < 1024);
    assert_eq!(inflate(&bomb).unwrap_err(), CertError::TooLarge { limit: MAX_COSE_LEN });
    assert!(inflate(&deflate(&vec![7u8; MAX_COSE_LEN])).is_ok());

    let good = deflate(b"hello certificate");
    let mut bad_checksum = good.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    assert!(matches!(inflate(&bad_checksum), Err(CertError::Compression(_))));
    let mut trailing = good;
    trailing.push(0);
    assert!(matches!(inflate(&trailing), Err(CertError::Compression(_))));
    assert!(matches!(inflate(b"not zlib at all"), Err(CertError::Compression(_))));
}

#[test]
fn hostile_cose_is_refused_without_panic() {
    let s = signer();
    let trusted = [s.trusted];
    let cases: Vec<Vec<u8>> = vec![
        vec![0xd2, 0x84, 0x40, 0xa0, 0x40],                   // array claims 4 items, has 3
        vec![0xd2, 0x83, 0x40, 0xa0, 0x40],                   // 3 items
        vec![0xd9, 0xd9, 0xf7, 0x84, 0x40, 0xa0, 0x40, 0x40], // self-describe tag, wrong tag
        vec![0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40],             // detached payload
        vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0xa0, 0x40], // no kid, empty claims
        vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x24, 0xa0, 0x41, 0xa0, 0x40], // alg -5: unsupported
    ];
    for (i, cose) in cases.iter().enumerate() {
        assert!(verify(&wrap(Prefix::EuDcc, cose), &trusted, NOW_MS).is_err(), "case {i}");
    }
    assert_eq!(
        verify(&wrap(Prefix::EuDcc, &cases[4]), &trusted, NOW_MS).unwrap_err(),
        CertError::MissingKid
    );
    assert!(matches!(
        verify(&wrap(Prefix::EuDcc, &cases[5]), &trusted, NOW_MS).unwrap_err(),
        CertError::UnsupportedAlgorithm(_)
    ));
}
