#!/usr/bin/env python3
"""End-to-end check of the emulator's data plane (exits non-zero on failure).

  localstack/up --port 4599
  ~/.cache/cutover/emulator/venv/bin/python localstack/dataplane_check.py --port 4599

Creates an ALB with blue/green target groups and ECS services as cutover
does, then sends real HTTP: weighted split, header rule, 503 without healthy
targets, a task replacement under steady load with zero failures, draining,
ERROR_RATE -> 5XX metrics -> an alarm that fires by itself, SageMaker
InvokeEndpoint following weights and TargetVariant.
"""
import argparse
import collections
import http.client
import json
import sys
import threading
import time
import urllib.request

import boto3

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def post(host, port, path="/invocations", headers=None, body=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'):
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, r.getheader("x-model-version"), r.read()
    except OSError:
        return 0, None, b""
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--name", default="dpc")
    p.add_argument("--quick", action="store_true", help="skip the alarm wait")
    a = p.parse_args()
    emu = f"http://127.0.0.1:{a.port}"
    kw = dict(endpoint_url=emu, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    ec2, elb, ecs, cw, sm, smr = (boto3.client(s, **kw) for s in
                                  ("ec2", "elbv2", "ecs", "cloudwatch", "sagemaker", "sagemaker-runtime"))
    n = a.name
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"{n}-sg", Description="x", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=n, Subnets=subnets, Type="application")["LoadBalancers"][0]
    ip = lb["DNSName"]
    check(ip.startswith("127."), f"DNSName is a loopback address ({ip})")
    tg = {}
    for c in ("blue", "green"):
        tg[c] = elb.create_target_group(Name=f"{n}-{c}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                        HealthCheckPath="/ping", HealthCheckIntervalSeconds=10,
                                        HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(TargetGroupArn=tg[c], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])

    def fwd(bw, gw):
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg["blue"], "Weight": bw}, {"TargetGroupArn": tg["green"], "Weight": gw}]}}]
    prod = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                               DefaultActions=fwd(100, 0))["Listeners"][0]["ListenerArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["green"]}])
    elb.create_rule(ListenerArn=prod, Priority=10, Conditions=[{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Canary", "Values": ["gr*n"]}}], Actions=[{"Type": "forward", "TargetGroupArn": tg["green"]}])
    time.sleep(0.3)
    st, _, _ = post(ip, 80)
    check(st == 503, f"no healthy targets -> 503 (got {st})")

    ecs.create_cluster(clusterName=f"{n}-cluster")

    def taskdef(c, version, extra=()):
        env = [{"name": "MODEL_VERSION", "value": version}] + [{"name": k, "value": v} for k, v in extra]
        return ecs.register_task_definition(family=f"{n}-{c}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                            cpu="256", memory="512", containerDefinitions=[{
                                                "name": "model", "image": f"x/{n}:{version}", "essential": True,
                                                "portMappings": [{"containerPort": 8080}], "environment": env}]
                                            )["taskDefinition"]["taskDefinitionArn"]
    for c in ("blue", "green"):
        ecs.create_service(cluster=f"{n}-cluster", serviceName=f"{n}-{c}", taskDefinition=taskdef(c, "boot"),
                           desiredCount=0, launchType="FARGATE",
                           loadBalancers=[{"targetGroupArn": tg[c], "containerName": "model", "containerPort": 8080}],
                           networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}})

    def deploy(c, version, extra=()):
        t0 = time.time()
        ecs.update_service(cluster=f"{n}-cluster", service=f"{n}-{c}", desiredCount=2,
                           taskDefinition=taskdef(c, version, extra))
        while time.time() - t0 < 60:
            s = ecs.describe_services(cluster=f"{n}-cluster", services=[f"{n}-{c}"])["services"][0]
            prim = [d for d in s["deployments"] if d["status"] == "PRIMARY"][0]
            h = elb.describe_target_health(TargetGroupArn=tg[c])["TargetHealthDescriptions"]
            if prim["rolloutState"] == "COMPLETED" and sum(x["TargetHealth"]["State"] == "healthy" for x in h) >= 2:
                return time.time() - t0
            time.sleep(0.5)
        return None

    took = deploy("blue", "v1")
    check(took is not None and took < 10, f"blue v1 deployed and healthy in {took and round(took, 1)} s")
    took = deploy("green", "v2")
    check(took is not None, f"green v2 deployed in {took and round(took, 1)} s")
    res = collections.Counter(post(ip, 80)[1] for _ in range(200))
    check(res == {"v1": 200}, f"100/0 -> all blue {dict(res)}")
    res = collections.Counter(post(ip, 80, headers={"X-Canary": "GREEN"})[1] for _ in range(50))
    check(res == {"v2": 50}, f"header rule (case-insensitive, wildcard) -> green {dict(res)}")
    res = collections.Counter(post(ip, 8080)[1] for _ in range(50))
    check(res == {"v2": 50}, f"test listener -> green {dict(res)}")
    elb.modify_listener(ListenerArn=prod, DefaultActions=fwd(90, 10))
    res = collections.Counter(post(ip, 80)[1] for _ in range(1000))
    check(abs(res["v2"] - 100) <= 35 and res["v1"] + res["v2"] == 1000, f"90/10 split over 1000: {dict(res)}")

    # Replacement under steady load: zero failures.
    elb.modify_listener(ListenerArn=prod, DefaultActions=fwd(100, 0))
    stop, counts = threading.Event(), collections.Counter()

    def load():
        while not stop.is_set():
            st, v, _ = post(ip, 80)
            counts[v if st == 200 else f"fail-{st}"] += 1
            time.sleep(0.005)
    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    took = deploy("blue", "v3")
    time.sleep(1)
    h = elb.describe_target_health(TargetGroupArn=tg["blue"])["TargetHealthDescriptions"]
    states = collections.Counter(x["TargetHealth"]["State"] for x in h)
    check(states.get("draining") == 2 and states.get("healthy") == 2, f"old tasks draining: {dict(states)}")
    time.sleep(6)
    stop.set()
    for w in workers:
        w.join()
    fails = sum(v for k, v in counts.items() if str(k).startswith("fail"))
    check(fails == 0 and counts["v3"] > 0, f"replacement v1->v3 under load: {dict(counts)}")
    h = elb.describe_target_health(TargetGroupArn=tg["blue"])["TargetHealthDescriptions"]
    check(len(h) == 2, f"drained targets gone after the delay ({len(h)} left)")

    # Scale green to 0: its group has no healthy target -> 503 via the test listener.
    ecs.update_service(cluster=f"{n}-cluster", service=f"{n}-green", desiredCount=0)
    time.sleep(7)
    st, _, _ = post(ip, 8080)
    check(st == 503, f"green retired -> 503 on the test listener (got {st})")

    # ERROR_RATE=1 on green, shift 100% -> 5XX metrics -> alarm fires.
    deploy("green", "bad", [("ERROR_RATE", "1")])
    elb.modify_listener(ListenerArn=prod, DefaultActions=fwd(0, 100))
    lbdim = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    tgdim = "targetgroup/" + tg["green"].split(":targetgroup/")[1]
    dims = [{"Name": "LoadBalancer", "Value": lbdim}, {"Name": "TargetGroup", "Value": tgdim}]
    cw.put_metric_alarm(AlarmName=f"{n}-green-5xx", Namespace="AWS/ApplicationELB",
                        MetricName="HTTPCode_Target_5XX_Count", Dimensions=dims, Statistic="Sum",
                        Period=10, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    res = collections.Counter(post(ip, 80)[0] for _ in range(50))
    check(res == {500: 50}, f"ERROR_RATE=1 -> 500s {dict(res)}")
    t0 = time.time()
    fired = None
    while time.time() - t0 < (5 if a.quick else 45):
        al = cw.describe_alarms(AlarmNames=[f"{n}-green-5xx"])["MetricAlarms"][0]
        if al["StateValue"] == "ALARM":
            fired = time.time() - t0
            break
        time.sleep(1)
    if not a.quick:
        check(fired is not None, f"alarm fired by itself after {fired and round(fired, 1)} s ({al['StateReason']})")
        stats = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                                         Dimensions=dims, StartTime=time.time() - 300, EndTime=time.time() + 60,
                                         Period=60, Statistics=["Sum"])["Datapoints"]
        check(sum(d["Sum"] for d in stats) >= 50, f"GetMetricStatistics 5XX sum {sum(d['Sum'] for d in stats)}")
        md = cw.get_metric_data(MetricDataQueries=[{"Id": "rt", "MetricStat": {"Metric": {
            "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount", "Dimensions": dims},
            "Period": 60, "Stat": "Sum"}}], StartTime=time.time() - 300, EndTime=time.time() + 60)
        check(sum(md["MetricDataResults"][0]["Values"]) >= 50, f"GetMetricData RequestCount {md['MetricDataResults'][0]['Values']}")

    # SageMaker.
    for v, ver in (("blue", "s1"), ("green", "s2")):
        sm.create_model(ModelName=f"{n}-{v}", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                        PrimaryContainer={"Image": f"x/{n}:{ver}", "Environment": {"MODEL_VERSION": ver}})
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c1", ProductionVariants=[
        {"VariantName": c, "ModelName": f"{n}-{c}", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": w} for c, w in (("blue", 0.8), ("green", 0.2))])
    sm.create_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1")
    for _ in range(30):
        if sm.describe_endpoint(EndpointName=n)["EndpointStatus"] == "InService":
            break
        time.sleep(0.5)
    res = collections.Counter()
    for _ in range(300):
        r = smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=b'{"data": [[6.3, 3.3, 6.0, 2.5]]}')
        body = json.loads(r["Body"].read())
        res[r["InvokedProductionVariant"]] += 1
        assert body["predictions"] == [2], body
    check(abs(res["green"] - 60) <= 25, f"InvokeEndpoint 80/20 over 300: {dict(res)}")
    r = smr.invoke_endpoint(EndpointName=n, TargetVariant="green", ContentType="application/json",
                            Body=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}')
    body = json.loads(r["Body"].read())
    check(r["InvokedProductionVariant"] == "green" and body == {"predictions": [0], "version": "s2"},
          f"TargetVariant=green -> {body}")
    try:
        smr.invoke_endpoint(EndpointName="nope", Body=b"{}", ContentType="application/json")
        check(False, "unknown endpoint -> error")
    except smr.exceptions.ClientError as e:
        check(e.response["Error"]["Code"].startswith("Validation"), f"unknown endpoint -> {e.response['Error']['Code']}")
    try:
        smr.invoke_endpoint(EndpointName=n, TargetVariant="green", Body=b"not json", ContentType="application/json")
        check(False, "bad input -> ModelError")
    except smr.exceptions.ModelError as e:
        check(e.response["OriginalStatusCode"] == 400, f"bad input -> ModelError {e.response['OriginalStatusCode']}")
    log = json.load(urllib.request.urlopen(f"{emu}/_emulator/requests"))
    check(not any(e["action"].startswith(("GET /", "POST /inv")) for e in log), "no data-plane traffic in the request log")
    print(json.dumps({"failed": FAILS}))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
