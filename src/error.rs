//! Error kinds and their exit codes (contract: 0, 1, 2, 3, 75; 130, 143, 129
//! for signals). An AWS failure becomes one line in the user's words: the
//! service, the operation, AWS's code, message and request id; the SDK's own
//! error stays the source, for `-v`.
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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

impl Error {
    /// A short machine name of the kind, for `-o json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Safety(_) => "safety",
            Error::Locked(_) => "locked",
            Error::Conflict(_) => "conflict",
            Error::Aws { .. } => "aws",
            Error::Failed(_) => "failed",
            Error::Interrupted(_) => "interrupted",
        }
    }

    /// The cause chain, for `-v`.
    pub fn chain(&self) -> Option<String> {
        use std::error::Error as _;
        self.source()
            .map(|s| format!("{}", DisplayErrorContext(s)).replace('\n', " "))
    }
}

/// An SDK call's failure, described in one line.
pub trait AwsFailure: std::error::Error + Send + Sync + 'static {
    fn describe(&self) -> String;
}

impl<E, R> AwsFailure for SdkError<E, R>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn describe(&self) -> String {
        let (service, op) = service_operation::<E>();
        let call = format!("{service} {op}");
        let chain = format!("{}", DisplayErrorContext(self));
        match self {
            SdkError::ServiceError(_) => {
                let m = self.meta();
                let code = m.code().unwrap_or("UnknownError");
                let msg = m.message().map(|s| format!(": {}", one_line(s))).unwrap_or_default();
                let id = m
                    .extra("aws_request_id")
                    .map(|i| format!(" (request id {i})"))
                    .unwrap_or_default();
                format!("{call} failed: {code}{msg}{id}")
            }
            _ if chain.contains("credentials") || chain.contains("Credentials") => format!(
                "{call}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile P (or set AWS_PROFILE), or run `aws sso login`"
            ),
            SdkError::TimeoutError(_) => format!(
                "{call}: the AWS endpoint did not answer in time; check --endpoint-url / AWS_ENDPOINT_URL and the network"
            ),
            SdkError::DispatchFailure(_) => format!(
                "{call}: cannot reach the AWS endpoint ({}); check --endpoint-url / AWS_ENDPOINT_URL, the region and the network",
                root_cause(&chain)
            ),
            SdkError::ResponseError(_) => format!("{call}: AWS sent an answer that could not be read"),
            SdkError::ConstructionFailure(_) => format!("{call}: the request could not be built: {}", root_cause(&chain)),
            _ => format!("{call} failed: {}", root_cause(&chain)),
        }
    }
}

/// ("ecs", "DescribeServices") from the operation's error type's path.
fn service_operation<E>() -> (String, String) {
    let t = std::any::type_name::<E>();
    let service = t
        .split("::")
        .next()
        .unwrap_or("aws")
        .trim_start_matches("aws_sdk_")
        .to_string();
    let op = t
        .rsplit("::")
        .next()
        .unwrap_or("")
        .trim_end_matches("Error")
        .to_string();
    (service, op)
}

fn one_line(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The innermost cause of a context chain (`a: b: c` gives `c`).
fn root_cause(chain: &str) -> String {
    let last = chain
        .rsplit(": ")
        .find(|p| !p.trim().is_empty())
        .unwrap_or(chain);
    let last = last.trim().trim_end_matches(')');
    let last = last.split(" (").next().unwrap_or(last);
    one_line(last)
}

/// Wraps an SDK error with what we were doing; the error itself is kept as the source.
pub fn aws<E: AwsFailure>(what: &str, e: E) -> Error {
    Error::Aws {
        what: what.into(),
        detail: e.describe(),
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
        use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("not allowed\nat all")
            .custom("aws_request_id", "req-1")
            .build();
        let raw = aws_smithy_runtime_api::http::Response::new(
            403.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        let sdk: SdkError<DescribeServicesError, _> =
            SdkError::service_error(DescribeServicesError::generic(meta), raw);
        let e = aws("describe services", sdk);
        assert_eq!(e.exit_code(), 1);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            e.to_string(),
            "describe services: ecs DescribeServices failed: AccessDeniedException: not allowed at all (request id req-1)"
        );
    }
}
