//! `[[hooks]]` (commands or URLs run at fixed stages) and `[notify]` (where
//! journal entries go).
use std::time::Duration;

use super::locate::Locator;
use super::raw::{RawHook, RawNotify};
use crate::error::Result;

/// The stages a hook can run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookStage {
    PostDeploy,
    PreTraffic,
    PostStep,
    PostComplete,
    PostRollback,
    PostRetire,
}

impl HookStage {
    pub const ALL: [HookStage; 6] = [
        HookStage::PostDeploy,
        HookStage::PreTraffic,
        HookStage::PostStep,
        HookStage::PostComplete,
        HookStage::PostRollback,
        HookStage::PostRetire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookStage::PostDeploy => "post-deploy",
            HookStage::PreTraffic => "pre-traffic",
            HookStage::PostStep => "post-step",
            HookStage::PostComplete => "post-complete",
            HookStage::PostRollback => "post-rollback",
            HookStage::PostRetire => "post-retire",
        }
    }

    /// A failure at a gating stage stops the rollout; the others only notify.
    pub fn gates(self) -> bool {
        matches!(
            self,
            HookStage::PostDeploy | HookStage::PreTraffic | HookStage::PostStep
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HookTarget {
    /// A command for `sh -c`, run in the config's folder.
    Run(String),
    /// An HTTP(S) URL that gets the event as a JSON POST.
    Url(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub on: HookStage,
    pub target: HookTarget,
    pub timeout: Duration,
}

impl Hook {
    /// A short name for logs and the journal.
    pub fn label(&self) -> String {
        match &self.target {
            HookTarget::Run(c) => format!("{} `{c}`", self.on.as_str()),
            HookTarget::Url(u) => format!("{} {}", self.on.as_str(), crate::redact::origin(u)),
        }
    }
}

impl NotifyConfig {
    /// The environment variables that hold secrets (hooks do not inherit them).
    pub fn secret_vars(&self) -> impl Iterator<Item = &str> {
        self.header
            .as_ref()
            .map(|(_, env)| env.as_str())
            .into_iter()
            .chain(self.secret_env.as_deref())
    }

    /// The secret variables that are not set now (the webhook would go
    /// without its header or signature).
    pub fn unset_vars(&self) -> Vec<&str> {
        self.secret_vars()
            .filter(|v| std::env::var(v).map_or(true, |x| x.is_empty()))
            .collect()
    }

    /// Their values now (masked wherever output could show them).
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_vars()
            .filter_map(|v| std::env::var(v).ok())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// `[notify]`: every journal entry goes to these sinks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotifyConfig {
    pub url: Option<String>,
    pub eventbridge_bus: Option<String>,
    /// A header sent with every webhook post (`Authorization`), its value
    /// read from the environment variable `header_env` at send time.
    pub header: Option<(String, String)>,
    /// The environment variable holding the HMAC-SHA256 key that signs every
    /// webhook body (`X-Cutover-Signature: sha256=<hex>`).
    pub secret_env: Option<String>,
}

fn http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "https://".len()
}

pub fn check_hooks(loc: &Locator, raw: &[RawHook]) -> Result<Vec<Hook>> {
    let mut out = Vec::new();
    for h in raw {
        let name = h.on.get_ref();
        let Some(on) = HookStage::ALL.into_iter().find(|s| s.as_str() == name) else {
            let all: Vec<&str> = HookStage::ALL.iter().map(|s| s.as_str()).collect();
            return Err(loc.at(
                &h.on,
                "hooks.on",
                format!(
                    "unknown stage \"{name}\" (expected one of {})",
                    all.join(", ")
                ),
            ));
        };
        let target = match (&h.run, &h.url) {
            (Some(r), None) if !r.get_ref().trim().is_empty() => {
                HookTarget::Run(r.get_ref().clone())
            }
            (Some(r), None) => return Err(loc.at(r, "hooks.run", "is empty".into())),
            (None, Some(u)) if http_url(u.get_ref()) => HookTarget::Url(u.get_ref().clone()),
            (None, Some(u)) => {
                return Err(loc.at(
                    u,
                    "hooks.url",
                    format!("\"{}\" is not an http:// or https:// URL", u.get_ref()),
                ))
            }
            (Some(_), Some(u)) => {
                return Err(loc.at(u, "hooks.url", "give `run` or `url`, not both".into()))
            }
            (None, None) => {
                return Err(loc.at(&h.on, "hooks.run", "a hook needs `run` or `url`".into()))
            }
        };
        let timeout = h.timeout.unwrap_or(Duration::from_secs(60));
        if timeout.is_zero() {
            return Err(loc.at(&h.on, "hooks.timeout", "must be above zero".into()));
        }
        out.push(Hook {
            on,
            target,
            timeout,
        });
    }
    Ok(out)
}

pub fn check_notify(loc: &Locator, raw: Option<&RawNotify>) -> Result<NotifyConfig> {
    let Some(n) = raw else {
        return Ok(NotifyConfig::default());
    };
    if let Some(u) = &n.url {
        if !http_url(u.get_ref()) {
            return Err(loc.at(
                u,
                "notify.url",
                format!("\"{}\" is not an http:// or https:// URL", u.get_ref()),
            ));
        }
    }
    if let Some(b) = &n.eventbridge_bus {
        let ok = !b.get_ref().is_empty()
            && b.get_ref().len() <= 1600
            && b.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c));
        if !ok {
            return Err(loc.at(
                b,
                "notify.eventbridge_bus",
                format!("\"{}\" is not an event bus name or ARN", b.get_ref()),
            ));
        }
    }
    let env_set = |key: &str, v: &toml::Spanned<String>| -> Result<String> {
        let name = v.get_ref();
        let ok = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(loc.at(
                v,
                key,
                format!("\"{name}\" is not an environment variable name"),
            ));
        }
        Ok(name.clone())
    };
    let header = match (&n.header, &n.header_env) {
        (None, None) => None,
        (Some(h), Some(e)) => {
            let name = h.get_ref();
            let token = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if !token {
                return Err(loc.at(
                    h,
                    "notify.header",
                    format!("\"{name}\" is not an HTTP header name"),
                ));
            }
            Some((name.clone(), env_set("notify.header_env", e)?))
        }
        (Some(h), None) => {
            return Err(loc.at(
                h,
                "notify.header",
                "give header_env too: the environment variable that holds the header's value"
                    .into(),
            ))
        }
        (None, Some(e)) => {
            return Err(loc.at(
                e,
                "notify.header_env",
                "give header too (e.g. header = \"Authorization\")".into(),
            ))
        }
    };
    let secret_env = n
        .secret_env
        .as_ref()
        .map(|e| env_set("notify.secret_env", e))
        .transpose()?;
    if (header.is_some() || secret_env.is_some()) && n.url.is_none() {
        let at = n
            .header
            .as_ref()
            .or(n.secret_env.as_ref())
            .expect("one is set");
        return Err(loc.at(
            at,
            "notify.url",
            "header and secret_env apply to the webhook: set url".into(),
        ));
    }
    Ok(NotifyConfig {
        url: n.url.as_ref().map(|u| u.get_ref().clone()),
        eventbridge_bus: n.eventbridge_bus.as_ref().map(|b| b.get_ref().clone()),
        header,
        secret_env,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::error::Error;

    const BASE: &str = "name = \"iris\"\nprovider = \"sagemaker\"\n\n[sagemaker]\nexecution_role_arn = \"arn:aws:iam::1:role/r\"\nimage = \"i\"\ninstance_type = \"ml.m5.large\"\n";

    fn err(extra: &str) -> String {
        match crate::config::parse(Path::new("cutover.toml"), &format!("{BASE}{extra}")) {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn hooks_parse_and_errors_name_line_and_key() {
        let c = crate::config::parse(
            Path::new("cutover.toml"),
            &format!("{BASE}\n[[hooks]]\non = \"pre-traffic\"\nrun = \"./smoke.sh\"\ntimeout = \"5s\"\n\n[[hooks]]\non = \"post-complete\"\nurl = \"https://x.example/h\"\n\n[notify]\nurl = \"http://127.0.0.1:9/e\"\neventbridge_bus = \"default\"\n"),
        )
        .unwrap();
        assert_eq!(c.hooks.len(), 2);
        assert_eq!(c.hooks[0].on, super::HookStage::PreTraffic);
        assert_eq!(c.hooks[0].timeout, std::time::Duration::from_secs(5));
        assert_eq!(c.hooks[1].timeout, std::time::Duration::from_secs(60));
        assert_eq!(c.notify.eventbridge_bus.as_deref(), Some("default"));
        let m = err("\n[[hooks]]\non = \"pre-flight\"\nrun = \"x\"\n");
        assert!(m.starts_with("cutover.toml:10: key `hooks.on`"), "{m}");
        let m = err("\n[[hooks]]\non = \"post-step\"\nrun = \"x\"\nurl = \"http://a/b\"\n");
        assert!(
            m.contains("key `hooks.url`") && m.contains("not both"),
            "{m}"
        );
        let m = err("\n[[hooks]]\non = \"post-step\"\n");
        assert!(m.contains("key `hooks.run`"), "{m}");
        let m = err("\n[[hooks]]\non = \"post-step\"\nrun = \"x\"\ntimeout = \"soon\"\n");
        assert!(m.contains("hooks"), "{m}");
        let m = err("\n[notify]\nurl = \"ftp://x\"\n");
        assert!(m.starts_with("cutover.toml:10: key `notify.url`"), "{m}");
        let m = err("\n[rollout]\nsteps = [10, \"wait\", 100]\n");
        assert!(
            m.contains("key `rollout.steps`") && m.contains("unknown step"),
            "{m}"
        );
        let m = err("\n[rollout]\nstrategy = \"canary\"\npause = \"later\"\n");
        assert!(m.contains("key `rollout.pause`"), "{m}");
    }
}
