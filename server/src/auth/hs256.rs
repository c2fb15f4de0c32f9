//! HS256, the one JWT algorithm the server signs and accepts, as `jsonwebtoken`'s crypto
//! provider. Since version 10 that crate needs a provider; its bundled RustCrypto one also
//! brings RSA, ECDSA and EdDSA (and the `rsa` crate's timing advisory) for algorithms we
//! refuse anyway, and its aws-lc one a C build. This is HMAC-SHA256 from the RustCrypto
//! crates the server already uses, and nothing else: any other algorithm is refused.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::Sha256;
use signature::{Signer, Verifier};

type HmacSha256 = Hmac<Sha256>;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes HS256 the process's JWT provider; later calls do nothing.
pub fn install() {
    if let Err(installed) = PROVIDER.install_default()
        && !std::ptr::eq(installed, &PROVIDER)
    {
        // Tokens are still checked as HS256 only (`TokenKeys`), but not by this code.
        tracing::warn!("another JWT crypto provider was installed first");
    }
}

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        if algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        HmacSha256::new_from_slice(secret)
            .map(Self)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, message: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(message);
        mac
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Compares in constant time.
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.mac(message)
            .verify_slice(tag)
            .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hs256::new(
        *algorithm,
        key.try_get_hmac_secret()?,
    )?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(Hs256::new(
        *algorithm,
        key.try_get_hmac_secret()?,
    )?))
}
