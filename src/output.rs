//! Progress and results: plain lines on stderr for people, one JSON object per
//! line on stdout with `-o json`. A closed stdout (`cutover history | head`)
//! stops the printing quietly; the command itself carries on and exits as usual.
//! Every line passes `redact::text` (no URL secrets, no terminal escapes).
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout; after a broken pipe, writes nothing more.
pub fn stdout_line(line: &str) {
    stdout_raw("", line);
}

/// `prefix` (our own control sequence, e.g. clear the screen) as is, then
/// `line` redacted.
pub fn stdout_raw(prefix: &str, line: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let line = crate::redact::text(line);
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{prefix}{line}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}

/// Writes one line to stderr, redacted as every output is.
pub fn stderr_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", crate::redact::text(line));
}

#[derive(Clone, Debug, Default)]
pub struct Out {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Out {
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Out {
        Out {
            json,
            quiet,
            verbose,
            bar: Arc::default(),
        }
    }

    /// No progress output (nested or batch runs).
    pub fn silent() -> Out {
        Out::new(false, true, false)
    }

    fn human(&self, line: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.suspend(|| stderr_line(line)),
            None => stderr_line(line),
        }
    }

    /// A progress event: `kind` is a short machine name, `msg` the human line.
    pub fn event(&self, kind: &str, msg: &str, extra: Value) {
        if self.json {
            let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
            let mut v = json!({"event": kind, "message": msg, "at": at});
            if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            stdout_line(&v.to_string());
        } else if !self.quiet {
            self.human(msg);
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
        } else if !self.quiet {
            self.human(&format!("warning: {msg}"));
        }
    }

    /// A status line that rewrites itself on a TTY (bake countdown); nothing otherwise.
    pub fn ticker(&self, msg: &str) {
        if self.json || self.quiet {
            return;
        }
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        let bar = slot.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("static template"));
            b
        });
        bar.set_message(msg.to_string());
        bar.tick();
    }

    pub fn ticker_done(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(b) = slot.take() {
                b.finish_and_clear();
            }
        }
    }

    /// The command's result: text on stdout, or one JSON document.
    pub fn result(&self, text: &str, value: Value) {
        self.ticker_done();
        if self.json {
            stdout_line(&value.to_string());
        } else if !text.is_empty() {
            stdout_line(text);
        }
    }
}
