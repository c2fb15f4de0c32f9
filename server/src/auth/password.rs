//! Password hashing: argon2id with the crate's defaults (the OWASP baseline: 19 MiB,
//! two passes), stored as PHC strings, on threads of its own because each hash takes
//! tens of milliseconds of CPU by design.
//!
//! One thread per core, fed from a queue, each with one working buffer it reuses: a
//! burst of sign-ins cannot take more than the machine's cores, and memory stays at one
//! buffer per thread. (Letting argon2 allocate its 19 MiB per hash fragmented the
//! allocator's heaps: the server grew by ~15 MiB per registration.)

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::oneshot;

use crate::error::AppError;

/// A thread's reusable argon2 working memory.
type Memory = Vec<Block>;
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

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
                .spawn(move || work(&queue))?;
        }
        Ok(Self { jobs })
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move |memory| hash(&password, memory)).await?
    }

    /// Whether `password` matches the stored hash. A hash that cannot be read counts as
    /// no match (and is logged), so a damaged row locks one account rather than
    /// erroring.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, AppError> {
        self.run(move |memory| match verify(&password, &stored, memory) {
            Ok(matches) => matches,
            Err(error) => {
                tracing::error!(%error, "stored password hash is unusable");
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The caller may have gone (a dropped request); nothing to do then.
            let _ = done.send(job(memory));
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::Internal("the hashing threads have stopped".into()))?;
        result
            .await
            .map_err(|_| AppError::Internal("a hashing job was dropped".into()))
    }
}

/// A hashing thread: takes jobs until the `Hasher` is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory = Memory::new();
    loop {
        // The lock is held only to take a job, never while running one.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        // A panic would end this thread and, one by one, the pool; it fails that one
        // request instead (its answer is dropped).
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory))).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

fn hash(password: &str, memory: &mut Memory) -> Result<String, AppError> {
    let failed = |e: &dyn std::fmt::Display| AppError::Internal(format!("argon2: {e}"));
    let argon = Argon2::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    derive(&argon, password, salt_bytes, &mut out, memory).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

fn verify(password: &str, stored: &str, memory: &mut Memory) -> Result<bool, String> {
    let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).map_err(|e| e.to_string())?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err("no salt or no hash".into());
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| e.to_string())?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    derive(&argon, password, salt_bytes, &mut out, memory).map_err(|e| e.to_string())?;
    // `Output` compares in constant time.
    Ok(Output::new(&out).map_err(|e| e.to_string())? == expected)
}

/// Argon2 into `out`, in the thread's buffer, grown (once) to what the params need: the
/// same work for hashing a new password and for checking one.
fn derive(
    argon: &Argon2,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Memory,
) -> Result<(), argon2::Error> {
    let blocks = argon.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[test]
    fn hashes_verify_here_and_with_the_argon2_crate() {
        let mut memory = Memory::new();
        let stored = hash("correct horse", &mut memory).expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(verify("correct horse", &stored, &mut memory), Ok(true));
        assert_eq!(verify("wrong horse", &stored, &mut memory), Ok(false));
        let parsed = PasswordHash::new(&stored).expect("PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(verify("x", "not a hash", &mut memory).is_err());
    }
}
