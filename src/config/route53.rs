//! `[route53]`: switch by two weighted alias records in the user's hosted
//! zone instead of listener weights (ECS; each colour its own ALB).
use super::locate::Locator;
use super::raw::RawRoute53;
use super::{Backend, EcsConfig};
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub struct Route53Config {
    pub hosted_zone_id: String,
    /// The record name, lowercase, without the trailing dot.
    pub record: String,
}

impl Route53Config {
    /// The SetIdentifier of colour `c`'s record.
    pub fn set_identifier(stack: &str, c: crate::rollout::Color) -> String {
        format!("{stack}-{c}")
    }
}

/// A DNS name: labels of 1..=63 letters, digits, '-' (not at either end),
/// 253 characters at most.
fn dns_name_ok(n: &str) -> bool {
    n.len() <= 253
        && n.contains('.')
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Checks `[route53]` and puts it on the ECS config.
pub fn check_route53(loc: &Locator, raw: Option<&RawRoute53>, backend: &mut Backend) -> Result<()> {
    let Some(r) = raw else { return Ok(()) };
    let e: &mut EcsConfig = match backend {
        Backend::Ecs(e) => e,
        Backend::Sagemaker(_) => {
            return Err(loc.key(
                "route53",
                "works with provider = \"ecs\" (a colour per load balancer); a SageMaker endpoint has one name, switch its variants by weight instead".into(),
            ))
        }
    };
    let zone = r
        .hosted_zone_id
        .get_ref()
        .trim()
        .trim_start_matches("/hostedzone/");
    if zone.is_empty() || !zone.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(loc.at(
            &r.hosted_zone_id,
            "route53.hosted_zone_id",
            format!("\"{zone}\" is not a hosted zone id (e.g. \"Z0123456789\")"),
        ));
    }
    let record = r
        .record
        .get_ref()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !dns_name_ok(&record) {
        return Err(loc.at(
            &r.record,
            "route53.record",
            format!("\"{record}\" is not a DNS name (e.g. \"iris.example.com\")"),
        ));
    }
    let clash = if e.load_balancer_arn.is_some() || e.shared_rule.is_some() {
        Some("ecs.load_balancer_arn / ecs.listener_arn (a shared ALB)")
    } else if e.https.is_some() {
        Some("ecs.certificate_arn (HTTPS)")
    } else {
        None
    };
    if let Some(what) = clash {
        return Err(loc.key(
            "route53",
            format!("cannot be combined with {what} yet: with [route53] cutover makes one ALB per colour; remove one of them"),
        ));
    }
    e.route53 = Some(Route53Config {
        hosted_zone_id: zone.to_string(),
        record,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dns_name_ok;

    #[test]
    fn dns_names() {
        assert!(dns_name_ok("iris.example.com"));
        assert!(dns_name_ok("a-b.x1.io"));
        assert!(!dns_name_ok("localhost"));
        assert!(!dns_name_ok("-a.example.com"));
        assert!(!dns_name_ok("a..example.com"));
        assert!(!dns_name_ok("a_b.example.com"));
    }
}
