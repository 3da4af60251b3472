//! Error kinds and their exit codes (contract: 0, 1, 2, 3, 75; 130, 143, 129 for signals).
use aws_smithy_types::error::display::DisplayErrorContext;

pub type Result<T, E = Error> = std::result::Result<T, E>;

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// The state record changed under this run (a compare-and-set was lost).
    #[error("{0}")]
    Conflict(String),
    /// An AWS call failed after the SDK's retries.
    #[error("{what}: {detail}")]
    Aws {
        what: String,
        detail: String,
        #[source]
        source: Source,
    },
    /// Anything else operational: timeouts, surprising answers.
    #[error("{0}")]
    Failed(String),
    /// Ctrl-C, SIGTERM or SIGHUP (the exit code: 130, 143, 129); the state is recorded.
    #[error("interrupted")]
    Interrupted(u8),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => 2,
            Error::Safety(_) => 3,
            Error::Locked(_) => 75,
            Error::Conflict(_) | Error::Aws { .. } | Error::Failed(_) => 1,
            Error::Interrupted(code) => *code,
        }
    }
}

pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

pub fn failed(msg: impl Into<String>) -> Error {
    Error::Failed(msg.into())
}

pub fn safety(msg: impl Into<String>) -> Error {
    Error::Safety(msg.into())
}

/// Wraps an SDK error with what we were doing; the error itself is kept as the source.
pub fn aws<E: std::error::Error + Send + Sync + 'static>(what: &str, e: E) -> Error {
    let detail = format!("{}", DisplayErrorContext(&e)).replace('\n', " ");
    Error::Aws {
        what: what.into(),
        detail,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(invalid("x").exit_code(), 2);
        assert_eq!(safety("x").exit_code(), 3);
        assert_eq!(Error::Locked("x".into()).exit_code(), 75);
        assert_eq!(Error::Conflict("x".into()).exit_code(), 1);
        assert_eq!(Error::Interrupted(130).exit_code(), 130);
        assert_eq!(Error::Interrupted(143).exit_code(), 143);
        let e = aws("describe", std::io::Error::other("boom"));
        assert_eq!(e.exit_code(), 1);
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("describe: boom"));
    }
}
