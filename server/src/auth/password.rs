//! Password hashing: argon2id with the crate's defaults (the OWASP baseline: 19 MiB,
//! two passes), on a few threads of its own because each hash takes tens of
//! milliseconds of CPU by design.
//!
//! One thread per core, fed from a queue: a burst of sign-ins cannot take more than the
//! machine's cores, and the 19 MiB working memory is reused by those threads. (Run on
//! the shared blocking pool, each thread that ever hashed kept its own 19 to 38 MiB in
//! the allocator: the server grew to hundreds of MiB after a few dozen sign-ins.)

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::oneshot;

use crate::error::AppError;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
}

impl Hasher {
    /// Starts the hashing threads; they end when the `Hasher` is dropped.
    pub fn new() -> Result<Self, std::io::Error> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job, never while running one.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            // A panic would end this thread and, one by one, the pool;
                            // it fails that one request instead (its answer is dropped).
                            Ok(job) => {
                                if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                                    tracing::error!("a password hashing job panicked");
                                }
                            }
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
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
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (a dropped request); nothing to do then.
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::Internal("the hashing threads have stopped".into()))?;
        result
            .await
            .map_err(|_| AppError::Internal("a hashing job was dropped".into()))
    }
}
