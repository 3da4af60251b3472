//! AWS clients, tags and CloudWatch alarms (read, managed).
//! SDK setup in one place: credential/region chain, --profile, --region,
//! --endpoint-url (and AWS_ENDPOINT_URL), standard retries, timeouts.
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub mod alarms;
pub mod calls;
pub mod dashboard;
pub mod managed;
pub mod metric_series;
pub mod raw;
pub mod route53;
pub mod scheduler;

#[derive(Clone)]
pub struct Clients {
    pub region: String,
    /// The SDK config the clients were built from (credentials, endpoint).
    pub conf: SdkConfig,
    /// `--endpoint-url`, when given (it beats the per-service variables).
    pub endpoint_flag: Option<String>,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub runtime: aws_sdk_sagemakerruntime::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub route53: aws_sdk_route53::Client,
    pub s3: aws_sdk_s3::Client,
    pub scheduler: aws_sdk_scheduler::Client,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clients({})", self.region)
    }
}

#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// `[aws] role_arn`: the stack's calls use AssumeRole credentials.
    pub role: Option<Role>,
}

/// A role to assume for every call of one stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
    /// `cutover-<name>`: CloudTrail shows which stack acted.
    pub session: String,
}

/// `conf` with AssumeRole credentials for `role` (the SDK's provider,
/// cached and refreshed before they expire), checked once: a role that
/// cannot be assumed is said in those words, naming it.
async fn assume(conf: SdkConfig, role: &Role) -> crate::error::Result<SdkConfig> {
    use aws_credential_types::provider::ProvideCredentials;
    let mut b = aws_config::sts::AssumeRoleProvider::builder(&role.arn).session_name(&role.session);
    if let Some(x) = &role.external_id {
        b = b.external_id(x);
    }
    let provider = b.configure(&conf).build().await;
    if let Err(e) = provider.provide_credentials().await {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        return Err(crate::error::failed(format!(
            "cannot assume role {} (session {}): {why}",
            role.arn, role.session
        )));
    }
    Ok(conf
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build())
}

pub async fn sdk_config(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        );
    if let Some(r) = &opts.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    // An explicit profile (--profile, else AWS_PROFILE) beats keys in the
    // environment, as in aws-cli; the profile provider still follows SSO,
    // assume-role and credential_process profiles.
    let profile = opts
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    if let Some(p) = &profile {
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(
                    &aws_config::provider_config::ProviderConfig::default()
                        .with_http_client(https_client()),
                )
                .profile_name(p)
                .build(),
        );
    }
    // AWS_ENDPOINT_URL is read by the loader itself; the flag wins over it.
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

/// The one HTTPS client: hyper 1 + rustls on ring, as reqwest uses.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl Clients {
    /// Fails (bad input) when no region can be found anywhere.
    pub async fn new(opts: &AwsOptions) -> crate::error::Result<Clients> {
        let mut conf = sdk_config(opts).await;
        if let Some(role) = &opts.role {
            conf = assume(conf, role).await?;
        }
        let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
            crate::error::invalid(
                "no AWS region: set `region` in the config, pass --region, or set AWS_REGION",
            )
        })?;
        let mut c = Clients::from_conf(region, &conf);
        c.endpoint_flag = opts.endpoint_url.clone();
        Ok(c)
    }

    /// Clients for one SDK config (tests pass one with mocked HTTP).
    pub fn from_conf(region: String, conf: &SdkConfig) -> Clients {
        let conf = conf.clone();
        Clients {
            region,
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&conf),
            ecs: aws_sdk_ecs::Client::new(&conf),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&conf),
            sagemaker: aws_sdk_sagemaker::Client::new(&conf),
            runtime: aws_sdk_sagemakerruntime::Client::new(&conf),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&conf),
            dynamodb: aws_sdk_dynamodb::Client::new(&conf),
            eventbridge: aws_sdk_eventbridge::Client::new(&conf),
            route53: aws_sdk_route53::Client::new(&conf),
            scheduler: aws_sdk_scheduler::Client::new(&conf),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&conf)
                    .force_path_style(true)
                    .build(),
            ),
            conf,
            endpoint_flag: None,
        }
    }
}

/// Tags every resource cutover creates carries.
pub fn tags(stack: &str, color: Option<crate::rollout::Color>) -> Vec<(String, String)> {
    let mut t = vec![
        ("cutover:stack".to_string(), stack.to_string()),
        ("cutover:managed".to_string(), "true".to_string()),
    ];
    if let Some(c) = color {
        t.push(("cutover:color".to_string(), c.as_str().to_string()));
    }
    t
}
