//! What both platforms share: a chain checked by rustls-webpki (ring verifies every
//! signature; validity, basic constraints, path length, key usage and unknown
//! critical extensions are webpki's), and the leaf read with RustCrypto `x509-cert`.

use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;

use super::AttestationError;

/// At most this many certificates in a chain (Android's are 4–5 with the root).
pub const MAX_CHAIN: usize = 8;

/// Verifies `ders` (leaf first, intermediates after; the root may be included) up to
/// one of `roots` at `at_secs`. Returns the leaf, parsed.
pub fn verify(ders: &[Vec<u8>], roots: &[Vec<u8>], at_secs: u64) -> Result<Certificate, AttestationError> {
    let fail = |what: String| AttestationError::Chain(what);
    let Some(leaf_der) = ders.first() else { return Err(fail("no certificate".into())) };
    if ders.len() > MAX_CHAIN {
        return Err(fail(format!("more than {MAX_CHAIN} certificates")));
    }
    let leaf = Certificate::from_der(leaf_der).map_err(|e| fail(format!("leaf is not a DER certificate: {e}")))?;
    let leaf_der = CertificateDer::from(leaf_der.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| fail(format!("leaf: {e}")))?;
    let intermediates: Vec<CertificateDer<'_>> = ders[1..].iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let root_ders: Vec<CertificateDer<'_>> = roots.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let anchors: Vec<_> = root_ders.iter().filter_map(|d| webpki::anchor_from_trusted_cert(d).ok()).collect();
    end_entity
        .verify_for_usage(
            &[
                webpki::ring::ECDSA_P256_SHA256,
                webpki::ring::ECDSA_P256_SHA384,
                webpki::ring::ECDSA_P384_SHA256,
                webpki::ring::ECDSA_P384_SHA384,
                webpki::ring::RSA_PKCS1_2048_8192_SHA256,
                webpki::ring::RSA_PKCS1_2048_8192_SHA384,
                webpki::ring::RSA_PKCS1_2048_8192_SHA512,
            ],
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_secs)),
            // Attestation leaves carry no extended key usage; one that does must
            // allow client authentication at least.
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| {
            fail(match e {
                webpki::Error::CertExpired { .. } => "a certificate of the chain has expired".into(),
                webpki::Error::CertNotValidYet { .. } => "a certificate of the chain is not valid yet".into(),
                webpki::Error::UnknownIssuer => "it does not lead to a trusted attestation root".into(),
                other => other.to_string(),
            })
        })?;
    Ok(leaf)
}

/// The value of the leaf's extension `oid` (dotted), if present.
pub fn extension<'c>(cert: &'c Certificate, oid: &str) -> Option<&'c [u8]> {
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|ext| ext.extn_id.to_string() == oid)
        .map(|ext| ext.extn_value.as_bytes())
}

/// The raw public key bits of a certificate (an EC point for the keys attested here).
pub fn public_key_bits(cert: &Certificate) -> Result<&[u8], AttestationError> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| AttestationError::Format("the attested key is not whole bytes".into()))
}

/// Lowercase hex of a certificate's serial, as Google's status list names it.
pub fn serial_hex(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    let bytes = cert.tbs_certificate().serial_number().as_bytes();
    // The status list drops the leading zero a positive DER integer may carry.
    let trimmed: &[u8] = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    Some(trimmed.iter().map(|b| format!("{b:02x}")).collect::<String>().trim_start_matches('0').to_owned())
}
