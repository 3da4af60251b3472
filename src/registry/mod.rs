//! Model registries reached over plain HTTP(S): MLflow's REST API. Resolves
//! `models:/<name>/<version>` and `models:/<name>@<alias>`, and moves aliases.
pub mod mlflow;

pub use mlflow::{Mlflow, ModelVersion};

use crate::config::alias_ok;

/// What a `models:/` reference selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Version(String),
    Alias(String),
}

/// A parsed `models:/<name>/<version>` or `models:/<name>@<alias>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRef {
    pub model: String,
    pub sel: Selector,
}

impl ModelRef {
    /// Whether `s` is meant as a registry reference (rather than an image tag).
    pub fn looks_like(s: &str) -> bool {
        s.starts_with("models:")
    }

    pub fn parse(s: &str) -> Result<ModelRef, String> {
        let bad = |why: &str| {
            format!("\"{s}\" is not a model reference ({why}; expected models:/<name>/<version> or models:/<name>@<alias>)")
        };
        let rest = s
            .strip_prefix("models:/")
            .ok_or_else(|| bad("it must start with models:/"))?;
        // An alias never holds '@' or '/', so the last '@' or '/' splits.
        let (model, sel) = if let Some((m, a)) = rest.rsplit_once('@') {
            if !alias_ok(a) {
                return Err(bad(&format!("\"{a}\" is not a valid alias")));
            }
            (m, Selector::Alias(a.into()))
        } else if let Some((m, v)) = rest.rsplit_once('/') {
            let number = !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit());
            if !number || v.parse::<u64>().unwrap_or(0) == 0 {
                return Err(bad(&format!(
                    "\"{v}\" is not a version number (stages and `latest` are not supported)"
                )));
            }
            (m, Selector::Version(v.trim_start_matches('0').into()))
        } else {
            return Err(bad("no version or alias"));
        };
        if model.is_empty() || model.contains(['@', '/']) || model.trim() != model {
            return Err(bad("no valid model name"));
        }
        Ok(ModelRef {
            model: model.into(),
            sel,
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sel {
            Selector::Version(v) => write!(f, "models:/{}/{v}", self.model),
            Selector::Alias(a) => write!(f, "models:/{}@{a}", self.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(m: &str, v: &str) -> ModelRef {
        ModelRef {
            model: m.into(),
            sel: Selector::Version(v.into()),
        }
    }

    #[test]
    fn parses_versions_and_aliases() {
        assert_eq!(
            ModelRef::parse("models:/iris/3").unwrap(),
            version("iris", "3")
        );
        assert_eq!(
            ModelRef::parse("models:/iris/007").unwrap(),
            version("iris", "7")
        );
        assert_eq!(
            ModelRef::parse("models:/my.model-x_1@candidate").unwrap(),
            ModelRef {
                model: "my.model-x_1".into(),
                sel: Selector::Alias("candidate".into())
            }
        );
        for s in ["models:/iris/3", "models:/iris@prod-2"] {
            assert_eq!(ModelRef::parse(s).unwrap().to_string(), s);
        }
        assert!(ModelRef::looks_like("models:/x"));
        assert!(!ModelRef::looks_like("v1.2"));
    }

    #[test]
    fn rejects_bad_references() {
        for (s, why) in [
            ("models:iris/3", "must start with models:/"),
            ("models:/iris", "no version or alias"),
            ("models:/iris/", "not a version number"),
            ("models:/iris/0", "not a version number"),
            ("models:/iris/Production", "stages"),
            ("models:/iris/latest", "not a version number"),
            ("models:/iris@", "not a valid alias"),
            ("models:/iris@latest", "not a valid alias"),
            ("models:/iris@a b", "not a valid alias"),
            ("models:/@prod", "no valid model name"),
            ("models://3", "no valid model name"),
            ("models:/a/b/3", "no valid model name"),
            ("models:/a@b@c", "no valid model name"),
        ] {
            let e = ModelRef::parse(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains(s), "{e}");
        }
    }
}
