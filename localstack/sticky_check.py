#!/usr/bin/env python3
"""End-to-end check of target group stickiness and the App metrics (exits
non-zero on failure).

  localstack/up --port 4611
  ~/.cache/cutover/emulator/venv/bin/python localstack/sticky_check.py --port 4611

An ALB forwarding 50/50 to two ECS services with TargetGroupStickinessConfig:
cookie-keeping clients keep their version, clients without a cookie get fresh
picks, a group set to weight 0 loses its clients, an expired cookie is
re-picked, no cookie without stickiness. CONVERSION_RATE 0.3 and 0 -> the
App/Conversions : App/Invocations ratio per ModelVersion (ECS and SageMaker).
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
BODY = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def post(host, port, cookie=None, path="/invocations"):
    """(status, version, {cookie name: value} set by the answer, Set-Cookie lines)."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        c.request("POST", path, body=BODY, headers=headers)
        r = c.getresponse()
        r.read()
        lines = r.msg.get_all("Set-Cookie") or []
        jar = dict(x.split(";")[0].split("=", 1) for x in lines)
        return r.status, r.getheader("x-model-version"), jar, lines
    except OSError:
        return 0, None, {}, []
    finally:
        c.close()


class Client:
    """A browser-like client: sends back the AWSALBTG cookie it was given."""

    def __init__(self):
        self.cookie = None
        self.versions = []

    def go(self, host, port, path="/invocations"):
        st, v, jar, _ = post(host, port, f"AWSALBTG={self.cookie}" if self.cookie else None, path)
        if "AWSALBTG" in jar:
            self.cookie = jar["AWSALBTG"]
        self.versions.append(v if st in (200, 404) else f"fail-{st}")
        return v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--name", default="stk")
    p.add_argument("--cloudwatch-url", help="read the metrics there (an emulator started with --cloudwatch-url)")
    a = p.parse_args()
    emu = f"http://127.0.0.1:{a.port}"
    kw = dict(endpoint_url=emu, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    ec2, elb, ecs, cw, sm, smr = (boto3.client(s, **kw) for s in
                                  ("ec2", "elbv2", "ecs", "cloudwatch", "sagemaker", "sagemaker-runtime"))
    if a.cloudwatch_url:
        cw = boto3.client("cloudwatch", **{**kw, "endpoint_url": a.cloudwatch_url})
    n = a.name
    A, B = f"{n}-a1", f"{n}-b1"  # model versions (App metrics are per version: unique per run name)
    t_start = time.time()
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"{n}-sg", Description="x", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=n, Subnets=subnets, Type="application")["LoadBalancers"][0]
    ip = lb["DNSName"]
    tg = {}
    for c in ("blue", "green"):
        tg[c] = elb.create_target_group(Name=f"{n}-{c}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                        HealthCheckPath="/ping", HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]

    def fwd(bw, gw, duration=3600):
        fc = {"TargetGroups": [{"TargetGroupArn": tg["blue"], "Weight": bw},
                               {"TargetGroupArn": tg["green"], "Weight": gw}]}
        if duration:
            fc["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": duration}
        return [{"Type": "forward", "ForwardConfig": fc}]
    prod = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                               DefaultActions=fwd(50, 50))["Listeners"][0]["ListenerArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
                        DefaultActions=fwd(50, 50, None))
    rule = elb.create_rule(ListenerArn=prod, Priority=10, Conditions=[{"Field": "path-pattern",
                           "PathPatternConfig": {"Values": ["/short/*"]}}], Actions=fwd(50, 50, 2))["Rules"][0]
    got = elb.describe_listeners(ListenerArns=[prod])["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]
    check(got.get("TargetGroupStickinessConfig") == {"Enabled": True, "DurationSeconds": 3600},
          f"DescribeListeners returns the stickiness config {got.get('TargetGroupStickinessConfig')}")
    got = elb.describe_rules(RuleArns=[rule["RuleArn"]])["Rules"][0]["Actions"][0]["ForwardConfig"]
    check(got.get("TargetGroupStickinessConfig") == {"Enabled": True, "DurationSeconds": 2},
          f"DescribeRules returns the stickiness config {got.get('TargetGroupStickinessConfig')}")

    ecs.create_cluster(clusterName=f"{n}-cluster")
    rates = {"blue": (A, "0.3"), "green": (B, "0")}
    for c, (version, rate) in rates.items():
        td = ecs.register_task_definition(
            family=f"{n}-{c}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "model", "image": f"x/{n}:{version}", "essential": True,
                                   "portMappings": [{"containerPort": 8080}],
                                   "environment": [{"name": "MODEL_VERSION", "value": version},
                                                   {"name": "CONVERSION_RATE", "value": rate}]}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=f"{n}-cluster", serviceName=f"{n}-{c}", taskDefinition=td, desiredCount=2,
                           launchType="FARGATE",
                           loadBalancers=[{"targetGroupArn": tg[c], "containerName": "model", "containerPort": 8080}],
                           networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}})
    urllib.request.urlopen(urllib.request.Request(f"{emu}/_emulator/converge", method="POST")).read()
    t0 = time.time()
    while time.time() - t0 < 30:
        h = [x["TargetHealth"]["State"] for c in tg for x in
             elb.describe_target_health(TargetGroupArn=tg[c])["TargetHealthDescriptions"]]
        if h.count("healthy") == 4:
            break
        time.sleep(0.3)
    check(h.count("healthy") == 4, f"both services healthy ({h})")

    served = collections.Counter()  # /invocations answers seen per version (for the metrics check)

    def tally(c):
        served.update(v for v in c.versions if v in (A, B))

    # 20 cookie-keeping clients, 10 requests each.
    clients = [Client() for _ in range(20)]
    for c in clients:
        for _ in range(10):
            c.go(ip, 80)
        tally(c)
    kept = [len(set(c.versions)) == 1 and c.versions[0] in (A, B) for c in clients]
    by = collections.Counter(c.versions[0] for c in clients)
    check(all(kept), f"20 sticky clients keep one version over 10 requests ({sum(kept)}/20)")
    check(by[A] > 0 and by[B] > 0, f"both versions get clients {dict(by)}")
    st, v, jar, lines = post(ip, 80)
    served[v] += 1
    check("AWSALBTG" in jar and "Expires=" in lines[0] and tg["blue"] not in lines[0] and "AWSALBTGCORS" not in jar,
          f"AWSALBTG set, opaque, with Expires (HTTP: no AWSALBTGCORS): {lines}")

    # No cookie -> a fresh pick per request; a forged cookie is ignored.
    fresh = collections.Counter(post(ip, 80)[1] for _ in range(40))
    check(fresh[A] > 0 and fresh[B] > 0, f"no cookie -> fresh picks {dict(fresh)}")
    served.update(fresh)
    forged, renewed = collections.Counter(), 0
    for _ in range(40):
        st, v, jar, _ = post(ip, 80, "AWSALBTG=bm90LWEtY29va2ll")
        forged[v] += 1
        renewed += "AWSALBTG" in jar
    check(forged[A] > 0 and forged[B] > 0 and renewed == 40,
          f"forged cookie ignored, a new one set {dict(forged)}")
    served.update(forged)

    # Without stickiness: no cookie set, and a valid cookie is ignored.
    st, v, jar, _ = post(ip, 8080)
    served[v] += 1
    check(st == 200 and not jar, f"no stickiness -> no cookie ({jar})")
    plain = collections.Counter(post(ip, 8080, f"AWSALBTG={clients[0].cookie}")[1] for _ in range(40))
    check(plain[A] > 0 and plain[B] > 0, f"no stickiness -> the cookie is ignored {dict(plain)}")
    served.update(plain)

    # DurationSeconds: a 2 s cookie (rule) expires, then a new pick and a new cookie.
    shorts = [Client() for _ in range(10)]
    for c in shorts:
        for _ in range(3):
            c.go(ip, 80, "/short/x")
    first = [c.cookie for c in shorts]
    check(all(len(set(c.versions)) == 1 for c in shorts), "rule with stickiness keeps the version too")
    time.sleep(2.5)
    for c in shorts:
        c.go(ip, 80, "/short/x")
    check(all(c.cookie != f for c, f in zip(shorts, first)), "expired cookie -> a new cookie")
    moved = sum(c.versions[-1] != c.versions[0] for c in shorts)
    check(all(v in (A, B) for c in shorts for v in c.versions), f"expired cookies re-picked ({moved}/10 moved)")

    # Steady traffic for ~25 s with the cookie-keeping clients (both groups serve).
    stop = threading.Event()

    def load(cs):
        while not stop.is_set():
            for c in cs:
                c.go(ip, 80)
            time.sleep(0.01)
    for c in clients:
        c.versions = []
    workers = [threading.Thread(target=load, args=(clients[i::4],)) for i in range(4)]
    for w in workers:
        w.start()
    time.sleep(20)
    stop.set()
    for w in workers:
        w.join()
    for c in clients:
        tally(c)
    check(all(len(set(c.versions)) == 1 for c in clients),
          f"sticky under load over {sum(len(c.versions) for c in clients)} requests")

    # 0/100: blue's clients move to green (and get a new cookie); green's stay.
    pinned = {id(c): c.versions[0] for c in clients}
    elb.modify_listener(ListenerArn=prod, DefaultActions=fwd(0, 100))
    for c in clients:
        c.versions = []
        for _ in range(5):
            c.go(ip, 80)
        tally(c)
    now = collections.Counter(v for c in clients for v in c.versions)
    check(now == {B: 100}, f"0/100 -> every client on green {dict(now)} (were {dict(collections.Counter(pinned.values()))})")
    elb.modify_listener(ListenerArn=prod, DefaultActions=fwd(50, 50))
    back = collections.Counter(clients[i].go(ip, 80) for i in range(20))
    check(back == {B: 20}, f"back to 50/50: the moved clients stay where they were re-pinned {dict(back)}")
    served.update(back)

    # SageMaker: one variant with CONVERSION_RATE=1.
    sm.create_model(ModelName=f"{n}-sm", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                    PrimaryContainer={"Image": f"x/{n}:s1", "Environment": {"MODEL_VERSION": f"{n}-s1",
                                                                          "CONVERSION_RATE": "1"}})
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c1", ProductionVariants=[
        {"VariantName": "blue", "ModelName": f"{n}-sm", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1")
    for _ in range(30):
        if sm.describe_endpoint(EndpointName=n)["EndpointStatus"] == "InService":
            break
        time.sleep(0.5)
    for _ in range(20):
        smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=BODY)["Body"].read()

    # App metrics: wait for the 10 s flush after the last request.
    time.sleep(10 - time.time() % 10 + 1.5)

    def total(metric, version):
        pts = cw.get_metric_statistics(Namespace="App", MetricName=metric,
                                       Dimensions=[{"Name": "ModelVersion", "Value": version}],
                                       StartTime=t_start - 60, EndTime=time.time() + 60, Period=60,
                                       Statistics=["Sum"])["Datapoints"]
        return sum(d["Sum"] for d in pts), len(pts), {d.get("Unit") for d in pts}
    inv_a, _, unit = total("Invocations", A)
    conv_a, _, _ = total("Conversions", A)
    inv_b, _, _ = total("Invocations", B)
    conv_b, npts_b, _ = total("Conversions", B)
    check(inv_a == served[A] and inv_b == served[B] and unit == {"Count"},
          f"App/Invocations = answers seen: {A} {inv_a}/{served[A]}, {B} {inv_b}/{served[B]} ({unit})")
    ratio = conv_a / inv_a if inv_a else 0
    check(abs(ratio - 0.3) < 0.06, f"CONVERSION_RATE 0.3 -> {conv_a:.0f}/{inv_a:.0f} = {ratio:.3f}")
    check(conv_b == 0 and npts_b > 0, f"CONVERSION_RATE 0 -> Conversions {conv_b} in {npts_b} datapoints (zeros published)")
    inv_s, _, _ = total("Invocations", f"{n}-s1")
    conv_s, _, _ = total("Conversions", f"{n}-s1")
    check(inv_s == 20 and conv_s == 20, f"SageMaker variant: Invocations {inv_s}, Conversions {conv_s}")
    print(json.dumps({"failed": FAILS, "seconds": round(time.time() - t_start, 1)}))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
