//! Refresh tokens: 256 random bits for the cookie; only their SHA-256 is stored, so a
//! copy of the database holds no refresh token to sign in with. (It does hold the
//! access tokens' signing secret when the server generated it: `--jwt-secret` keeps that
//! out of the database.)

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(..)")
    }
}

impl RefreshToken {
    pub fn generate() -> Self {
        Self(random_base64(32))
    }

    /// The value for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        Self::hash_of(&self.0)
    }

    pub fn hash_of(token: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
    }
}

/// `bytes` random bytes from the OS, URL-safe base64: refresh tokens and the generated
/// JWT secret.
pub fn random_base64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(a.hash(), RefreshToken::hash_of(a.as_str()));
        assert_ne!(a.hash(), a.as_str());
    }
}
