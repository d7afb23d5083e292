//! Apple App Attest: the attestation object (CBOR, read with `ciborium`), the x5c
//! chain to Apple's App Attestation root, the nonce extension and the authenticator
//! data.

use ciborium::Value;
use taipei_protocol::api::Assurance;
use taipei_protocol::b64;
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::{AnyRef, OctetStringRef};

use super::{AttestationError, Attested, Evidence, chain, pem_certificates, sha256};

pub const PREFIX: &str = "apple-appattest:";
pub const NONCE_OID: &str = "1.2.840.113635.100.8.2";
const FORMAT: &str = "apple-appattest";
const AAGUID_PRODUCTION: &[u8; 16] = b"appattest\0\0\0\0\0\0\0";
const AAGUID_DEVELOPMENT: &[u8; 16] = b"appattestdevelop";

/// Apple's App Attestation root (P-384, valid 2020–2045), from
/// www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem; SHA-256
/// 1cb9823b…62c932.
const APPLE_ROOT_PEM: &str = include_str!("apple_app_attestation_root_ca.pem");

/// The App Attest verifier: the root, the apps whose keys count, and whether
/// development builds (`appattestdevelop`) do.
#[derive(Debug, Clone)]
pub struct AppAttest {
    roots: Vec<Vec<u8>>,
    /// `TEAMID.bundle.id`.
    app_ids: Vec<String>,
    allow_development: bool,
}

fn format(what: impl Into<String>) -> AttestationError {
    AttestationError::Format(what.into())
}

/// The parts of the authenticator data checked here.
struct AuthData<'a> {
    rp_id_hash: &'a [u8],
    counter: u32,
    aaguid: &'a [u8],
    credential_id: &'a [u8],
}

fn auth_data(bytes: &[u8]) -> Result<AuthData<'_>, AttestationError> {
    // rpIdHash(32) flags(1) counter(4) aaguid(16) credentialIdLength(2) credentialId …
    let short = || format("authData is too short");
    let fixed = bytes.get(..55).ok_or_else(short)?;
    let id_len = usize::from(u16::from_be_bytes([fixed[53], fixed[54]]));
    Ok(AuthData {
        rp_id_hash: &fixed[..32],
        counter: u32::from_be_bytes([fixed[33], fixed[34], fixed[35], fixed[36]]),
        aaguid: &fixed[37..53],
        credential_id: bytes.get(55..55 + id_len).ok_or_else(short)?,
    })
}

fn field<'v>(map: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    map.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
}

impl AppAttest {
    /// Apple's root; `app_ids` as `TEAMID.bundle.id`.
    pub fn apple(app_ids: Vec<String>, allow_development: bool) -> Self {
        Self { roots: pem_certificates(APPLE_ROOT_PEM), app_ids, allow_development }
    }

    /// Another root (DER), for tests.
    pub fn with_roots(roots: Vec<Vec<u8>>, app_ids: Vec<String>, allow_development: bool) -> Self {
        Self { roots, app_ids, allow_development }
    }

    /// Allows one more app (`TEAMID.bundle.id`).
    pub fn allow_app(mut self, app_id: impl Into<String>) -> Self {
        self.app_ids.push(app_id.into());
        self
    }

    pub fn verify(&self, text: &str, evidence: &Evidence<'_>) -> Result<Attested, AttestationError> {
        let bytes = b64::decode(text).map_err(|_| format("the attestation object is not base64url"))?;
        let object: Value = ciborium::de::from_reader(bytes.as_slice()).map_err(|e| format(format!("CBOR: {e}")))?;
        let map = object.as_map().ok_or_else(|| format("the attestation object is not a map"))?;
        if field(map, "fmt").and_then(Value::as_text) != Some(FORMAT) {
            return Err(format(format!("fmt is not {FORMAT}")));
        }
        let statement = field(map, "attStmt").and_then(Value::as_map).ok_or_else(|| format("no attStmt"))?;
        let x5c = field(statement, "x5c").and_then(Value::as_array).ok_or_else(|| format("no attStmt.x5c"))?;
        let ders: Vec<Vec<u8>> = x5c
            .iter()
            .take(chain::MAX_CHAIN + 1)
            .map(|c| c.as_bytes().cloned().ok_or_else(|| format("an x5c entry is not bytes")))
            .collect::<Result<_, _>>()?;
        let auth_bytes = field(map, "authData").and_then(Value::as_bytes).ok_or_else(|| format("no authData"))?;

        let cred_cert = chain::verify(&ders, &self.roots, evidence.at_secs)?;
        let mut composite = auth_bytes.clone();
        composite.extend_from_slice(&sha256(evidence.client_data));
        let nonce = sha256(&composite);
        let extension = chain::extension(&cred_cert, NONCE_OID).ok_or_else(|| format("the credential certificate has no nonce"))?;
        // SEQUENCE { [1] EXPLICIT OCTET STRING nonce }
        let bad = |e: x509_cert::der::Error| format(format!("nonce extension: {e}"));
        let sequence = AnyRef::from_der(extension).map_err(bad)?;
        let tagged = AnyRef::from_der(sequence.value()).map_err(bad)?;
        let found = <&OctetStringRef>::from_der(tagged.value()).map_err(bad)?;
        if found.as_bytes() != nonce {
            return Err(AttestationError::Challenge);
        }

        let auth = auth_data(auth_bytes)?;
        if !self.app_ids.iter().any(|id| sha256(id.as_bytes()) == auth.rp_id_hash) {
            return Err(AttestationError::Policy("the attested app is not one of this server's apps".into()));
        }
        if auth.counter != 0 {
            return Err(AttestationError::Policy(format!("counter is {}, not 0", auth.counter)));
        }
        let environment = match auth.aaguid {
            a if a == AAGUID_PRODUCTION => "production",
            a if a == AAGUID_DEVELOPMENT && self.allow_development => "development",
            a if a == AAGUID_DEVELOPMENT => {
                return Err(AttestationError::Policy("a development build's attestation (not allowed here)".into()));
            }
            _ => return Err(format("aaguid is not App Attest's")),
        };
        let key_id = sha256(chain::public_key_bits(&cred_cert)?);
        if auth.credential_id != key_id {
            return Err(AttestationError::WrongKey);
        }
        Ok(Attested { format: FORMAT, assurance: Assurance::Hardware, detail: format!("App Attest {environment}") })
    }
}
