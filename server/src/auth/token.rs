//! Access tokens: HS256 JWTs that live for minutes and name their session, so a revoked
//! session's tokens stop working at once (every use checks the session row).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user the token acts as.
    pub sub: Uuid,
    /// The session it belongs to.
    pub sid: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("The token has expired.")]
    Expired,
    #[error("The token is not valid.")]
    Invalid,
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// Signs and checks access tokens with one secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        super::hs256::install();
        // Only HS256 is accepted: `alg: none` and every other algorithm are refused, and
        // expiry is exact (no leeway), since the server is the only clock involved.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A fresh token for `user` in `session`, and its expiry (Unix seconds).
    pub fn issue(&self, user: Uuid, session: Uuid) -> Result<(String, i64), TokenError> {
        let iat = clock::unix_now();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user,
            sid: session,
            exp: iat.saturating_add(ttl),
            iat,
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Sign(e.to_string()))?;
        Ok((token, claims.exp))
    }

    /// A token this server signed, expired or not: what it names, for signing out with a
    /// token that has run out.
    pub fn verify_expired_too(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(error) => match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Err(TokenError::Expired),
                _ => Err(TokenError::Invalid),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60))
    }

    #[test]
    fn issued_tokens_verify() {
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, exp) = keys().issue(user, session).expect("sign");
        let claims = keys().verify(&token).expect("verify");
        assert_eq!((claims.sub, claims.sid, claims.exp), (user, session, exp));
    }

    #[test]
    fn other_keys_and_alg_none_are_refused() {
        let (token, _) = keys().issue(Uuid::new_v4(), Uuid::new_v4()).expect("sign");
        let other = TokenKeys::new(b"another secret of enough length!", Duration::from_secs(60));
        assert!(matches!(other.verify(&token), Err(TokenError::Invalid)));
        let payload = token.split('.').nth(1).expect("payload");
        // {"alg":"none","typ":"JWT"}
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(matches!(keys().verify(&none), Err(TokenError::Invalid)));
        assert!(matches!(keys().verify("garbage"), Err(TokenError::Invalid)));
    }
}
