//! Progress and results: plain lines on stderr for people, one JSON object per
//! line on stdout with `-o json`.
use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Out {
    /// No progress output (nested or batch runs).
    pub fn silent() -> Out {
        Out {
            json: false,
            quiet: true,
            verbose: false,
        }
    }

    /// A progress event: `kind` is a short machine name, `msg` the human line.
    pub fn event(&self, kind: &str, msg: &str, extra: Value) {
        if self.json {
            let mut v = json!({"event": kind, "message": msg, "at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()});
            if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            println!("{v}");
        } else if !self.quiet {
            if std::io::stderr().is_terminal() {
                // Clear a countdown line the ticker may have left.
                eprint!("\r\x1b[2K");
            }
            eprintln!("{msg}");
        }
    }

    pub fn info(&self, msg: &str) {
        self.event("info", msg, Value::Null);
    }

    pub fn detail(&self, msg: &str) {
        if self.verbose {
            self.event("detail", msg, Value::Null);
        }
    }

    pub fn warn(&self, msg: &str) {
        if self.json {
            self.event("warning", msg, Value::Null);
        } else {
            eprintln!("warning: {msg}");
        }
    }

    /// A line that rewrites itself on a TTY (bake countdown); nothing otherwise.
    pub fn ticker(&self, msg: &str) {
        if !self.json && !self.quiet && std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K{msg}");
            let _ = std::io::stderr().flush();
        }
    }

    pub fn ticker_done(&self) {
        if !self.json && !self.quiet && std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K");
        }
    }

    /// The command's result: text on stdout, or one JSON document.
    pub fn result(&self, text: &str, value: Value) {
        if self.json {
            println!("{value}");
        } else if !text.is_empty() {
            println!("{text}");
        }
    }
}
