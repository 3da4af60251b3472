//! The SDK-fake layer: cutover's library driven with AWS clients whose HTTP is
//! replaced by `aws-smithy-mocks` rules. No emulator, no network: weights and
//! read-back, SageMaker's every-field rule, compare-and-set conflicts and lost
//! answers, the lock, crash repair, retries, and pagination.
#[path = "fakes/dynamo.rs"]
mod dynamo;
#[path = "fakes/harness.rs"]
mod harness;
#[path = "fakes/traffic.rs"]
mod traffic;
