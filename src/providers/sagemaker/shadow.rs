//! Shadow variants (`[shadow]`): the candidate as the endpoint's shadow
//! variant with Data Capture on both variants, turned into a production
//! variant at 0% when the shadow phase passes, and the captured answers
//! read back for `[compare]`.
use std::time::Duration;

use aws_sdk_s3::types::{Tag, Tagging};
use aws_sdk_sagemaker::types as st;

use super::scaling::counts;
use super::SageMaker;
use crate::compare::capture::{records, Captured};
use crate::config::ShadowConfig;
use crate::error::{aws, failed, invalid, Result};
use crate::output::Out;
use crate::rollout::Color;

/// At most this much capture data is read per variant (the newest files first).
const READ_CAP: usize = 16 << 20;

impl SageMaker<'_> {
    fn shadow_cfg(&self) -> Result<&ShadowConfig> {
        self.shadow
            .as_ref()
            .ok_or_else(|| failed("this stack has no [shadow]".to_string()))
    }

    /// (bucket, prefix) of the capture: `[shadow] capture`, or cutover's
    /// bucket for the account and Region (`cutover-<account>-<region>-capture`).
    fn capture_at(&self) -> Result<(String, String, bool)> {
        let account = self.cfg.execution_role_arn.split(':').nth(4);
        self.shadow_cfg()?
            .capture_at(&self.name, account, &self.c.region)
            .ok_or_else(|| invalid("sagemaker.execution_role_arn names no account; set [shadow] capture = \"s3://bucket/prefix\""))
    }

    /// Creates cutover's capture bucket when it is missing (tagged); refuses
    /// a bucket of that name that is not cutover's.
    async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        let s3 = &self.c.s3;
        if s3.head_bucket().bucket(bucket).send().await.is_ok() {
            let tags = s3.get_bucket_tagging().bucket(bucket).send().await;
            let ours = tags.is_ok_and(|t| t.tag_set().iter().any(|t| t.key() == "cutover:managed"));
            if !ours {
                return Err(invalid(format!(
                    "S3 bucket {bucket} exists but is not cutover's; set [shadow] capture = \"s3://your-bucket/prefix\""
                )));
            }
            return Ok(());
        }
        let mut req = s3.create_bucket().bucket(bucket);
        if self.c.region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        self.c.region.as_str(),
                    ))
                    .build(),
            );
        }
        req.send()
            .await
            .map_err(|e| aws("create capture bucket", e))?;
        let tags = Tagging::builder()
            .tag_set(
                Tag::builder()
                    .key("cutover:managed")
                    .value("true")
                    .build()
                    .map_err(|e| failed(e.to_string()))?,
            )
            .build()
            .map_err(|e| failed(e.to_string()))?;
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(tags)
            .send()
            .await
            .map_err(|e| aws("tag capture bucket", e))?;
        Ok(())
    }

    fn capture_config(bucket: &str, prefix: &str) -> st::DataCaptureConfig {
        let opt = |m| st::CaptureOption::builder().capture_mode(m).build();
        st::DataCaptureConfig::builder()
            .enable_capture(true)
            .initial_sampling_percentage(100)
            .destination_s3_uri(format!("s3://{bucket}/{prefix}"))
            .capture_options(opt(st::CaptureMode::Input))
            .capture_options(opt(st::CaptureMode::Output))
            .capture_content_type_header(
                st::CaptureContentTypeHeader::builder()
                    .json_content_types("application/json")
                    .build(),
            )
            .build()
    }

    /// After validation: the candidate `c` (a 0% production variant) becomes
    /// the shadow of the live colour, with Data Capture on both.
    pub async fn to_shadow(
        &self,
        c: Color,
        live: Color,
        timeout: Duration,
        out: &Out,
    ) -> Result<()> {
        let s = self.shadow_cfg()?;
        let (bucket, prefix, ours) = self.capture_at()?;
        if ours {
            self.ensure_bucket(&bucket).await?;
        }
        let d = self
            .describe()
            .await?
            .ok_or_else(|| failed(format!("endpoint {} does not exist", self.name)))?;
        let current = d.endpoint_config_name().unwrap_or_default().to_string();
        let variants = self.current_variants(&current, &counts(&d)).await?;
        let (Some(lv), Some(cv)) = (variants.get(&live), variants.get(&c)) else {
            return Err(failed(format!(
                "endpoint {} lacks the {live} or {c} variant",
                self.name
            )));
        };
        // SageMaker samples the shadow at its weight relative to production's.
        let shadow = Self::variant(c, cv, s.sampling as f32 / 100.0);
        let name = self.new_config_name();
        self.c
            .sagemaker
            .create_endpoint_config()
            .endpoint_config_name(&name)
            .production_variants(Self::variant(live, lv, 1.0))
            .shadow_production_variants(shadow)
            .data_capture_config(Self::capture_config(&bucket, &prefix))
            .set_tags(Some(super::sm_tags(&self.name, None)))
            .send()
            .await
            .map_err(|e| aws("create endpoint config", e))?;
        out.info(&format!(
            "{c} becomes the shadow of {live}: a copy of {}% of requests, its answers captured to s3://{bucket}/{prefix}",
            s.sampling
        ));
        self.update_to(&name, &[live, c], timeout, out).await
    }

    /// If `c` is the endpoint's shadow variant: makes it a production variant
    /// at 0% beside the live colour (capture off). Returns whether it was one.
    pub(super) async fn unshadow(&self, c: Color, out: &Out) -> Result<bool> {
        let Some(d) = self.describe().await? else {
            return Ok(false);
        };
        if !d
            .shadow_production_variants()
            .iter()
            .any(|v| v.variant_name() == Some(c.as_str()))
        {
            return Ok(false);
        }
        let current = d.endpoint_config_name().unwrap_or_default().to_string();
        let variants = self.current_variants(&current, &counts(&d)).await?;
        let live = c.other();
        let (Some(lv), Some(cv)) = (variants.get(&live), variants.get(&c)) else {
            return Err(failed(format!(
                "endpoint {} lacks the {live} or {c} variant",
                self.name
            )));
        };
        let config = self
            .create_config(vec![
                Self::variant(live, lv, 1.0),
                Self::variant(c, cv, 0.0),
            ])
            .await?;
        out.info(&format!(
            "the shadow {c} becomes a production variant at 0%"
        ));
        self.update_to(&config, &[live, c], Duration::from_secs(1800), out)
            .await?;
        Ok(true)
    }

    /// Removes `c` if it is the endpoint's shadow variant.
    pub async fn drop_shadow(&self, c: Color) -> Result<()> {
        use crate::providers::Release;
        let Some(d) = self.describe().await? else {
            return Ok(());
        };
        if d.shadow_production_variants()
            .iter()
            .any(|v| v.variant_name() == Some(c.as_str()))
        {
            self.retire(c).await?;
        }
        Ok(())
    }

    /// The newest captured records of variant `c` since `from` (ms), at most
    /// `READ_CAP` bytes read.
    pub async fn captured(&self, c: Color, from: u64) -> Result<Vec<Captured>> {
        let (bucket, prefix, _) = self.capture_at()?;
        let mut keys = Vec::new();
        // Data Capture writes <prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/...
        let hour = 3_600_000;
        let now = crate::store::now_ms();
        let mut t = from / hour * hour;
        while t <= now && keys.len() < 10_000 {
            let ts =
                jiff::Timestamp::from_millisecond(t as i64).map_err(|e| failed(e.to_string()))?;
            let p = format!("{prefix}/{}/{c}/{}/", self.name, ts.strftime("%Y/%m/%d/%H"));
            let p = p.trim_start_matches('/').to_string();
            let mut pages = self
                .c
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&p)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws("list captured data", e))?;
                for o in page.contents() {
                    let modified = o
                        .last_modified()
                        .and_then(|m| m.to_millis().ok())
                        .unwrap_or(0);
                    if modified as u64 + 60_000 >= from {
                        keys.push((modified, o.key().unwrap_or_default().to_string()));
                    }
                }
            }
            t += hour;
        }
        keys.sort();
        let mut out = Vec::new();
        let mut read = 0usize;
        for (_, k) in keys.into_iter().rev() {
            if read >= READ_CAP {
                break;
            }
            let o = self
                .c
                .s3
                .get_object()
                .bucket(&bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| aws("read captured data", e))?;
            let body = o
                .body
                .collect()
                .await
                .map_err(|e| failed(format!("read captured data {k}: {e}")))?;
            let bytes = body.into_bytes();
            read += bytes.len();
            out.extend(records(&String::from_utf8_lossy(
                &bytes[..bytes.len().min(READ_CAP)],
            )));
        }
        Ok(out)
    }

    /// Deletes cutover's capture bucket's objects of this stack, and the
    /// bucket once empty (only cutover's own bucket, never `[shadow] capture`).
    pub(super) async fn delete_capture(&self, out: &Out) -> Result<Vec<String>> {
        let Ok((bucket, prefix, true)) = self.capture_at() else {
            return Ok(vec![]);
        };
        if self
            .c
            .s3
            .head_bucket()
            .bucket(&bucket)
            .send()
            .await
            .is_err()
        {
            return Ok(vec![]);
        }
        let mut n = 0;
        let mut pages = self
            .c
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(format!("{prefix}/"))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws("list captured data", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
        }
        for k in keys {
            self.c
                .s3
                .delete_object()
                .bucket(&bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| aws("delete captured data", e))?;
            n += 1;
        }
        let mut done = vec![];
        if n > 0 {
            out.info(&format!(
                "  delete {n} captured file(s) in s3://{bucket}/{prefix}"
            ));
            done.push(format!("captured data s3://{bucket}/{prefix} ({n})"));
        }
        let left = self
            .c
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| aws("list capture bucket", e))?;
        if left.key_count().unwrap_or(0) == 0 {
            self.c
                .s3
                .delete_bucket()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| aws("delete capture bucket", e))?;
            out.info(&format!("  delete S3 bucket {bucket}"));
            done.push(format!("S3 bucket {bucket}"));
        }
        Ok(done)
    }
}
