//! `verify`: what the config names is read back from the emulator (EC2, IAM,
//! ACM, ECR, ELBv2, SageMaker); every problem is named, exit 2, and nothing
//! is written.
use std::process::Command;

use crate::common::{python, Stack};

/// Runs boto3 against the emulator (creating what a test needs).
fn boto(s: &Stack, code: &str) {
    let script = format!(
        "import boto3\nkw = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='seed', aws_secret_access_key='test')\n{code}\n",
        s.emu.url
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn verify_names_every_missing_thing_and_writes_nothing() {
    let s = Stack::new("verifyecs", &[]);
    let out = s.ok(&["verify"], 0);
    assert!(out.contains("ok       VPC vpc-"), "{out}");
    assert!(out.contains("checks passed"), "{out}");

    // A subnet and a security group that do not exist, a role that does
    // not exist, a certificate that does not exist.
    let before = s.requests().len();
    s.edit_config(|t| {
        t.replace("subnets = [\"", "subnets = [\"subnet-0000000000000dead\", \"")
            .replace("security_groups = [\"", "security_groups = [\"sg-0000000000000dead\", \"")
            .replace(
                "desired_count = 2",
                "desired_count = 2\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/0000dead\"",
            )
    });
    let td = s.dir.path().join("task.json.j2");
    let text = std::fs::read_to_string(&td).unwrap();
    std::fs::write(
        &td,
        text.replacen(
            "\"cpu\"",
            "\"executionRoleArn\": \"arn:aws:iam::123456789012:role/verifyecs-exec\",\n  \"cpu\"",
            1,
        ),
    )
    .unwrap();
    let out = s.exits(&["verify"], 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for needle in [
        "subnet subnet-0000000000000dead: does not exist",
        "security group sg-0000000000000dead: does not exist",
        "IAM role arn:aws:iam::123456789012:role/verifyecs-exec",
        "certificate arn:aws:acm:us-east-1:123456789012:certificate/0000dead: does not exist",
    ] {
        assert!(stderr.contains(needle), "{needle}\n{stderr}");
        assert!(
            stdout.contains(needle.split(':').next().unwrap()),
            "{stdout}"
        );
    }
    assert!(stderr.contains("4 of "), "{stderr}");
    assert_eq!(s.writes_since(before), vec![], "verify wrote something");

    // A subnet of another VPC is named as such; the role, once created, passes.
    boto(
        &s,
        "ec2 = boto3.client('ec2', **kw)\n\
         v = ec2.create_vpc(CidrBlock='10.9.0.0/16')['Vpc']['VpcId']\n\
         sn = ec2.create_subnet(VpcId=v, CidrBlock='10.9.1.0/24')['Subnet']['SubnetId']\n\
         open('other-subnet', 'w').write(sn)\n\
         iam = boto3.client('iam', **kw)\n\
         iam.create_role(RoleName='verifyecs-exec', AssumeRolePolicyDocument='{}')",
    );
    let other = std::fs::read_to_string(s.dir.path().join("other-subnet")).unwrap();
    s.edit_config(|t| t.replace("subnet-0000000000000dead", &other));
    let err = s.exits_with_env(&["verify"], &[], 2);
    assert!(
        err.contains(&format!("subnet {other}: is in vpc-")),
        "{err}"
    );
    assert!(err.contains("not in ecs.vpc"), "{err}");
    assert!(!err.contains("role/verifyecs-exec"), "{err}");
}

#[test]
fn verify_checks_the_sagemaker_role_and_image() {
    let s = Stack::new("verifysm", &["--provider", "sagemaker"]);
    let err = s.exits_with_env(&["verify"], &[], 2);
    assert!(
        err.contains("IAM role arn:aws:iam::123456789012:role/sm"),
        "{err}"
    );
    assert!(
        err.contains("repository verifysm does not exist in ECR"),
        "{err}"
    );
    boto(
        &s,
        "boto3.client('iam', **kw).create_role(RoleName='sm', AssumeRolePolicyDocument='{}')\n\
         boto3.client('ecr', **kw).create_repository(repositoryName='verifysm')",
    );
    let out = s.ok(&["verify"], 0);
    assert!(out.contains("ok       image"), "{out}");
    let json = s.ok(&["-o", "json", "verify"], 0);
    let last: serde_json::Value =
        serde_json::from_str(json.trim().lines().last().unwrap()).unwrap();
    assert_eq!(last["problems"], 0, "{json}");
}
