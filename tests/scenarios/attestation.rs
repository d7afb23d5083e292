//! Key attestation end to end: a signer that attests its key as Android Keystore does
//! (a key made anew with the binding offer's nonce as its challenge, a certificate
//! chain with the KeyDescription extension) binds against a server trusting that
//! chain's root, and the server records the attested assurance, not the claimed one.
//! The chain is generated here (rcgen): a device's own chain ends at Google's root,
//! which no test can sign under.

use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CustomExtension, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use taipei_core::{Assurance, Client, DeviceSigner, KeyAttestation, Platform, SignerError, SoftwareSigner};
use taipei_scenarios::{offer_binding, profile_config, software_platform, start_server_with};
use taipei_server::attestation::PlatformAttestation;
use taipei_server::attestation::android::AndroidKeyAttestation;
use taipei_server::attestation::apple::AppAttest;

/// A test attestation CA: what Google's root and a phone's intermediates are to a device.
struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Self { params, key, der }
    }

    /// A leaf for the key in `pkcs8` carrying a KeyDescription (attestation v200,
    /// `level` for both security levels, `challenge`), as Keystore issues it.
    fn leaf(&self, pkcs8: &[u8], challenge: &[u8], level: u8) -> Vec<u8> {
        let subject = KeyPair::try_from(pkcs8).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.custom_extensions =
            vec![CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17], key_description(challenge, level))];
        let issuer = Issuer::new(self.params.clone(), &self.key);
        params.signed_by(&subject, &issuer).unwrap().der().to_vec()
    }
}

/// `KeyDescription ::= SEQUENCE { attestationVersion INTEGER, attestationSecurityLevel
/// ENUMERATED, keyMintVersion INTEGER, keyMintSecurityLevel ENUMERATED,
/// attestationChallenge OCTET STRING, uniqueId OCTET STRING, softwareEnforced
/// AuthorizationList, hardwareEnforced AuthorizationList }`, with empty lists.
fn key_description(challenge: &[u8], level: u8) -> Vec<u8> {
    let len = u8::try_from(challenge.len()).unwrap();
    let mut body = vec![0x02, 0x02, 0x00, 0xc8, 0x0a, 0x01, level, 0x02, 0x02, 0x00, 0xc8, 0x0a, 0x01, level, 0x04, len];
    body.extend_from_slice(challenge);
    body.extend_from_slice(&[0x04, 0x00, 0x30, 0x00, 0x30, 0x00]);
    let mut der = vec![0x30, u8::try_from(body.len()).unwrap()];
    der.extend(body);
    der
}

/// What KeystoreSigner does, over a software key: `attest` makes the key anew and
/// returns the chain its "key store" issued for it (leaf, then the CA).
struct AttestingSigner {
    ca: TestCa,
    /// `Some`: attest every key with this challenge instead of the one given (a stale chain).
    fixed_challenge: Option<Vec<u8>>,
    key: Mutex<Arc<SoftwareSigner>>,
}

impl AttestingSigner {
    fn new(ca: TestCa, fixed_challenge: Option<Vec<u8>>) -> Self {
        Self { ca, fixed_challenge, key: Mutex::new(Arc::new(SoftwareSigner::generate().unwrap().0)) }
    }

    fn current(&self) -> Arc<SoftwareSigner> {
        Arc::clone(&self.key.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl DeviceSigner for AttestingSigner {
    fn public_key(&self) -> Result<Vec<u8>, SignerError> {
        self.current().public_key()
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.current().sign(message).await
    }

    fn assurance(&self) -> Assurance {
        Assurance::Hardware
    }

    async fn attest(&self, challenge: &[u8]) -> Result<Option<KeyAttestation>, SignerError> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let challenge = self.fixed_challenge.as_deref().unwrap_or(challenge);
        let leaf = self.ca.leaf(pkcs8.as_ref(), challenge, 2);
        *self.key.lock().unwrap() = Arc::new(SoftwareSigner::from_pkcs8(pkcs8.as_ref()).unwrap());
        Ok(Some(KeyAttestation::AndroidKey { chain: vec![leaf, self.ca.der.clone()] }))
    }
}

/// Binds a profile with `signer` against a server whose Android verifier trusts `root`.
async fn bind_with(signer: AttestingSigner, root: Vec<u8>) -> taipei_core::DeviceInfo {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(dir.path(), |config| {
        config.attestation = Arc::new(PlatformAttestation {
            android: AndroidKeyAttestation::with_roots(vec![root]),
            apple: AppAttest::apple(Vec::new(), false),
        });
    })
    .await;
    let signer = Arc::new(signer);
    let platform = Platform { signer: Some(signer.clone() as Arc<dyn DeviceSigner>), ..software_platform(dir.path()) };
    let client = Client::open(profile_config(dir.path(), &server.base_url()), platform).await.unwrap();
    let device = client.bind_device(&offer_binding(&server, "ada").await).await.unwrap();
    assert_eq!(device.public_key, signer.public_key().unwrap(), "the key bound is the one attested");
    // The bound key signs the session's proofs: the binding is usable.
    client.sign_in().await.unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
    device
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attested_key_is_recorded_with_the_attested_assurance() {
    let ca = TestCa::new();
    let root = ca.der.clone();
    // The signer claims `hardware`; the chain says StrongBox, and the server believes the chain.
    let device = bind_with(AttestingSigner::new(ca, None), root).await;
    assert_eq!(device.assurance, Assurance::Strongbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_for_another_challenge_or_root_binds_with_the_claim_only() {
    let ca = TestCa::new();
    let root = ca.der.clone();
    let stale = bind_with(AttestingSigner::new(ca, Some(b"an older binding".to_vec())), root).await;
    assert_eq!(stale.assurance, Assurance::Hardware, "a chain for another binding proves nothing");

    let untrusted = bind_with(AttestingSigner::new(TestCa::new(), None), TestCa::new().der).await;
    assert_eq!(untrusted.assurance, Assurance::Hardware, "a chain to an unknown root proves nothing");
}
