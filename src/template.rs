//! Template rendering (minijinja): {{ name }}, {{ version }}, {{ color }},
//! {{ region }} and {{ env("VAR") }} / {{ env("VAR", "default") }}.
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{invalid, Result};

pub struct Vars<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub color: &'a str,
    pub region: &'a str,
}

impl<'a> Vars<'a> {
    pub fn new(name: &'a str, version: &'a str, color: &'a str, region: &'a str) -> Vars<'a> {
        Vars {
            name,
            version,
            color,
            region,
        }
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
    static COMPILED: std::cell::RefCell<std::collections::HashMap<(String, String), Environment<'static>>> =
        std::cell::RefCell::default();
}

fn environment(what: &str, source: &str) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_function("env", env_lookup);
    env.add_template_owned(what.to_string(), source.to_string())
        .map_err(|e| template_error(what, &e))?;
    Ok(env)
}

/// Renders `source`; `what` names the template in errors (e.g. "task.json.j2").
pub fn render(what: &str, source: &str, vars: &Vars) -> Result<String> {
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (what.to_string(), source.to_string());
        if !cache.contains_key(&key) {
            let env = environment(what, source)?;
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
    let ctx = minijinja::context! {
        name => vars.name,
        version => vars.version,
        color => vars.color,
        region => vars.region,
    };
    tmpl.render(Value::from_serialize(&ctx)).map_err(|e| {
        if e.kind() == minijinja::ErrorKind::UndefinedError && e.detail().is_none() {
            // Name what is undefined: minijinja only says "undefined value".
            let known = ["name", "version", "color", "region", "env"];
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
        }
    }

    #[test]
    fn renders_vars_and_env() {
        std::env::set_var("CUTOVER_TEST_TAG", "x1");
        let out = render("t", "{{ name }}-{{ color }}:{{ version }} {{ env(\"CUTOVER_TEST_TAG\") }} {{ env(\"NOPE_NOT_SET\", \"d\") }}", &vars()).unwrap();
        assert_eq!(out, "iris-green:v2 x1 d");
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
