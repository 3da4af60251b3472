//! Model comparison, the pure part: the request set (golden JSON lines or
//! SageMaker Data Capture), output agreement with a tolerance, and the report.
//! Sending the requests to the two colours is `engine::compare`.
mod agree;
pub mod capture;
mod report;
mod requests;

pub use agree::{agree, extract};
pub use report::{Disagreement, Latency, Pair, Report, Thresholds};
pub use requests::{parse_requests, Golden};
