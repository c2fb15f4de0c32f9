//! Password hashing: argon2id with the crate's defaults (the OWASP baseline: 19 MiB,
//! two passes), off the async threads because each hash takes tens of milliseconds of
//! CPU by design.
//!
//! At most one hash per core runs at a time, the rest wait their turn: a burst of
//! sign-ins cannot take every core, and the allocator keeps the 19 MiB working memory
//! in that many arenas only (each thread that ever hashed would otherwise keep one).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::error::AppError;

#[derive(Debug)]
pub struct Hasher {
    turns: Semaphore,
}

impl Hasher {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            turns: Semaphore::new(cores),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| AppError::Internal(format!("argon2: {e}")))
        })
        .await?
    }

    /// Whether `password` matches the stored hash. A hash that cannot be parsed counts
    /// as no match (and is logged), so a damaged row locks one account rather than
    /// erroring.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, AppError> {
        self.run(move || match PasswordHash::new(&stored) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(error) => {
                tracing::error!(%error, "stored password hash is unreadable");
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _turn = self
            .turns
            .acquire()
            .await
            .map_err(|e| AppError::Internal(format!("hashing queue: {e}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AppError::Internal(format!("hashing task: {e}")))
    }
}
