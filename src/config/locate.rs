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

    /// A TOML syntax error, at its line.
    pub fn syntax_error(&self, e: &toml::de::Error) -> Error {
        let msg = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => invalid(format!(
                "{}:{}: {msg}",
                self.path.display(),
                self.line_of(span.start)
            )),
            None => invalid(format!("{}: {msg}", self.path.display())),
        }
    }

    /// A TOML or type error: the key comes from serde's own path, the line from the span.
    pub fn toml_error(&self, e: &serde_path_to_error::Error<toml::de::Error>) -> Error {
        let inner = e.inner();
        let msg = friendly(inner.message().trim());
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

/// serde's wording in the user's words: "did you mean" for an unknown key,
/// and what a valid value looks like.
pub fn friendly(msg: &str) -> String {
    let msg = msg.replace('\n', " ");
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let valid: Vec<&str> = rest
            .split_once("expected")
            .map(|(_, e)| e.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let hint = match closest(key, &valid) {
            Some(k) => format!("did you mean `{k}`?"),
            None if valid.is_empty() => "this table takes no keys".to_string(),
            None => format!("valid keys: {}", valid.join(", ")),
        };
        return format!("unknown key `{key}`; {hint}");
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or_default();
        return format!("missing key `{key}`; add it to this table");
    }
    let words = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number, such as 0.5"),
        ("expected a boolean", "expected true or false"),
        (
            "expected a sequence",
            "expected a list, such as [\"a\", \"b\"]",
        ),
        ("expected a string", "expected a string in quotes"),
        (
            "expected a duration",
            "expected a duration such as \"30s\", \"5m\" or \"1h 30m\"",
        ),
        ("invalid digit found in string", "not a whole number"),
    ];
    let mut out = msg.to_string();
    for (from, to) in words {
        if out.contains(from) {
            out = out.replace(from, to);
            break;
        }
    }
    out.replace("invalid type: ", "")
        .replace("invalid value: ", "")
}

/// The valid key nearest to `key`, when it is a plausible typo.
fn closest<'v>(key: &str, valid: &[&'v str]) -> Option<&'v str> {
    valid
        .iter()
        .map(|v| (distance(key, v), *v))
        .filter(|(d, v)| *d <= (v.len().max(key.len()) / 3).max(1))
        .min()
        .map(|(_, v)| v)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::friendly;

    #[test]
    fn messages_in_the_users_words() {
        assert_eq!(
            friendly("unknown field `colour`, expected one of `name`, `provider`, `color`"),
            "unknown key `colour`; did you mean `color`?"
        );
        assert_eq!(
            friendly("unknown field `bogus`, expected one of `min`, `max`"),
            "unknown key `bogus`; valid keys: min, max"
        );
        assert_eq!(
            friendly("invalid type: string \"8080\", expected u16"),
            "string \"8080\", expected a whole number from 0 to 65535"
        );
        assert!(
            friendly("invalid value: string \"soon\", expected a duration").contains("\"30s\"")
        );
        assert_eq!(
            friendly("missing field `target`"),
            "missing key `target`; add it to this table"
        );
    }
}
