//! Hostile input through everything the wallet reads from outside: scanned text, the
//! bytes behind a `TPC1:`/`HC1:` prefix (so the fuzzer reaches COSE and CBOR without
//! having to learn base45 and zlib), X.509 DER, status lists and contracts. Every
//! input must end in a verdict or a typed error, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use taipei_protocol::b64;
use taipei_protocol::cert::contract::{self, Contract};
use taipei_protocol::cert::lists::{StatusBits, StatusList, TrustList, TrustedIssuer};
use taipei_protocol::cert::verdict::{Lists, verify_text};
use taipei_protocol::cert::x509::Certificate;
use taipei_protocol::cert::{Prefix, key_id, wrap};

fn lists() -> &'static (TrustList, StatusBits) {
    static LISTS: OnceLock<(TrustList, StatusBits)> = OnceLock::new();
    LISTS.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key");
        let public = pair.public_key().as_ref();
        let issuer = TrustedIssuer {
            kid: b64::encode(key_id(public)),
            issuer: "TPE-EDU".into(),
            name: "edu".into(),
            public_key: b64::encode(public),
            not_before_ms: 0,
            not_after_ms: i64::MAX,
            types: vec!["diploma".into(), "eu_dcc".into()],
        };
        let mut bits = StatusBits::with_len(64);
        bits.revoke(3);
        (TrustList { as_of_ms: 1, issuers: vec![issuer], anchors: vec![] }, bits)
    })
}

fuzz_target!(|data: &[u8]| {
    let (trust, bits) = lists();
    let check = |text: &str| {
        let v = verify_text(text, Lists { trust, status: Some((bits, 1)) }, 1_750_000_000_000);
        assert!(!v.reason.is_empty());
    };
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 5 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                check(text);
            }
        }
        1 => check(&wrap(Prefix::Taipei, rest)),
        2 => check(&wrap(Prefix::EuDcc, rest)),
        3 => {
            let _ = Certificate::from_der(rest);
            if let Ok(list) = serde_json::from_slice::<StatusList>(rest) {
                let _ = StatusBits::from_list(&list);
            }
        }
        _ => {
            if let Ok(c) = serde_json::from_slice::<Contract>(rest) {
                let _ = contract::check(&c, &[rest.to_vec()]);
            }
        }
    }
});
