//! Thin binary: all logic lives in the library.
fn main() -> std::process::ExitCode {
    cutover::app::main()
}
