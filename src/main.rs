//! Thin binary: all logic lives in the library.
fn main() {
    std::process::exit(cutover::main_exit_code());
}
