//! Random identifiers and secrets, all from ring's system RNG.

use ring::rand::{SecureRandom, SystemRandom};
use taipei_protocol::b64;

/// `N` random bytes. A failing system RNG has no safe fallback: the request fails.
pub fn bytes<const N: usize>() -> Result<[u8; N], crate::error::ApiError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| crate::error::ApiError::internal("system random generator failed"))?;
    Ok(out)
}

/// A 16-byte identifier, base64url.
pub fn id() -> Result<String, crate::error::ApiError> {
    Ok(b64::encode(bytes::<16>()?))
}

/// A 32-byte secret, base64url. Used at configuration time, where a failing RNG
/// must stop the process rather than yield a guessable token.
pub fn token() -> String {
    let mut out = [0u8; 32];
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut out)
        .expect("system random generator unavailable");
    b64::encode(out)
}
