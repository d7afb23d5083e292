//! The TLS setup: rustls with ring; the platform's verifier by default (what the phone
//! trusts, Android's network security config included), or exactly the deployment's own
//! roots when it gives them; optional SPKI pins over either. No root store of our own.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::NetError;

/// `roots_pem`: the deployment's roots, trusted instead of the platform's (a private CA,
/// tests); `None`: the platform's verifier (Apple's trust evaluation, Android's store
/// and the app's network security config, the OS roots on desktops). On Android that
/// verifier calls into the JVM and needs a one-time init with the app's context (the
/// FFI library's JNI entry point, called by the Android glue's `PlatformTrust`): before
/// it, `None` is refused as configuration.
pub fn client_config(roots_pem: Option<&str>, pins: &[String]) -> Result<ClientConfig, NetError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let base: Arc<dyn ServerCertVerifier> = match roots_pem {
        Some(pem) => own_roots(pem, &provider)?,
        None => platform_verifier(&provider)?,
    };
    let pins = pins.iter().map(|p| decode_pin(p)).collect::<Result<Vec<_>, _>>()?;
    let verifier: Arc<dyn ServerCertVerifier> =
        if pins.is_empty() { base } else { Arc::new(Pinned { inner: base, pins }) };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Config(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Set by the FFI library's JNI entry point once rustls-platform-verifier holds the
/// app's JavaVM and context. Without it the Android verifier would panic at the first
/// handshake; a refusal at open names what is missing instead. (Set-able everywhere so
/// the entry point compiles in host test builds; only Android reads it.)
static ANDROID_VERIFIER_READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that `rustls_platform_verifier::android::init_with_env` succeeded.
pub fn android_platform_verifier_ready() {
    ANDROID_VERIFIER_READY.store(true, std::sync::atomic::Ordering::Release);
}

fn platform_verifier(provider: &Arc<rustls::crypto::CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>, NetError> {
    #[cfg(target_os = "android")]
    if !ANDROID_VERIFIER_READY.load(std::sync::atomic::Ordering::Acquire) {
        return Err(NetError::Config(
            "on Android, https without root_certs_pem needs PlatformTrust.init(context) first (it hands the app's \
             context to the platform verifier; TaipeiInitProvider calls it at app start)"
                .into(),
        ));
    }
    let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(provider))
        .map_err(|e| NetError::Config(format!("the platform's certificate store is unusable ({e}); pass root_certs_pem")))?;
    Ok(Arc::new(verifier))
}

fn own_roots(roots_pem: &str, provider: &Arc<rustls::crypto::CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>, NetError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        let cert = cert.map_err(|e| NetError::Config(format!("root certificates: {e}")))?;
        roots.add(cert).map_err(|e| NetError::Config(format!("root certificate refused: {e}")))?;
    }
    if roots.is_empty() {
        return Err(NetError::Config("root_certs_pem holds no certificate".into()));
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| NetError::Config(format!("certificate verifier: {e}")))?;
    Ok(webpki)
}

/// For a loopback-http profile: reqwest still needs a TLS config (without one it
/// reaches for a default provider and panics); this one trusts nothing.
pub fn refuse_all_config() -> Result<ClientConfig, NetError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Config(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RefuseAll(provider)))
        .with_no_client_auth())
}

#[derive(Debug)]
struct RefuseAll(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for RefuseAll {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General("this profile is configured for loopback http only".into()))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no TLS in a loopback profile".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no TLS in a loopback profile".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A pin is base64 (standard or url-safe, padded or not) of SHA-256(SubjectPublicKeyInfo).
fn decode_pin(pin: &str) -> Result<[u8; 32], NetError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = pin.trim().trim_start_matches("sha256/").trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| NetError::Config(format!("SPKI pin {pin:?} is not base64")))?;
    bytes.try_into().map_err(|_| NetError::Config(format!("SPKI pin {pin:?} is not a SHA-256 hash")))
}

/// Normal WebPKI verification, then: some certificate of the chain must carry a
/// pinned key (pinning the CA key survives leaf renewals).
#[derive(Debug)]
struct Pinned {
    inner: Arc<dyn ServerCertVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        let pinned = std::iter::once(end_entity).chain(intermediates).any(|cert| {
            spki_of(cert)
                .map(|spki| {
                    let hash = ring::digest::digest(&ring::digest::SHA256, spki);
                    self.pins.iter().any(|p| p.as_slice() == hash.as_ref())
                })
                .unwrap_or(false)
        });
        if pinned {
            Ok(verified)
        } else {
            Err(rustls::Error::General("no certificate of the chain matches a configured SPKI pin".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// One DER element: (tag, whole element, content, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let total = header.checked_add(len)?;
    if input.len() < total {
        return None;
    }
    Some((tag, &input[..total], &input[header..total], &input[total..]))
}

/// The SubjectPublicKeyInfo element of an X.509 certificate, or None if malformed.
pub(crate) fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, _, cert_body, _) = der_element(cert)?;
    let (_, _, mut tbs, _) = der_element(cert_body)?;
    if tbs.first() == Some(&0xA0) {
        tbs = der_element(tbs)?.3; // explicit version
    }
    // serial, signature algorithm, issuer, validity, subject
    for _ in 0..5 {
        tbs = der_element(tbs)?.3;
    }
    let (tag, whole, _, _) = der_element(tbs)?;
    (tag == 0x30).then_some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    #[test]
    fn spki_is_found_in_a_certificate_shape() {
        let spki = tlv(0x30, &[0x05; 200]);
        let mut tbs = tlv(0xA0, &tlv(0x02, &[2]));
        for _ in 0..5 {
            tbs.extend(tlv(0x30, &[1, 2, 3]));
        }
        tbs.extend(&spki);
        let mut body = tlv(0x30, &tbs);
        body.extend(tlv(0x30, &[]));
        body.extend(tlv(0x03, &[0, 1]));
        let cert = tlv(0x30, &body);
        assert_eq!(spki_of(&cert), Some(spki.as_slice()));
        assert_eq!(spki_of(&cert[..cert.len() - 30]), None);
        assert_eq!(spki_of(b""), None);
    }

    #[test]
    fn pins_and_roots_are_checked_at_configuration() {
        assert!(decode_pin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_ok());
        assert!(decode_pin("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU").is_ok());
        assert!(decode_pin("short").is_err());
        assert!(matches!(client_config(Some(""), &[]), Err(NetError::Config(_))));
        assert!(matches!(
            client_config(Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), &[]),
            Err(NetError::Config(_))
        ));
    }
}
