//! `[ecs]` keys for real accounts: the HTTPS certificate, the TLS policy, the
//! port-80 redirect and an existing load balancer.
use super::locate::Locator;
use super::raw::RawEcs;
use super::{EcsConfig, Https, SharedRule, DEFAULT_SSL_POLICY};
use crate::error::Result;

/// Whether `arn` names an ACM certificate or an IAM server certificate.
fn certificate_arn_ok(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return false;
    }
    match parts[2] {
        "acm" => {
            !parts[3].is_empty() && parts[5].starts_with("certificate/") && parts[5].len() > 12
        }
        "iam" => parts[5].starts_with("server-certificate/") && parts[5].len() > 19,
        _ => false,
    }
}

pub(super) fn https(loc: &Locator, e: &RawEcs) -> Result<Option<Box<Https>>> {
    let Some(cert) = &e.certificate_arn else {
        if let Some(r) = &e.redirect_http {
            if *r.get_ref() {
                return Err(loc.at(
                    r,
                    "ecs.redirect_http",
                    "needs certificate_arn (it redirects to the HTTPS listener)".into(),
                ));
            }
        }
        if e.ssl_policy.is_some() {
            return Err(loc.key(
                "ecs.ssl_policy",
                "needs certificate_arn (it applies to the HTTPS listener)".into(),
            ));
        }
        return Ok(None);
    };
    if !certificate_arn_ok(cert.get_ref()) {
        return Err(loc.at(
            cert,
            "ecs.certificate_arn",
            format!(
                "\"{}\" is not an ACM (arn:aws:acm:…:certificate/…) or IAM server certificate ARN",
                cert.get_ref()
            ),
        ));
    }
    Ok(Some(Box::new(Https {
        certificate_arn: cert.get_ref().clone(),
        ssl_policy: e
            .ssl_policy
            .clone()
            .unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string()),
        redirect_http: e.redirect_http.as_ref().is_some_and(|r| *r.get_ref()),
    })))
}

/// `load_balancer_arn`, which must name an application load balancer.
pub(super) fn load_balancer_arn(loc: &Locator, e: &RawEcs) -> Result<Option<String>> {
    let Some(arn) = &e.load_balancer_arn else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.get_ref().splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "elasticloadbalancing"
        && parts[5].starts_with("loadbalancer/app/");
    if !ok {
        return Err(loc.at(
            arn,
            "ecs.load_balancer_arn",
            format!(
                "\"{}\" is not an application load balancer ARN (arn:aws:elasticloadbalancing:…:loadbalancer/app/…)",
                arn.get_ref()
            ),
        ));
    }
    Ok(Some(arn.get_ref().clone()))
}

/// `listener_arn` with its rule: priority 1..=50000 and at least one condition.
pub(super) fn shared_rule(loc: &Locator, e: &RawEcs) -> Result<Option<Box<SharedRule>>> {
    let Some(arn) = &e.listener_arn else {
        if let Some(p) = &e.rule_priority {
            return Err(loc.at(p, "ecs.rule_priority", "needs listener_arn".into()));
        }
        if !e.host_header.is_empty() || !e.path_pattern.is_empty() {
            return Err(loc.key(
                "ecs.listener_arn",
                "host_header and path_pattern are conditions of the rule on listener_arn; set it"
                    .into(),
            ));
        }
        return Ok(None);
    };
    if !(arn.get_ref().starts_with("arn:aws")
        && arn.get_ref().contains(":elasticloadbalancing:")
        && arn.get_ref().contains(":listener/app/"))
    {
        return Err(loc.at(
            arn,
            "ecs.listener_arn",
            format!(
                "\"{}\" is not an application load balancer listener ARN",
                arn.get_ref()
            ),
        ));
    }
    let priority = match &e.rule_priority {
        None => return Err(loc.key("ecs.rule_priority", "is required with listener_arn".into())),
        Some(p) if !(1..=50000).contains(p.get_ref()) => {
            return Err(loc.at(
                p,
                "ecs.rule_priority",
                format!("{} is out of range (1..=50000)", p.get_ref()),
            ))
        }
        Some(p) => *p.get_ref() as u32,
    };
    if e.host_header.is_empty() && e.path_pattern.is_empty() {
        return Err(loc.at(
            arn,
            "ecs.listener_arn",
            "the rule needs a condition: set host_header or path_pattern".into(),
        ));
    }
    Ok(Some(Box::new(SharedRule {
        listener_arn: arn.get_ref().clone(),
        priority,
        host_header: e.host_header.clone(),
        path_pattern: e.path_pattern.clone(),
    })))
}

/// The ALB of `listener_arn` (…:listener/app/N/LB/L → …:loadbalancer/app/N/LB):
/// derived when `load_balancer_arn` is absent, and it must agree when present.
pub(super) fn lb_of_listener(loc: &Locator, mut c: EcsConfig) -> Result<EcsConfig> {
    let Some(r) = &c.shared_rule else {
        return Ok(c);
    };
    let derived = r
        .listener_arn
        .rsplit_once('/')
        .map(|(head, _)| head.replacen(":listener/app/", ":loadbalancer/app/", 1));
    match (&c.load_balancer_arn, derived) {
        (Some(lb), Some(d)) if *lb != d => Err(loc.key(
            "ecs.listener_arn",
            format!("belongs to load balancer {d}, not load_balancer_arn {lb}"),
        )),
        (None, d) => {
            c.load_balancer_arn = d;
            Ok(c)
        }
        _ => Ok(c),
    }
}

/// The redirect listener takes port 80, so neither other listener may.
pub(super) fn check_ports(loc: &Locator, c: EcsConfig) -> Result<EcsConfig> {
    if c.https.as_ref().is_some_and(|h| h.redirect_http)
        && (c.listener_port == 80 || c.test_listener_port == 80)
    {
        return Err(loc.key(
            "ecs.redirect_http",
            "needs port 80 for the redirect listener; listener_port and test_listener_port must not be 80".into(),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::certificate_arn_ok;

    #[test]
    fn certificate_arns() {
        assert!(certificate_arn_ok(
            "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"
        ));
        assert!(certificate_arn_ok(
            "arn:aws-us-gov:iam::123456789012:server-certificate/site"
        ));
        assert!(!certificate_arn_ok("arn:aws:s3:::bucket/cert"));
        assert!(!certificate_arn_ok("arn:aws:acm:us-east-1:1:certificate/"));
        assert!(!certificate_arn_ok("my-cert"));
    }
}
