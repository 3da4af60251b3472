//! HTTPS on the stack's listeners (protocol, certificate, TLS policy) and the
//! HTTP listener that redirects to it.
use aws_sdk_elasticloadbalancingv2::types as lt;

use crate::config::EcsConfig;

/// The port of the HTTP-to-HTTPS redirect listener.
pub const REDIRECT_PORT: u16 = 80;

pub fn protocol(cfg: &EcsConfig) -> lt::ProtocolEnum {
    match cfg.tls {
        Some(_) => lt::ProtocolEnum::Https,
        None => lt::ProtocolEnum::Http,
    }
}

pub fn scheme(cfg: &EcsConfig) -> &'static str {
    match cfg.tls {
        Some(_) => "https",
        None => "http",
    }
}

pub fn certificates(cfg: &EcsConfig) -> Option<Vec<lt::Certificate>> {
    cfg.tls.as_ref().map(|t| {
        vec![lt::Certificate::builder()
            .certificate_arn(&t.certificate_arn)
            .build()]
    })
}

pub fn ssl_policy(cfg: &EcsConfig) -> Option<String> {
    cfg.tls.as_ref().map(|t| t.ssl_policy.clone())
}

/// Whether a listener's protocol, certificate or TLS policy differs from the config.
pub fn differs(l: &lt::Listener, cfg: &EcsConfig) -> bool {
    match &cfg.tls {
        None => l.protocol() != Some(&lt::ProtocolEnum::Http),
        Some(t) => {
            l.protocol() != Some(&lt::ProtocolEnum::Https)
                || l.ssl_policy() != Some(t.ssl_policy.as_str())
                || l.certificates().first().and_then(|c| c.certificate_arn())
                    != Some(t.certificate_arn.as_str())
        }
    }
}

/// A permanent redirect to the HTTPS listener, keeping host, path and query.
pub fn redirect(cfg: &EcsConfig) -> lt::Action {
    lt::Action::builder()
        .r#type(lt::ActionTypeEnum::Redirect)
        .redirect_config(
            lt::RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port(cfg.listener_port.to_string())
                .host("#{host}")
                .path("/#{path}")
                .query("#{query}")
                .status_code(lt::RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build()
}
