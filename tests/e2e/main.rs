//! End-to-end tests on the embedded emulator, in one test binary (one link,
//! one emulator, all tests scheduled together). One module per concern.
mod common;

mod accounts;
mod bad_input;
mod capacity;
mod ecs;
mod experiment;
mod first_contact;
mod gates;
mod mlflow;
mod pictures;
mod policy;
mod process;
mod promote;
mod real;
mod report;
mod rollout;
mod route53;
mod sagemaker;
mod scale;
mod shadow;
mod shared_alb;
mod soak;
mod stuck;
mod traffic;
mod validate;
mod verify;
