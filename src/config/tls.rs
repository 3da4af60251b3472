//! `[ecs]` HTTPS keys: `certificate_arn`, `ssl_policy`, `redirect_http`.
use super::locate::Locator;
use super::raw::RawEcs;
use super::{Tls, DEFAULT_SSL_POLICY};
use crate::error::Result;

/// `certificate_arn`, `ssl_policy` and `redirect_http`.
pub fn tls_config(loc: &Locator, e: &RawEcs) -> Result<Option<Tls>> {
    let Some(cert) = &e.certificate_arn else {
        if let Some(p) = &e.ssl_policy {
            return Err(loc.at(p, "ecs.ssl_policy", "needs certificate_arn (HTTPS)".into()));
        }
        if e.redirect_http {
            return Err(loc.key(
                "ecs.redirect_http",
                "needs certificate_arn: it redirects HTTP to the HTTPS listener".into(),
            ));
        }
        return Ok(None);
    };
    let arn = cert.get_ref();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && ((parts[2] == "acm" && parts[5].starts_with("certificate/"))
            || (parts[2] == "iam" && parts[5].starts_with("server-certificate/")));
    if !ok {
        return Err(loc.at(
            cert,
            "ecs.certificate_arn",
            format!("\"{arn}\" is not an ACM certificate or IAM server certificate ARN"),
        ));
    }
    let ssl_policy = match &e.ssl_policy {
        Some(p) if !p.get_ref().starts_with("ELBSecurityPolicy-") => {
            return Err(loc.at(
                p,
                "ecs.ssl_policy",
                format!(
                    "\"{}\" is not an ELB security policy (e.g. {DEFAULT_SSL_POLICY})",
                    p.get_ref()
                ),
            ))
        }
        Some(p) => p.get_ref().clone(),
        None => DEFAULT_SSL_POLICY.into(),
    };
    Ok(Some(Tls {
        certificate_arn: arn.clone(),
        ssl_policy,
    }))
}
