//! The Route 53 router (`[route53]`): two weighted alias records, one per
//! colour's own load balancer, the Route 53 weight being the percentage;
//! every change waited to INSYNC and read back. A colour is reached through
//! its own load balancer (the test route).
use std::rc::Rc;
use std::time::Duration;

use super::Ecs;
use crate::aws::route53::{self as r53, Alias};
use crate::config::{Route53Config, ValidateRequest};
use crate::error::{failed, Result};
use crate::probe::{self, Outcome};
use crate::providers::Router;
use crate::rollout::{Color, Weights};

/// How long a change may take to reach every Route 53 name server (AWS:
/// usually within 60 s).
const INSYNC_WAIT: Duration = Duration::from_secs(180);

/// The TTL Route 53 gives alias records of load balancers.
pub const ALIAS_TTL: Duration = Duration::from_secs(60);

pub struct Records<'a> {
    ecs: Rc<Ecs<'a>>,
}

impl<'a> Records<'a> {
    pub fn new(ecs: Rc<Ecs<'a>>) -> Records<'a> {
        Records { ecs }
    }
}

impl Ecs<'_> {
    fn r53(&self) -> Result<&Route53Config> {
        self.cfg
            .route53
            .as_ref()
            .ok_or_else(|| failed("the Route 53 router needs [route53]".to_string()))
    }

    fn set_ids(&self) -> Vec<String> {
        Color::BOTH
            .iter()
            .map(|c| Route53Config::set_identifier(&self.name, *c))
            .collect()
    }

    /// Writes both records with these weights (one batch) and waits for INSYNC.
    pub(super) async fn write_records(&self, w: Weights) -> Result<()> {
        let cfg = self.r53()?;
        let arns = self.arns().await?;
        let mut aliases = Vec::new();
        for c in Color::BOTH {
            let lb = arns
                .by_color
                .get(&c)
                .ok_or_else(|| failed(format!("no load balancer for {c}")))?;
            aliases.push(Alias {
                set_identifier: Route53Config::set_identifier(&self.name, c),
                dns_name: lb.dns.clone(),
                zone: lb.zone.clone(),
                weight: w.of(c) as i64,
            });
        }
        r53::upsert(
            &self.c.route53,
            &cfg.hosted_zone_id,
            &cfg.record,
            &aliases,
            INSYNC_WAIT,
        )
        .await
    }

    /// Cutover's records as Route 53 lists them, refusing a record set of
    /// the name that is not ours (another SetIdentifier, or a simple record).
    pub(super) async fn own_records(&self) -> Result<Vec<r53::Weighted>> {
        let cfg = self.r53()?;
        let all = r53::records(&self.c.route53, &cfg.hosted_zone_id, &cfg.record).await?;
        let (ours, foreign) = r53::split(&all, &self.set_ids());
        if !foreign.is_empty() {
            return Err(crate::error::invalid(format!(
                "{} in hosted zone {} already has A records cutover does not own ({}); pick another [route53] record, or remove them",
                cfg.record,
                cfg.hosted_zone_id,
                foreign.join(", ")
            )));
        }
        Ok(ours)
    }

    /// Deletes cutover's two records (only those), as they are now.
    pub(super) async fn delete_records(&self) -> Result<usize> {
        let cfg = self.r53()?;
        let all = r53::records(&self.c.route53, &cfg.hosted_zone_id, &cfg.record).await?;
        let ids = self.set_ids();
        let ours: Vec<_> = all
            .into_iter()
            .filter(|r| {
                r.set_identifier()
                    .is_some_and(|i| ids.iter().any(|o| o == i))
            })
            .collect();
        let n = ours.len();
        r53::delete(&self.c.route53, &cfg.hosted_zone_id, ours, INSYNC_WAIT).await?;
        Ok(n)
    }

    /// The base URL of colour `c`'s own load balancer.
    async fn color_url(&self, c: Color) -> Result<String> {
        let arns = self.arns().await?;
        let lb = arns
            .by_color
            .get(&c)
            .ok_or_else(|| failed(format!("no load balancer for {c}")))?;
        Ok(format!("http://{}:{}", lb.dns, self.cfg.listener_port))
    }
}

impl Router for Records<'_> {
    async fn weights(&self) -> Result<Option<Weights>> {
        let ours = self.ecs.own_records().await?;
        if ours.is_empty() {
            return Ok(None);
        }
        let arns = self.ecs.arns().await?;
        let mut w = [0i64; 2];
        for (i, c) in Color::BOTH.into_iter().enumerate() {
            let id = Route53Config::set_identifier(&self.ecs.name, c);
            let Some(r) = ours.iter().find(|r| r.set_identifier == id) else {
                continue;
            };
            // A record aliasing anything but its colour's load balancer is a hand edit.
            let lb = arns.by_color.get(&c).map(|l| r53::norm(&l.dns));
            if r.target != lb {
                return Ok(None);
            }
            w[i] = r.weight;
        }
        Ok(Weights::from_relative(w[0] as f64, w[1] as f64))
    }

    async fn set_weights(&self, w: Weights) -> Result<()> {
        self.ecs.write_records(w).await
    }

    async fn send(&self, c: Color, r: &ValidateRequest, http: &reqwest::Client) -> Outcome {
        match self.ecs.color_url(c).await {
            Ok(base) => probe::http(http, &base, r, &[]).await,
            Err(e) => Err(e.to_string()),
        }
    }

    async fn test_url(&self) -> Option<String> {
        // The colour with less traffic: the candidate, or the idle one.
        let w = self.weights().await.ok().flatten()?;
        let idle = if w.blue <= w.green {
            Color::Blue
        } else {
            Color::Green
        };
        self.ecs.color_url(idle).await.ok()
    }
}

/// What the name servers answer for the record over a few fresh queries.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Resolved {
    pub server: String,
    pub samples: usize,
    pub blue: usize,
    pub green: usize,
    /// Answers naming neither colour's load balancer (or none at all).
    pub other: usize,
}

async fn addrs(host: &str, port: u16) -> Vec<std::net::SocketAddr> {
    match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(_) => vec![],
    }
}

impl Records<'_> {
    /// Sends `n` A queries for the record to the zone's name server (or to
    /// the emulator at `endpoint`) and counts the colour each answer names.
    /// None when no name server can be reached.
    pub async fn resolved(&self, endpoint: Option<&str>, n: usize) -> Result<Option<Resolved>> {
        let cfg = self.ecs.r53()?;
        let (host, port) = match endpoint {
            Some(url) => {
                let rest = url.split("://").nth(1).unwrap_or(url);
                let hostport = rest.split('/').next().unwrap_or(rest);
                let (h, p) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
                (
                    h.trim_matches(['[', ']']).to_string(),
                    p.parse().unwrap_or(80),
                )
            }
            None => {
                let z = self
                    .ecs
                    .c
                    .route53
                    .get_hosted_zone()
                    .id(&cfg.hosted_zone_id)
                    .send()
                    .await
                    .map_err(|e| crate::error::aws("get hosted zone", e))?;
                match z.delegation_set().and_then(|d| d.name_servers().first()) {
                    Some(ns) => (ns.clone(), 53),
                    None => return Ok(None),
                }
            }
        };
        let Some(server) = addrs(&host, port).await.into_iter().find(|a| a.is_ipv4()) else {
            return Ok(None);
        };
        let arns = self.ecs.arns().await?;
        let mut ips = std::collections::BTreeMap::new();
        for (c, lb) in &arns.by_color {
            for a in addrs(&lb.dns, 80).await {
                ips.insert(a.ip(), *c);
            }
        }
        let mut r = Resolved {
            server: server.to_string(),
            samples: n,
            blue: 0,
            green: 0,
            other: 0,
        };
        for i in 0..n {
            let got = crate::resolve::resolve(server, &cfg.record, 0x4000 + i as u16).await;
            let colour = got
                .and_then(|a| a.first().copied())
                .and_then(|ip| ips.get(&std::net::IpAddr::V4(ip)).copied());
            match colour {
                Some(Color::Blue) => r.blue += 1,
                Some(Color::Green) => r.green += 1,
                None => r.other += 1,
            }
        }
        Ok(Some(r))
    }
}
