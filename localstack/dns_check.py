#!/usr/bin/env python3
"""End-to-end check of the emulator's Route 53 DNS (fill 10); exits non-zero on failure.

  localstack/up --port 4612
  ~/.cache/cutover/emulator/venv/bin/python localstack/dns_check.py --port 4612

Two ALBs (blue, green), each forwarding to a target group of its own filled
by an ECS service; a hosted zone with two weighted alias records
(EvaluateTargetHealth) for one name, as cutover's [route53] makes them. Checks:
fail-open and health-based answers, the 70/30 split over 2,000 queries,
UPSERT -> PENDING -> INSYNC after the delay with the answers changing only
then, a plain A record, wildcard, CNAME, NXDOMAIN/REFUSED/NOERROR, and load.py
--resolve-via moving across a weight change without a failure.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

import boto3

from resolve import query

FAILS = []
HERE = os.path.dirname(os.path.abspath(__file__))


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--name", default="dnsc")
    a = p.parse_args()
    emu = f"http://127.0.0.1:{a.port}"
    dns = ("127.0.0.1", a.port)
    kw = dict(endpoint_url=emu, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    ec2, elb, ecs, r53 = (boto3.client(s, **kw) for s in ("ec2", "elbv2", "ecs", "route53"))
    n = a.name
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"{n}-sg", Description="x", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=f"{n}-cluster")
    ip, tg = {}, {}
    for c in ("blue", "green"):
        lb = elb.create_load_balancer(Name=f"{n}-{c}", Subnets=subnets, Type="application")["LoadBalancers"][0]
        ip[c] = lb["DNSName"]
        tg[c] = elb.create_target_group(Name=f"{n}-{c}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                        HealthCheckPath="/ping", HealthyThresholdCount=2
                                        )["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(TargetGroupArn=tg[c], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg[c]}])
        td = ecs.register_task_definition(
            family=f"{n}-{c}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "model", "image": f"x/{n}:{c}", "essential": True,
                                   "portMappings": [{"containerPort": 8080}],
                                   "environment": [{"name": "MODEL_VERSION", "value": c}]}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=f"{n}-cluster", serviceName=f"{n}-{c}", taskDefinition=td, desiredCount=0,
                           launchType="FARGATE",
                           loadBalancers=[{"targetGroupArn": tg[c], "containerName": "model", "containerPort": 8080}],
                           networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}})
    check(ip["blue"] != ip["green"] and all(v.startswith("127.") for v in ip.values()), f"two ALBs {ip}")

    def healthy_in(c, count=1):
        t0 = time.time()
        ecs.update_service(cluster=f"{n}-cluster", service=f"{n}-{c}", desiredCount=count)
        while time.time() - t0 < 60:
            h = elb.describe_target_health(TargetGroupArn=tg[c])["TargetHealthDescriptions"]
            if sum(x["TargetHealth"]["State"] == "healthy" for x in h) >= count:
                return time.time() - t0
            time.sleep(0.3)
        return None

    zone_name = f"{n}.example.com"
    zid = r53.create_hosted_zone(Name=zone_name, CallerReference=f"{n}-{time.time()}")["HostedZone"]["Id"]
    record = f"iris.{zone_name}"
    by_ip = {v: k for k, v in ip.items()}

    def weights(bw, gw, evaluate=True, wait=True):
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": record, "Type": "A", "SetIdentifier": f"{n}-{c}", "Weight": w,
            "AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": ip[c], "EvaluateTargetHealth": evaluate}}}
            for c, w in (("blue", bw), ("green", gw))]
        info = r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})["ChangeInfo"]
        t0 = time.time()
        if wait:
            while r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] != "INSYNC" and time.time() - t0 < 30:
                time.sleep(0.05)
        return info, t0

    def split(count, name=record):
        res, rcodes, ttls = collections.Counter(), collections.Counter(), set()
        for _ in range(count):
            rcode, rows = query(name, dns)
            rcodes[rcode] += 1
            for v, ttl in rows:
                res[by_ip.get(v, v)] += 1
                ttls.add(ttl)
        return res, rcodes, ttls

    weights(70, 30)
    res, rcodes, ttls = split(1000)
    check(abs(res["blue"] - 700) <= 60 and rcodes == {"NOERROR": 1000},
          f"no healthy target anywhere -> all considered healthy, 70/30 over 1000: {dict(res)}")
    check(ttls == {5}, f"alias answers carry the --dns-ttl TTL (5 by default): {sorted(ttls)}")
    took = healthy_in("blue")
    check(took is not None, f"blue healthy in {took and round(took, 1)} s")
    res, _, _ = split(300)
    check(res == {"blue": 300}, f"green without a healthy target is left out: {dict(res)}")
    took = healthy_in("green")
    check(took is not None, f"green healthy in {took and round(took, 1)} s")
    res, rcodes, _ = split(2000)
    share = 100.0 * res["blue"] / max(1, sum(res.values()))
    check(abs(share - 70) <= 4 and sum(res.values()) == 2000, f"70/30 over 2000 resolutions: {dict(res)} (blue {share:.1f}%)")
    out = subprocess.run([sys.executable, os.path.join(HERE, "resolve.py"), record, "--server", f"127.0.0.1:{a.port}",
                          "--count", "2000"], capture_output=True, text=True)
    rj = json.loads(out.stdout or "{}")
    rshare = 100.0 * rj.get("addrs", {}).get(ip["blue"], 0) / 2000
    check(out.returncode == 0 and abs(rshare - 70) <= 4, f"resolve.py --count 2000: {out.stdout.strip()} (blue {rshare:.1f}%)")

    # A change: PENDING, old answers until the delay ends, then INSYNC and new answers.
    info, t0 = weights(0, 100, wait=False)
    first = r53.get_change(Id=info["Id"])["ChangeInfo"]
    res_early, _, _ = split(100)
    early_s = time.time() - t0
    listed = {r["SetIdentifier"]: r["Weight"] for r in
              r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"] if r.get("SetIdentifier")}
    check(info["Status"] == "PENDING" and first["Status"] == "PENDING" and info["Id"] != "/change/C2682N5HXP0BZ4",
          f"UPSERT 0/100 -> {info['Id']} {info['Status']}, GetChange {first['Status']}")
    check(listed == {f"{n}-blue": 0, f"{n}-green": 100}, f"ListResourceRecordSets shows the change at once: {listed}")
    check(res_early["blue"] > 0, f"answers unchanged while PENDING (first {early_s:.2f} s): {dict(res_early)}")
    insync = None
    while time.time() - t0 < 30:
        if r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC":
            insync = time.time() - t0
            break
        time.sleep(0.02)
    res, _, _ = split(500)
    check(insync is not None and 0.9 <= insync <= 1.6, f"INSYNC after {insync and round(insync, 2)} s (--dns-delay 1)")
    check(res == {"green": 500}, f"after INSYNC: 0/100 -> {dict(res)}")

    # All weights 0: equally likely.
    weights(0, 0)
    res, _, _ = split(1000)
    check(abs(res["blue"] - 500) <= 60, f"all weights 0 -> equal over 1000: {dict(res)}")

    # Plain, alias forms, wildcard, CNAME; NXDOMAIN / REFUSED / NOERROR.
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"plain.{zone_name}", "Type": "A", "TTL": 120,
                                                   "ResourceRecords": [{"Value": "10.1.2.3"}, {"Value": "10.1.2.4"}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"ds.{zone_name}", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": f"dualstack.{ip['green'].upper()}.",
            "EvaluateTargetHealth": False}}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"*.wild.{zone_name}", "Type": "A", "TTL": 30,
                                                   "ResourceRecords": [{"Value": "10.9.9.9"}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"www.{zone_name}", "Type": "CNAME", "TTL": 60,
                                                   "ResourceRecords": [{"Value": f"plain.{zone_name}"}]}},
    ]})
    time.sleep(1.2)
    rc, rows = query(f"PLAIN.{zone_name}.", dns)
    check(rc == "NOERROR" and sorted(rows) == [("10.1.2.3", 120), ("10.1.2.4", 120)],
          f"plain A record (case-insensitive, trailing dot): {rc} {rows}")
    rc, rows = query(f"ds.{zone_name}", dns)
    check(rows == [(ip["green"], 5)], f"alias to dualstack.<DNSName>. -> {rc} {rows}")
    rc, rows = query(f"x.y.wild.{zone_name}", dns)
    check(rows == [("10.9.9.9", 30)], f"wildcard -> {rc} {rows}")
    rc, rows = query(f"www.{zone_name}", dns)
    check(sorted(rows) == [("10.1.2.3", 120), ("10.1.2.4", 120)], f"CNAME followed -> {rc} {rows}")
    rc, rows = query(f"nope.{zone_name}", dns)
    check(rc == "NXDOMAIN" and not rows, f"no record in the zone -> {rc}")
    rc, rows = query("iris.example.org", dns)
    check(rc == "REFUSED", f"outside every zone -> {rc}")
    rc, rows = query(record, dns, qtype=28)
    check(rc == "NOERROR" and not rows, f"AAAA of an A-only name -> {rc} {rows}")
    rc, rows = query(zone_name, dns)
    check(rc == "NOERROR" and not rows, f"zone apex without an A record -> {rc} {rows}")

    # load.py --resolve-via across a weight change.
    weights(100, 0)
    ttl = 5
    lp = subprocess.Popen([sys.executable, os.path.join(HERE, "load.py"), "--url", f"http://{record}/invocations",
                           "--rate", "50", "--duration", "16", "--resolve-via", f"127.0.0.1:{a.port}"],
                          stdout=subprocess.PIPE, text=True)
    time.sleep(5)
    _, t_change = weights(0, 100)
    lines = [json.loads(x) for x in lp.stdout]
    lp.wait()
    summary = lines[-1]
    per_s = lines[:-1]
    last_blue = max((x["at"] for x in per_s if x.get("addrs", {}).get(ip["blue"])), default=None)
    moved = last_blue and last_blue - t_change
    tail = [x for x in per_s if x["at"] > t_change + ttl + 2]
    check(summary["fail"] == 0 and summary["ok"] > 600,
          f"load.py --resolve-via: {summary['ok']} ok, {summary['fail']} failed, addrs {summary.get('addrs')}")
    check(moved is not None and moved <= ttl + 1 + 1 and tail and all(set(x["addrs"]) == {ip["green"]} for x in tail),
          f"clients moved to green {moved and round(moved, 1)} s after the change (TTL {ttl} + delay 1 + 1 s)")
    print(json.dumps({"failed": FAILS}))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
