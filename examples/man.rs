//! Writes the man pages (`cutover.1` and one `cutover-<command>.1` per
//! command) from the clap definitions: `cargo run --example man -- man/`.
fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "man".into());
    std::fs::create_dir_all(&dir)?;
    for (name, page) in cutover::cli::man_pages()? {
        std::fs::write(format!("{dir}/{name}"), page)?;
    }
    Ok(())
}
