//! `verify` for SageMaker: the execution role, the image in ECR, and the
//! model package group, all read-only.
use super::SageMaker;
use crate::aws::raw::{Answer, Raw, Service};
use crate::error::Result;
use crate::providers::ecs::role;
use crate::providers::Finding;

impl SageMaker<'_> {
    pub async fn verify(&self, raw: &Raw) -> Result<Vec<Finding>> {
        let mut f = vec![
            role(
                raw,
                &self.cfg.execution_role_arn,
                "sagemaker.execution_role_arn",
            )
            .await?,
        ];
        f.push(self.image(raw).await?);
        if let Some(g) = &self.cfg.model_package_group {
            let found = self
                .c
                .sagemaker
                .describe_model_package_group()
                .model_package_group_name(g)
                .send()
                .await;
            f.push(Finding::new(
                format!("model package group {g}"),
                found.err().map(|e| {
                    if super::is_not_found(&e) {
                        "does not exist; fix sagemaker.model_package_group".to_string()
                    } else {
                        crate::error::aws("describe model package group", e).to_string()
                    }
                }),
            ));
        }
        Ok(f)
    }

    /// The image's ECR repository must exist, and its tag too when the image
    /// names one without a template.
    async fn image(&self, raw: &Raw) -> Result<Finding> {
        let image = &self.cfg.image;
        let what = format!("image {image}");
        let Some((account, repo, tag)) = ecr_parts(image) else {
            return Ok(Finding::new(
                what,
                Some("is not an ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>); SageMaker pulls from ECR".into()),
            ));
        };
        // The image's own registry (AWS's Deep Learning Containers live in theirs).
        let body = match &tag {
            Some(t) => {
                serde_json::json!({"registryId": account, "repositoryName": repo, "imageIds": [{"imageTag": t}]})
            }
            None => serde_json::json!({"registryId": account, "repositoryNames": [repo]}),
        };
        let target = if tag.is_some() {
            "AmazonEC2ContainerRegistry_V20150921.DescribeImages"
        } else {
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"
        };
        let problem = match raw.json(Service::Ecr, target, body).await? {
            Ok(_) => None,
            Err(Answer::Refused { code, .. }) if code == "RepositoryNotFoundException" => {
                Some(format!("repository {repo} does not exist in ECR; push the image or fix sagemaker.image"))
            }
            Err(Answer::Refused { code, .. }) if code == "ImageNotFoundException" => Some(format!(
                "tag {} is not in repository {repo}; push it or fix sagemaker.image",
                tag.unwrap_or_default()
            )),
            Err(Answer::Refused { code, .. }) if code.contains("AccessDenied") => {
                return Ok(Finding::new(
                    format!("{what} (not checked: no read access to registry {account}; SageMaker's role needs it)"),
                    None,
                ))
            }
            Err(Answer::Refused { code, message }) => Some(format!("{code}: {message}")),
            Err(Answer::Ok(_)) => None,
        };
        Ok(Finding::new(what, problem))
    }
}

/// (account, repository, tag) of an ECR image URI; the tag is None when it
/// is a template or absent.
fn ecr_parts(image: &str) -> Option<(String, String, Option<String>)> {
    let (host, path) = image.split_once('/')?;
    let (account, _) = host.split_once(".dkr.ecr.")?;
    let (repo, tag) = match path.split_once('@') {
        Some((r, _digest)) => (r, None),
        None => match path.rsplit_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (path, None),
        },
    };
    let tag = tag.filter(|t| !t.contains("{{")).map(String::from);
    (!repo.contains("{{")).then(|| (account.to_string(), repo.to_string(), tag))
}

#[cfg(test)]
mod tests {
    use super::ecr_parts;

    #[test]
    fn reads_ecr_uris() {
        let u = "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:{{ version }}";
        assert_eq!(
            ecr_parts(u),
            Some(("123456789012".into(), "iris".into(), None))
        );
        let u = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml/iris:v1";
        assert_eq!(
            ecr_parts(u),
            Some(("123456789012".into(), "ml/iris".into(), Some("v1".into())))
        );
        assert_eq!(ecr_parts("docker.io/library/nginx:1"), None);
    }
}
