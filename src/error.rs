//! Error kinds and their exit codes (contract: 0, 1, 2, 3, 75).
use aws_smithy_types::error::display::DisplayErrorContext;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, config, template, unknown stack or missing resource. Nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// Stopped for safety: rolled back, or refused to start.
    #[error("{0}")]
    Safety(String),
    /// Another run holds the stack's lock.
    #[error("{0}")]
    Locked(String),
    /// AWS error after retries, timeout, anything else operational.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => 2,
            Error::Safety(_) => 3,
            Error::Locked(_) => 75,
            Error::Failed(_) => 1,
        }
    }
}

pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

pub fn failed(msg: impl Into<String>) -> Error {
    Error::Failed(msg.into())
}

/// Wraps an SDK error with what we were doing.
pub fn aws<E: std::error::Error>(what: &str, e: E) -> Error {
    let text = format!("{}", DisplayErrorContext(&e));
    Error::Failed(format!("{what}: {}", text.replace('\n', " ")))
}
