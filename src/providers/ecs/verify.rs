//! `verify` for ECS: the cluster, the VPC, its subnets and security groups,
//! the task definition's roles, the certificate, and an existing load
//! balancer or listener, all read-only.
use super::Ecs;
use crate::aws::raw::{values, Answer, Raw, Service};
use crate::error::{aws, Result};
use crate::providers::Finding;
use crate::rollout::Color;
use crate::template::Model;

const EC2: &str = "2016-11-15";

impl Ecs<'_> {
    pub async fn verify(&self, raw: &Raw) -> Result<Vec<Finding>> {
        let mut f = Vec::new();
        let cluster = &self.cfg.cluster;
        let note = if self.cluster_active().await? {
            "exists"
        } else {
            "provision will create it"
        };
        f.push(Finding::new(
            format!("ECS cluster {cluster} ({note})"),
            None,
        ));
        let vpc = &self.cfg.vpc;
        let answer = ec2(raw, "DescribeVpcs", "VpcId", std::slice::from_ref(vpc)).await?;
        f.push(Finding::new(
            format!("VPC {vpc}"),
            refused(&answer).map(|why| format!("{why}; fix ecs.vpc")),
        ));
        for s in &self.cfg.subnets {
            let a = ec2(raw, "DescribeSubnets", "SubnetId", std::slice::from_ref(s)).await?;
            f.push(Finding::new(
                format!("subnet {s}"),
                in_vpc(&a, vpc, "ecs.subnets"),
            ));
        }
        for g in &self.cfg.security_groups {
            let a = ec2(
                raw,
                "DescribeSecurityGroups",
                "GroupId",
                std::slice::from_ref(g),
            )
            .await?;
            f.push(Finding::new(
                format!("security group {g}"),
                in_vpc(&a, vpc, "ecs.security_groups"),
            ));
        }
        let model = Model::placeholder("verify");
        let td = self.render_taskdef(Color::Blue, "verify", Some(&model))?;
        for (key, arn) in [
            ("executionRoleArn", td.execution_role_arn),
            ("taskRoleArn", td.task_role_arn),
        ] {
            if let Some(arn) = arn {
                f.push(role(raw, &arn, &format!("the task definition's {key}")).await?);
            }
        }
        if let Some(h) = &self.cfg.https {
            f.push(certificate(raw, &h.certificate_arn).await?);
        }
        if let Some(arn) = &self.cfg.load_balancer_arn {
            let found = self.find_lb().await;
            f.push(Finding::new(
                format!("load balancer {arn}"),
                match found {
                    Ok(Some(lb)) if lb.vpc_id() != Some(vpc.as_str()) => Some(format!(
                        "is in {}, not in ecs.vpc {vpc}",
                        lb.vpc_id().unwrap_or("another VPC")
                    )),
                    Ok(Some(_)) => None,
                    Ok(None) => Some("does not exist; fix ecs.load_balancer_arn".into()),
                    Err(e) => Some(e.to_string()),
                },
            ));
        }
        if let Some(r) = &self.cfg.shared_rule {
            let found = self
                .c
                .elb
                .describe_listeners()
                .listener_arns(&r.listener_arn)
                .send()
                .await;
            f.push(Finding::new(
                format!("listener {}", r.listener_arn),
                match found {
                    Ok(o) if !o.listeners().is_empty() => None,
                    Ok(_) => Some("does not exist; fix ecs.listener_arn".into()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|x| x.is_listener_not_found_exception()) =>
                    {
                        Some("does not exist; fix ecs.listener_arn".into())
                    }
                    Err(e) => return Err(aws("describe listeners", e)),
                },
            ));
        }
        Ok(f)
    }
}

async fn ec2(raw: &Raw, action: &str, key: &str, ids: &[String]) -> Result<Answer> {
    let params: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("{key}.{}", i + 1), id.clone()))
        .collect();
    raw.query(Service::Ec2, EC2, action, &params).await
}

/// Why AWS refused (a missing resource says "does not exist").
fn refused(a: &Answer) -> Option<String> {
    match a {
        Answer::Ok(_) => None,
        Answer::Refused { code, .. }
            if code.ends_with(".NotFound") || code.ends_with(".Malformed") =>
        {
            Some("does not exist".into())
        }
        Answer::Refused { code, message } => Some(format!("{code}: {message}")),
    }
}

/// A subnet or security group that must be in `vpc`.
fn in_vpc(a: &Answer, vpc: &str, key: &str) -> Option<String> {
    if let Some(why) = refused(a) {
        return Some(format!("{why}; fix {key}"));
    }
    let Answer::Ok(xml) = a else { return None };
    match values(xml, "vpcId").first() {
        Some(v) if v == vpc => None,
        Some(v) => Some(format!("is in {v}, not in ecs.vpc {vpc}; fix {key}")),
        None => Some(format!("does not exist; fix {key}")),
    }
}

/// An IAM role named by its ARN must exist.
pub async fn role(raw: &Raw, arn: &str, what: &str) -> Result<Finding> {
    let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
    let a = raw
        .query(
            Service::Iam,
            "2010-05-08",
            "GetRole",
            &[("RoleName".into(), name)],
        )
        .await?;
    Ok(Finding::new(
        format!("IAM role {arn} ({what})"),
        match &a {
            Answer::Ok(_) => None,
            Answer::Refused { code, .. } if code == "NoSuchEntity" => {
                Some("does not exist; create it or fix the ARN".into())
            }
            Answer::Refused { code, message } => Some(format!("{code}: {message}")),
        },
    ))
}

/// An ACM certificate must be ISSUED.
async fn certificate(raw: &Raw, arn: &str) -> Result<Finding> {
    let a = raw
        .json(
            Service::Acm,
            "CertificateManager.DescribeCertificate",
            serde_json::json!({"CertificateArn": arn}),
        )
        .await?;
    Ok(Finding::new(
        format!("certificate {arn}"),
        match a {
            Ok(v) => match v["Certificate"]["Status"].as_str() {
                Some("ISSUED") => None,
                Some(s) => Some(format!(
                    "is {s}, not ISSUED; an HTTPS listener needs an issued certificate"
                )),
                None => Some("has no status".into()),
            },
            Err(Answer::Refused { code, .. }) if code == "ResourceNotFoundException" => {
                Some("does not exist; fix ecs.certificate_arn".into())
            }
            Err(Answer::Refused { code, message }) => Some(format!("{code}: {message}")),
            Err(Answer::Ok(_)) => None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_must_be_in_the_vpc() {
        let ok = Answer::Ok("<item><vpcId>vpc-1</vpcId></item>".into());
        assert_eq!(in_vpc(&ok, "vpc-1", "ecs.subnets"), None);
        assert!(in_vpc(&ok, "vpc-2", "ecs.subnets")
            .unwrap()
            .contains("is in vpc-1"));
        let gone = Answer::Refused {
            code: "InvalidSubnetID.NotFound".into(),
            message: "x".into(),
        };
        assert_eq!(
            in_vpc(&gone, "vpc-1", "ecs.subnets").as_deref(),
            Some("does not exist; fix ecs.subnets")
        );
    }
}
