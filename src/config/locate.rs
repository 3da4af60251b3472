//! Turns byte spans and serde paths into `file:line: key `k`: message`.
use std::path::Path;

use toml::Spanned;

use crate::error::{invalid, Error};

pub struct Locator<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Locator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text
            .get(..offset.min(self.text.len()))
            .unwrap_or("")
            .matches('\n')
            .count()
            + 1
    }

    /// An error about key `key`, at the line of value `s`.
    pub fn at<T>(&self, s: &Spanned<T>, key: &str, msg: String) -> Error {
        let span = s.span();
        if span.start == 0 && span.end == 0 {
            return self.key(key, msg);
        }
        invalid(format!(
            "{}:{}: key `{key}`: {msg}",
            self.path.display(),
            self.line_of(span.start)
        ))
    }

    /// An error about key `key` where no position is known.
    pub fn key(&self, key: &str, msg: String) -> Error {
        invalid(format!("{}: key `{key}`: {msg}", self.path.display()))
    }

    /// A TOML or type error: the key comes from serde's own path, the line from the span.
    pub fn toml_error(&self, e: &serde_path_to_error::Error<toml::de::Error>) -> Error {
        let inner = e.inner();
        let msg = inner.message().trim().replace('\n', " ");
        // Spanned<T> shows up in serde's path as a private segment; drop it.
        let key: Vec<String> = e
            .path()
            .to_string()
            .split('.')
            .filter(|s| !s.starts_with("$__"))
            .map(String::from)
            .collect();
        let key = key.join(".");
        let key = match key.as_str() {
            "" | "." | "?" => String::new(),
            k => format!(" key `{k}`:"),
        };
        match inner.span() {
            Some(span) => invalid(format!(
                "{}:{}:{key} {msg}",
                self.path.display(),
                self.line_of(span.start)
            )),
            None => invalid(format!("{}:{key} {msg}", self.path.display())),
        }
    }
}
