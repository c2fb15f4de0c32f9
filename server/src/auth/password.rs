//! Password hashing: argon2id with the crate's defaults (the OWASP baseline), run on the
//! blocking pool because each hash takes tens of milliseconds of CPU by design.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::AppError;

pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AppError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task: {e}")))?
}

/// Whether `password` matches the stored hash. A hash that cannot be parsed counts as
/// no match (and is logged), so a damaged row locks one account rather than erroring.
pub async fn verify(password: String, stored: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "stored password hash is unreadable");
            false
        }
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task: {e}")))
}

/// A hash to verify against when the username does not exist, so that a wrong name
/// takes as long as a wrong password and does not reveal which names exist.
pub async fn dummy_hash() -> Result<String, AppError> {
    hash("not a real password".to_owned()).await
}
