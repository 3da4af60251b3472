#!/usr/bin/env python3
"""Seed the emulator with a network and an alarm, and write a ready cutover.toml."""
import argparse
import os

import boto3

TASK = """{
  "family": "{{ name }}-{{ color }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "model",
    "image": "public.ecr.aws/example/{{ name }}:{{ version }}",
    "essential": true,
    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
    "environment": [
      {"name": "MODEL_VERSION", "value": "{{ version }}"},
      {"name": "ERROR_RATE", "value": "{{ env('ERROR_RATE', '0') }}"},
      {"name": "LATENCY_MS", "value": "{{ env('LATENCY_MS', '0') }}"},
      {"name": "OUTPUT_SHIFT", "value": "{{ env('OUTPUT_SHIFT', '0') }}"},
      {"name": "CONVERSION_RATE", "value": "{{ env('CONVERSION_RATE', '0') }}"}
    ]
  }]
}
"""


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    p.add_argument("--dir", default=".")
    p.add_argument("--name", default="iris")
    p.add_argument("--provider", default="ecs", choices=["ecs", "sagemaker"])
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--steps", default="10, 50, 100")
    p.add_argument("--bake", default="2s")
    p.add_argument("--poll", default="1s")
    p.add_argument("--termination-wait", default="30m")
    p.add_argument("--table", default="cutover-state")
    p.add_argument("--drain", default="2s", help="ECS deregistration_delay")
    p.add_argument("--cloudwatch-endpoint", default=None,
                   help="put the alarm in this CloudWatch (LocalStack) instead")
    a = p.parse_args()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region,
              aws_access_key_id="test", aws_secret_access_key="test")
    ec2 = boto3.client("ec2", **kw)
    cw = boto3.client("cloudwatch", **dict(kw, endpoint_url=a.cloudwatch_endpoint or a.endpoint))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                 AvailabilityZone=f"{a.region}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"{a.name}-sg", Description="cutover demo",
                                   VpcId=vpc)["GroupId"]
    alarm = f"{a.name}-5xx"
    # No dimensions: no datapoint ever matches it, and `ignore` keeps the
    # state that SetAlarmState gives it (tests drive it by hand).
    cw.put_metric_alarm(AlarmName=alarm, MetricName="HTTPCode_Target_5XX_Count",
                        Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    os.makedirs(a.dir, exist_ok=True)
    if a.provider == "ecs":
        provider = f"""[ecs]
cluster = "{a.name}-cluster"
vpc = "{vpc}"
subnets = ["{subnets[0]}", "{subnets[1]}"]
security_groups = ["{sg}"]
task_definition = "task.json.j2"
container_name = "model"
container_port = 8080
desired_count = 2
health_check_path = "/ping"
listener_port = 80
test_listener_port = 8080
deregistration_delay = "{a.drain}"
"""
        with open(os.path.join(a.dir, "task.json.j2"), "w") as f:
            f.write(TASK)
    else:
        provider = f"""[sagemaker]
execution_role_arn = "arn:aws:iam::123456789012:role/sm"
image = "123456789012.dkr.ecr.{a.region}.amazonaws.com/{a.name}:{{{{ version }}}}"
model_data = "s3://models/{a.name}/{{{{ version }}}}/model.tar.gz"
instance_type = "ml.m5.large"
instance_count = 1
environment = {{ MODEL_VERSION = "{{{{ version }}}}", ERROR_RATE = "{{{{ env('ERROR_RATE', '0') }}}}", LATENCY_MS = "{{{{ env('LATENCY_MS', '0') }}}}", OUTPUT_SHIFT = "{{{{ env('OUTPUT_SHIFT', '0') }}}}", CONVERSION_RATE = "{{{{ env('CONVERSION_RATE', '0') }}}}" }}
"""
    config = f"""name = "{a.name}"
provider = "{a.provider}"
region = "{a.region}"

[state]
table = "{a.table}"

{provider}
[rollout]
steps = [{a.steps}]
bake = "{a.bake}"
poll_interval = "{a.poll}"
termination_wait = "{a.termination_wait}"

[alarms]
watch = ["{alarm}"]
"""
    with open(os.path.join(a.dir, "cutover.toml"), "w") as f:
        f.write(config)
    print(f"seeded vpc={vpc} subnets={','.join(subnets)} sg={sg} alarm={alarm}")
    print(f"wrote {os.path.join(a.dir, 'cutover.toml')}")


if __name__ == "__main__":
    main()
