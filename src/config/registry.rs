//! `[registry]`: the MLflow model registry a stack deploys from and keeps true.
use super::locate::Locator;
use super::raw::RawRegistry;
use super::RegistryConfig;
use crate::error::Result;

/// MLflow's alias rule (`[\w-]+`), minus its reserved names.
pub fn alias_ok(a: &str) -> bool {
    let reserved = a.eq_ignore_ascii_case("latest")
        || (a.len() > 1 && a.starts_with(['v', 'V']) && a[1..].bytes().all(|b| b.is_ascii_digit()));
    !a.is_empty()
        && a.len() <= 255
        && !reserved
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

pub fn registry_config(loc: &Locator, r: &RawRegistry) -> Result<RegistryConfig> {
    if r.model.trim().is_empty() {
        return Err(loc.key("registry.model", "must name a registered model".into()));
    }
    if let Some(u) = &r.mlflow_tracking_uri {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(loc.key(
                "registry.mlflow_tracking_uri",
                format!(
                    "\"{u}\" is not an http:// or https:// URL (only the REST API is supported)"
                ),
            ));
        }
    }
    for (key, v) in [("registry.alias", &r.alias), ("registry.follow", &r.follow)] {
        if let Some(a) = v {
            if !alias_ok(a) {
                return Err(loc.key(
                    key,
                    format!("\"{a}\" is not a valid MLflow alias (letters, digits, _ and -; not `latest` or v<digits>)"),
                ));
            }
        }
    }
    if r.alias.is_some() && r.alias == r.follow {
        return Err(loc.key(
            "registry.follow",
            "must differ from `alias` (cutover moves `alias` itself)".into(),
        ));
    }
    Ok(RegistryConfig {
        tracking_uri: r.mlflow_tracking_uri.clone(),
        model: r.model.clone(),
        alias: r.alias.clone(),
        follow: r.follow.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::alias_ok;

    #[test]
    fn aliases() {
        for ok in ["production", "candidate", "prod-1", "a_b", "v", "vX"] {
            assert!(alias_ok(ok), "{ok}");
        }
        for bad in ["", "latest", "v3", "V12", "a b", "a/b", "a@b"] {
            assert!(!alias_ok(bad), "{bad}");
        }
    }
}
