#!/usr/bin/env python3
"""End-to-end check of the two "stuck" test hooks (exits non-zero on failure).

  localstack/up --port 4799
  ~/.cache/cutover/emulator/venv/bin/python localstack/stuck_check.py --port 4799

SageMaker (POST /_emulator/sagemaker/hold-updating/<endpoint>?seconds=N and
.../release/<endpoint>): blue 1 / green 0, a held weight update to 0.9/0.1
stays Updating with Desired 0.9/0.1 and Current 1/0, traffic stays on blue,
a second update is refused as in-progress; after N s (or the release) Current
takes Desired and traffic splits. Without a hold, updates stay instant.
ECS (POST/DELETE /_emulator/ecs/unhealthy/<service>): a service with one
healthy task scaled to 2 after the hook: the new target goes unhealthy
(Target.FailedHealthChecks) and stays so, the old one stays healthy.
"""
import argparse
import collections
import http.client
import json
import sys
import time
import urllib.request

import boto3

FAILS = []
ROW = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def hook(emu, path, method="POST"):
    return json.load(urllib.request.urlopen(urllib.request.Request(emu + path, method=method)))


def post(host, port, path="/invocations"):
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request("POST", path, body=ROW, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status
    except OSError:
        return 0
    finally:
        c.close()


def sagemaker(emu, kw, n):
    sm, smr = boto3.client("sagemaker", **kw), boto3.client("sagemaker-runtime", **kw)
    role = "arn:aws:iam::123456789012:role/sm"
    for c, version in (("blue", "v1"), ("green", "v2")):
        sm.create_model(ModelName=f"{n}-{c}", ExecutionRoleArn=role,
                        PrimaryContainer={"Image": f"x/{n}:{version}", "Environment": {"MODEL_VERSION": version}})
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c1", ProductionVariants=[
        {"VariantName": c, "ModelName": f"{n}-{c}", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": w} for c, w in (("blue", 1.0), ("green", 0.0))])
    sm.create_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1")

    def wait_in_service(limit=20):
        t0 = time.time()
        while time.time() - t0 < limit:
            d = sm.describe_endpoint(EndpointName=n)
            if d["EndpointStatus"] == "InService":
                return d, time.time() - t0
            time.sleep(0.2)
        return d, None

    def weights(d, field):
        return {v["VariantName"]: v.get(field) for v in d["ProductionVariants"]}

    def split(count):
        return collections.Counter(
            smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=ROW)["InvokedProductionVariant"]
            for _ in range(count))

    def update(bw, gw, **extra):
        return sm.update_endpoint_weights_and_capacities(EndpointName=n, DesiredWeightsAndCapacities=[
            {"VariantName": "blue", "DesiredWeight": bw}, {"VariantName": "green", "DesiredWeight": gw, **extra}])

    def refused(call):
        try:
            call()
            return "accepted"
        except sm.exceptions.ClientError as e:
            return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                    e.response["Error"]["Message"])

    d, _ = wait_in_service()
    arn = d["EndpointArn"]
    check(d["EndpointStatus"] == "InService" and weights(d, "CurrentWeight") == {"blue": 1.0, "green": 0.0},
          f"endpoint {n} InService, blue 1 / green 0")
    in_progress = (400, "ValidationException", f'Cannot update in-progress endpoint "{arn}".')

    # A timed hold.
    hook(emu, f"/_emulator/sagemaker/hold-updating/{n}?seconds=4")
    t0 = time.time()
    update(0.9, 0.1)
    d = sm.describe_endpoint(EndpointName=n)
    check(d["EndpointStatus"] == "Updating", f"held weight update -> {d['EndpointStatus']}")
    check(weights(d, "DesiredWeight") == {"blue": 0.9, "green": 0.1} and
          weights(d, "CurrentWeight") == {"blue": 1.0, "green": 0.0},
          f"Desired {weights(d, 'DesiredWeight')} at once, Current still {weights(d, 'CurrentWeight')}")
    res = split(60)
    check(res == {"blue": 60}, f"while held, InvokeEndpoint follows CurrentWeight: {dict(res)}")
    got = refused(lambda: update(0.5, 0.5))
    check(got == in_progress, f"second UpdateEndpointWeightsAndCapacities -> {got}")
    got = refused(lambda: sm.update_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1"))
    check(got == in_progress, f"UpdateEndpoint while held -> {got[:2] if isinstance(got, tuple) else got}")
    d, _ = wait_in_service()
    took = time.time() - t0
    check(d["EndpointStatus"] == "InService" and 3.5 <= took <= 5.5, f"InService after {round(took, 1)} s (hold 4 s)")
    check(weights(d, "CurrentWeight") == {"blue": 0.9, "green": 0.1} and
          weights(d, "DesiredWeight") == {"blue": 0.9, "green": 0.1}, f"then Current {weights(d, 'CurrentWeight')}")
    res = split(200)
    check(set(res) == {"blue", "green"} and 5 <= res["green"] <= 45, f"then traffic splits 0.9/0.1: {dict(res)}")

    # Without a hold: instant, as before.
    update(1.0, 0.0)
    d = sm.describe_endpoint(EndpointName=n)
    check(d["EndpointStatus"] == "InService" and weights(d, "CurrentWeight") == {"blue": 1.0, "green": 0.0},
          f"unheld update is instant: {d['EndpointStatus']} {weights(d, 'CurrentWeight')}")

    # A hold until release (also holds the instance count).
    hook(emu, f"/_emulator/sagemaker/hold-updating/{n}")
    update(0.5, 0.5, DesiredInstanceCount=2)
    time.sleep(3)  # longer than EMU_SAGEMAKER_UPDATE_SECONDS
    d = sm.describe_endpoint(EndpointName=n)
    counts = {v["VariantName"]: (v.get("CurrentInstanceCount"), v.get("DesiredInstanceCount"))
              for v in d["ProductionVariants"]}
    check(d["EndpointStatus"] == "Updating" and weights(d, "CurrentWeight") == {"blue": 1.0, "green": 0.0}
          and counts["green"] == (1, 2), f"hold without seconds: still Updating after 3 s, green count {counts['green']}")
    got = refused(lambda: update(0.2, 0.8))
    check(got == in_progress, f"update while held -> {got[:2] if isinstance(got, tuple) else got}")
    hook(emu, f"/_emulator/sagemaker/release/{n}")
    d = sm.describe_endpoint(EndpointName=n)
    counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in d["ProductionVariants"]}
    check(d["EndpointStatus"] == "InService" and weights(d, "CurrentWeight") == {"blue": 0.5, "green": 0.5}
          and counts == {"blue": 1, "green": 2}, f"release -> InService, Current {weights(d, 'CurrentWeight')} {counts}")

    # A held UpdateEndpoint: Updating for N s instead of EMU_SAGEMAKER_UPDATE_SECONDS.
    hook(emu, f"/_emulator/sagemaker/hold-updating/{n}?seconds=3")
    t0 = time.time()
    sm.update_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1")
    got = refused(lambda: update(0.3, 0.7))
    check(got == in_progress, f"weight update during a held UpdateEndpoint -> {got[:2] if isinstance(got, tuple) else got}")
    d, _ = wait_in_service()
    took = time.time() - t0
    check(2.5 <= took <= 4.5 and weights(d, "CurrentWeight") == {"blue": 1.0, "green": 0.0},
          f"held UpdateEndpoint InService after {round(took, 1)} s with the new config {weights(d, 'CurrentWeight')}")


def ecs_unhealthy(emu, kw, n):
    ec2, elb, ecs = (boto3.client(s, **kw) for s in ("ec2", "elbv2", "ecs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"{n}-sg", Description="x", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=n, Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name=f"{n}-green", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                 HealthCheckPath="/ping", HealthyThresholdCount=2,
                                 UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    cluster, svc = f"{n}-cluster", f"{n}-green"
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=svc, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "model", "image": f"x/{n}:v1", "essential": True,
                               "portMappings": [{"containerPort": 8080}],
                               "environment": [{"name": "MODEL_VERSION", "value": "v1"}]}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName=svc, taskDefinition=td, desiredCount=1, launchType="FARGATE",
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "model", "containerPort": 8080}],
                       networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}})
    hook(emu, "/_emulator/converge")

    def health():
        return {x["Target"]["Id"]: (x["TargetHealth"]["State"], x["TargetHealth"].get("Reason"))
                for x in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}

    def wait(pred, limit=30):
        t0 = time.time()
        while time.time() - t0 < limit:
            h = health()
            if pred(h):
                return h
            time.sleep(0.3)
        return h
    h = wait(lambda h: [s for s, _ in h.values()] == ["healthy"])
    check([s for s, _ in h.values()] == ["healthy"], f"{svc}: one healthy task {h}")
    first = next(iter(h))

    hook(emu, f"/_emulator/ecs/unhealthy/{svc}")
    ecs.update_service(cluster=cluster, service=svc, desiredCount=2)
    hook(emu, "/_emulator/converge")
    h = wait(lambda h: len(h) == 2 and all(s != "initial" for s, _ in h.values()))
    second = next((t for t in h if t != first), None)
    check(second is not None and h[first] == ("healthy", None) and
          h[second] == ("unhealthy", "Target.FailedHealthChecks"),
          f"after the hook, the new task's target {second} -> {h.get(second)}, the old one {h[first]}")
    steady = True
    for _ in range(6):  # several health intervals (EMU_HEALTH_INTERVAL_SECONDS, default 1)
        time.sleep(1)
        steady = steady and health() == {first: ("healthy", None), second: ("unhealthy", "Target.FailedHealthChecks")}
    check(steady, "6 s later: still unhealthy / healthy")
    tasks = [t for t in hook(emu, "/_emulator/dataplane", "GET")["tasks"] if t["service"].endswith("/" + svc)]
    s = ecs.describe_services(cluster=cluster, services=[svc])["services"][0]
    check(len(tasks) == 2 and all(t["state"] == "RUNNING" for t in tasks) and s["runningCount"] == 2 and
          s["deployments"][0]["rolloutState"] == "IN_PROGRESS",
          f"both tasks run (runningCount {s['runningCount']}), rollout {s['deployments'][0]['rolloutState']}")
    check(post(second, 8080) == 200, "the unhealthy task itself answers (only its health checks fail)")
    res = collections.Counter(post(lb["DNSName"], 80) for _ in range(40))
    check(res == {200: 40}, f"the ALB answers every request from the healthy task (no 502/503): {dict(res)}")

    hook(emu, f"/_emulator/ecs/unhealthy/{svc}", "DELETE")
    ecs.update_service(cluster=cluster, service=svc, desiredCount=3)
    hook(emu, "/_emulator/converge")
    h = wait(lambda h: len(h) == 3 and all(s != "initial" for s, _ in h.values()))
    third = next((t for t in h if t not in (first, second)), None)
    check(third is not None and h[third][0] == "healthy" and h[second][0] == "unhealthy" and h[first][0] == "healthy",
          f"after DELETE, a new task goes healthy ({h.get(third)}), the sick one stays {h[second][0]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--name", default=f"stuck{int(time.time()) % 100000}")
    a = p.parse_args()
    emu = f"http://127.0.0.1:{a.port}"
    kw = dict(endpoint_url=emu, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    t0 = time.time()
    sagemaker(emu, kw, a.name)
    ecs_unhealthy(emu, kw, a.name)
    print(json.dumps({"failed": FAILS, "seconds": round(time.time() - t0, 1)}))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
