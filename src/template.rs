//! Template rendering (minijinja): {{ name }}, {{ version }}, {{ color }},
//! {{ region }}, {{ env("VAR") }} / {{ env("VAR", "default") }}, and for a
//! model from the registry {{ model.version }}, {{ model.source }},
//! {{ model.run_id }} and {{ model.tags.<key> }}.
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::Object;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{invalid, Result};

pub struct Vars<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub color: &'a str,
    pub region: &'a str,
    /// The registry's model version; `{{ model }}` is undefined without one.
    pub model: Option<&'a Model>,
}

impl<'a> Vars<'a> {
    pub fn new(name: &'a str, version: &'a str, color: &'a str, region: &'a str) -> Vars<'a> {
        Vars {
            name,
            version,
            color,
            region,
            model: None,
        }
    }

    pub fn with_model(self, model: Option<&'a Model>) -> Vars<'a> {
        Vars { model, ..self }
    }
}

/// A model version as templates see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub version: String,
    pub source: String,
    pub run_id: String,
    pub tags: BTreeMap<String, String>,
    /// `check` and provision's bootstrap render: any tag key renders as `version`.
    pub placeholder: bool,
}

impl Model {
    /// A stand-in for rendering without a registry call.
    pub fn placeholder(version: &str) -> Model {
        Model {
            version: version.into(),
            source: version.into(),
            run_id: version.into(),
            tags: BTreeMap::new(),
            placeholder: true,
        }
    }

    fn value(&self) -> Value {
        let tags = if self.placeholder {
            Value::from_object(AnyTag(self.version.clone()))
        } else {
            Value::from_serialize(&self.tags)
        };
        minijinja::context! {
            version => self.version,
            source => self.source,
            run_id => self.run_id,
            tags => tags,
        }
    }
}

/// Tags of a placeholder model: every key is defined.
#[derive(Debug)]
struct AnyTag(String);

impl Object for AnyTag {
    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from(self.0.clone()))
    }
}

fn env_lookup(name: String, default: Option<String>) -> Result<String, minijinja::Error> {
    match (std::env::var(&name), default) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(d)) => Ok(d),
        (Err(_), None) => Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            format!(
                "environment variable {name} is not set (give a default: env(\"{name}\", \"…\"))"
            ),
        )),
    }
}

thread_local! {
    /// Compiled templates by (name, source): a batch `promote` renders the
    /// same template for hundreds of stacks.
    static COMPILED: std::cell::RefCell<std::collections::HashMap<(String, String, bool), Environment<'static>>> =
        std::cell::RefCell::default();
}

/// Writes every value as the inside of a JSON string: a value with `"`, `\`
/// or a newline stays one string and cannot add keys.
fn json_formatter(
    out: &mut minijinja::Output,
    _: &minijinja::State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    // `| safe` output is the template's own choice: written as is.
    if value.is_safe() {
        return out
            .write_str(&value.to_string())
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()));
    }
    let text = if value.is_none() {
        String::new()
    } else {
        value.to_string()
    };
    let quoted = serde_json::to_string(&text).unwrap_or_default();
    let inner = &quoted[1..quoted.len() - 1];
    // `</` closes a script element when JSON is ever put into HTML.
    out.write_str(&inner.replace("</", "<\\/"))
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

fn environment(what: &str, source: &str, json: bool) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    if json {
        env.set_formatter(json_formatter);
    }
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_function("env", env_lookup);
    env.add_template_owned(what.to_string(), source.to_string())
        .map_err(|e| template_error(what, &e))?;
    Ok(env)
}

/// Renders `source`; `what` names the template in errors (e.g. "task.json.j2").
pub fn render(what: &str, source: &str, vars: &Vars) -> Result<String> {
    render_as(what, source, vars, false)
}

/// Renders a JSON template: every value is escaped as JSON string content,
/// so registry metadata or an environment variable cannot add keys.
pub fn render_json(what: &str, source: &str, vars: &Vars) -> Result<String> {
    render_as(what, source, vars, true)
}

fn render_as(what: &str, source: &str, vars: &Vars, json: bool) -> Result<String> {
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (what.to_string(), source.to_string(), json);
        if !cache.contains_key(&key) {
            let env = environment(what, source, json)?;
            cache.insert(key.clone(), env);
        }
        let env = &cache[&key];
        let tmpl = env
            .get_template(what)
            .map_err(|e| template_error(what, &e))?;
        render_with(what, &tmpl, vars)
    })
}

fn render_with(what: &str, tmpl: &minijinja::Template<'_, '_>, vars: &Vars) -> Result<String> {
    let mut ctx: BTreeMap<&str, Value> = BTreeMap::from([
        ("name", Value::from(vars.name)),
        ("version", Value::from(vars.version)),
        ("color", Value::from(vars.color)),
        ("region", Value::from(vars.region)),
    ]);
    // Left out (not none) without a model, so strict mode names it undefined.
    if let Some(m) = vars.model {
        ctx.insert("model", m.value());
    }
    tmpl.render(Value::from(ctx)).map_err(|e| {
        if e.kind() == minijinja::ErrorKind::UndefinedError && e.detail().is_none() {
            // Name what is undefined: minijinja only says "undefined value".
            let mut known = vec!["name", "version", "color", "region", "env"];
            if vars.model.is_some() {
                known.push("model");
            }
            let mut missing: Vec<String> = tmpl
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !known.contains(&v.as_str()))
                .collect();
            missing.sort();
            if !missing.is_empty() {
                let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
                return invalid(format!(
                    "{what}{line}: template error: undefined variable {} (known: {})",
                    missing.join(", "),
                    known[..4].join(", ")
                ));
            }
        }
        template_error(what, &e)
    })
}

fn template_error(what: &str, e: &minijinja::Error) -> crate::error::Error {
    let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    invalid(format!(
        "{what}{line}: template error: {}{detail}",
        e.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            name: "iris",
            version: "v2",
            color: "green",
            region: "us-east-1",
            model: None,
        }
    }

    #[test]
    fn model_vars_and_placeholder() {
        let mut m = Model {
            version: "3".into(),
            source: "s3://m/3".into(),
            run_id: "r1".into(),
            ..Model::default()
        };
        m.tags.insert("image".into(), "repo/iris:v3".into());
        let t = "{{ model.version }} {{ model.source }} {{ model.run_id }} {{ model.tags.image }}";
        let out = render("t", t, &vars().with_model(Some(&m))).unwrap();
        assert_eq!(out, "3 s3://m/3 r1 repo/iris:v3");
        // A tag the version lacks is an error, as is model without a registry.
        let e = render("t", "{{ model.tags.nope }}", &vars().with_model(Some(&m)));
        assert!(e.is_err());
        assert!(render("t", "{{ model.version }}", &vars()).is_err());
        let p = Model::placeholder("check");
        let out = render("t", t, &vars().with_model(Some(&p))).unwrap();
        assert_eq!(out, "check check check check");
    }

    #[test]
    fn renders_vars_and_env() {
        std::env::set_var("CUTOVER_TEST_TAG", "x1");
        let out = render("t", "{{ name }}-{{ color }}:{{ version }} {{ env(\"CUTOVER_TEST_TAG\") }} {{ env(\"NOPE_NOT_SET\", \"d\") }}", &vars()).unwrap();
        assert_eq!(out, "iris-green:v2 x1 d");
    }

    #[test]
    fn json_templates_escape_every_value() {
        let evil =
            "v1\", \"user\": \"0\", \"command\": [\"sh\",\"-c\",\"id\"], \"x\": \"\\ \n </script>";
        let mut m = Model::placeholder("3");
        m.placeholder = false;
        m.tags.insert("image".into(), evil.into());
        let t = "{\"image\": \"repo:{{ model.tags.image }}\", \"v\": \"{{ version }}\", \"n\": {{ env(\"NOPE_NOT_SET\", \"2\") }}}";
        let v = Vars {
            version: evil,
            ..vars()
        }
        .with_model(Some(&m));
        let out = render_json("task.json.j2", t, &v).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["image", "n", "v"], "{out}");
        assert_eq!(parsed["v"], evil);
        assert_eq!(parsed["image"], format!("repo:{evil}"));
        assert_eq!(parsed["n"], 2);
        assert!(!out.contains("</"), "{out}");
        // `| safe` is the template's own opt-out: written as is.
        let t = "{\"n\": {{ '\"x\"' | safe }}}";
        let out = render_json("t.json", t, &vars()).unwrap();
        assert_eq!(out, "{\"n\": \"x\"}");
        // Plain templates are unchanged.
        assert_eq!(render("t", "{{ version }}", &vars()).unwrap(), "v2");
    }

    #[test]
    fn syntax_and_undefined_errors_name_template_and_line() {
        let e = render("task.json.j2", "{\n{{ name \n", &vars())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("task.json.j2:"), "{e}");
        let e = render("t.j2", "{{ nope }}", &vars())
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.j2:1"), "{e}");
        assert!(e.contains("undefined variable nope"), "{e}");
        let e = render("t.j2", "{{ env(\"NOPE_NOT_SET_EITHER\") }}", &vars())
            .unwrap_err()
            .to_string();
        assert!(e.contains("NOPE_NOT_SET_EITHER"), "{e}");
    }
}
