use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("step '{step}' failed ({status})")]
    StepFailed { step: String, status: String },
    #[error("could not start '{program}': {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the server did not come up; its log is {log}")]
    ServerDidNotStart { log: PathBuf },
    #[error("the server exited before it served; its log is {log}")]
    ServerExited { log: PathBuf },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
