#!/usr/bin/env python3
"""End-to-end check of SageMaker shadow variants and Data Capture (fill 13;
exits non-zero on failure).

  localstack/up --port 4613
  ~/.cache/cutover/emulator/venv/bin/python localstack/shadow_check.py --port 4613

A live model (v1) and a shadow model (v2, OUTPUT_SHIFT=1) on one endpoint,
the shadow at 50% sampling, Data Capture to s3://<bucket>/capture: every
answer comes from live, the shadow's own Invocations metric is about half,
capture pairs share an eventId and differ in output; a failing shadow never
reaches the caller; after UpdateEndpoint without the shadow it gets nothing.
"""
import argparse
import collections
import json
import re
import sys
import time
import urllib.request

import boto3

FAILS = []
ROW = b'{"data": [[6.3, 3.3, 6.0, 2.5]]}'  # class 2; the shadow (OUTPUT_SHIFT=1) says 3


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--name", default=f"shc{int(time.time()) % 100000}")
    p.add_argument("--bucket", default="bucket")
    a = p.parse_args()
    emu = f"http://127.0.0.1:{a.port}"
    kw = dict(endpoint_url=emu, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sm, smr, cw, s3 = (boto3.client(s, **kw) for s in ("sagemaker", "sagemaker-runtime", "cloudwatch", "s3"))
    n, bucket = a.name, a.bucket
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as e:
        if "BucketAlready" not in e.response["Error"]["Code"]:
            raise
    role = "arn:aws:iam::123456789012:role/sm"
    for model, env in (("live", {"MODEL_VERSION": "v1"}),
                       ("shadow", {"MODEL_VERSION": "v2", "OUTPUT_SHIFT": "1"}),
                       ("broken", {"MODEL_VERSION": "v3", "ERROR_RATE": "1"})):
        sm.create_model(ModelName=f"{n}-{model}", ExecutionRoleArn=role,
                        PrimaryContainer={"Image": f"x/{n}:{env['MODEL_VERSION']}", "Environment": env})

    def variant(name, model, weight):
        return {"VariantName": name, "ModelName": f"{n}-{model}", "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large", "InitialVariantWeight": weight}
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 20,
               "DestinationS3Uri": f"s3://{bucket}/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
               "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}}
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c1", ProductionVariants=[variant("blue", "live", 1.0)],
                              ShadowProductionVariants=[variant("green", "shadow", 0.5)],
                              DataCaptureConfig=capture)
    d = sm.describe_endpoint_config(EndpointConfigName=f"{n}-c1")
    sh = d.get("ShadowProductionVariants") or [{}]
    check(sh[0].get("VariantName") == "green" and sh[0].get("InitialVariantWeight") == 0.5
          and d["DataCaptureConfig"]["InitialSamplingPercentage"] == 20,
          f"DescribeEndpointConfig keeps ShadowProductionVariants {sh}")
    try:
        sm.create_endpoint_config(EndpointConfigName=f"{n}-bad", ProductionVariants=[
            variant("blue", "live", 1.0), variant("red", "live", 1.0)],
            ShadowProductionVariants=[variant("green", "shadow", 0.5)])
        check(False, "two production variants + a shadow -> ValidationException")
    except sm.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "ValidationException",
              f"two production variants + a shadow -> {e.response['Error']['Code']}")
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c2", ProductionVariants=[variant("blue", "live", 1.0)],
                              DataCaptureConfig=capture)
    sm.create_endpoint_config(EndpointConfigName=f"{n}-c3", ProductionVariants=[variant("blue", "live", 1.0)],
                              ShadowProductionVariants=[variant("red", "broken", 1.0)])

    sm.create_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c1")
    d = sm.describe_endpoint(EndpointName=n)
    check(d["EndpointStatus"] == "Creating" and
          d["ShadowProductionVariants"][0]["VariantStatus"][0]["Status"] == "Creating",
          f"Creating, shadow VariantStatus {d['ShadowProductionVariants'][0].get('VariantStatus')}")

    def wait_in_service():
        for _ in range(40):
            d = sm.describe_endpoint(EndpointName=n)
            if d["EndpointStatus"] == "InService":
                return d
            time.sleep(0.5)
        return d
    d = wait_in_service()
    sv = (d.get("ShadowProductionVariants") or [{}])[0]
    check(d["EndpointStatus"] == "InService" and sv.get("VariantName") == "green"
          and sv.get("CurrentWeight") == 0.5 and sv.get("DesiredWeight") == 0.5
          and sv.get("CurrentInstanceCount") == 1
          and sv["DeployedImages"][0]["SpecifiedImage"] == f"x/{n}:v2"
          and "VariantStatus" not in sv
          and [v["VariantName"] for v in d["ProductionVariants"]] == ["blue"],
          f"DescribeEndpoint ShadowProductionVariants {sv}")
    check(d.get("DataCaptureConfig", {}).get("CaptureStatus") == "Started" and
          d["DataCaptureConfig"].get("CurrentSamplingPercentage") == 20,
          f"DescribeEndpoint DataCaptureConfig {d.get('DataCaptureConfig')}")

    def metric(v, name, stat="Sum"):
        pts = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=name, Dimensions=[
            {"Name": "EndpointName", "Value": n}, {"Name": "VariantName", "Value": v}],
            StartTime=t0 - 120, EndTime=time.time() + 120, Period=60, Statistics=[stat])["Datapoints"]
        return sum(p[stat] for p in pts) if stat == "Sum" else pts

    def after_flush():
        time.sleep((time.time() // 10 + 1) * 10 - time.time() + 1.5)

    t0 = time.time()
    answers = collections.Counter()
    for i in range(200):
        r = smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=ROW,
                                InferenceId=f"req-{i}")
        body = json.loads(r["Body"].read())
        answers[(r["InvokedProductionVariant"], body["version"], tuple(body["predictions"]))] += 1
    t_last = time.time()
    check(answers == {("blue", "v1", (2,)): 200}, f"200 invocations all answered by live: {dict(answers)}")

    # Data Capture: the pairs appear in S3 within ~5 s.
    def records(v):
        out = []
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"capture/{n}/{v}/"):
            for o in page.get("Contents", []):
                keys.append(o["Key"])
                text = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
                out.extend(json.loads(line) for line in text.splitlines() if line.strip())
        return keys, out
    mirrored = None
    seen_at = None
    while time.time() - t_last < 8:
        try:
            mirrored = sum(x["mirrored"] for x in json.load(urllib.request.urlopen(
                f"{emu}/_emulator/dataplane")).get("shadow", []) if x["endpoint"] == n) or None
        except Exception:
            mirrored = None
        gkeys, green = records("green")
        if green and (mirrored is None or len(green) >= mirrored):
            seen_at = time.time() - t_last
            break
        time.sleep(0.5)
    bkeys, blue = records("blue")
    gkeys, green = records("green")
    check(seen_at is not None and seen_at <= 5.0,
          f"shadow captures visible {seen_at and round(seen_at, 1)} s after the last request")
    rx = re.compile(rf"^capture/{n}/(blue|green)/\d{{4}}/\d\d/\d\d/\d\d/[^/]+\.jsonl$")
    check(all(rx.match(k) for k in bkeys + gkeys) and bkeys and gkeys,
          f"capture keys like {(gkeys or ['-'])[0]} ({len(bkeys)} blue files, {len(gkeys)} green files)")
    by_id = {r["eventMetadata"]["eventId"]: r for r in blue}
    pairs = [(by_id.get(g["eventMetadata"]["eventId"]), g) for g in green]
    matched = [(b, g) for b, g in pairs if b is not None]
    check(len(matched) == len(green) and 75 <= len(green) <= 125,
          f"{len(matched)} of {len(green)} shadow records pair with a live record by eventId ({len(blue)} live records)")
    ok_shape = all(
        b["eventVersion"] == "0" and
        b["eventMetadata"]["inferenceId"] == g["eventMetadata"]["inferenceId"] and
        b["eventMetadata"]["inferenceTime"].endswith("Z") and
        b["captureData"]["endpointInput"] == g["captureData"]["endpointInput"] ==
        {"observedContentType": "application/json", "mode": "INPUT", "data": ROW.decode(), "encoding": "JSON"} and
        json.loads(b["captureData"]["endpointOutput"]["data"]) == {"predictions": [2], "version": "v1"} and
        json.loads(g["captureData"]["endpointOutput"]["data"]) == {"predictions": [3], "version": "v2"} and
        g["captureData"]["endpointOutput"]["mode"] == "OUTPUT" and
        g["captureData"]["endpointOutput"]["encoding"] == "JSON"
        for b, g in matched)
    check(bool(matched) and ok_shape, "pairs: same input and inferenceId, live says [2] (v1), shadow [3] (v2)")
    if matched:
        print("     e.g. " + json.dumps(matched[0][1])[:400])
    unpaired = len(blue) - len(matched)
    check(5 <= unpaired <= 45, f"live alone captured at 20% of the other {200 - len(green)}: {unpaired}")

    after_flush()
    gi, bi = metric("green", "Invocations"), metric("blue", "Invocations")
    check(abs(gi - 100) <= 25 and gi == len(green), f"shadow Invocations {gi} (~100, = captured {len(green)})")
    check(bi == 200, f"live Invocations {bi}")
    lat = metric("green", "ModelLatency", "SampleCount")
    check(sum(p["SampleCount"] for p in lat) == gi and metric("green", "Invocation5XXErrors") == 0,
          "shadow ModelLatency samples = its Invocations, 0 5XX")

    # A failing shadow (ERROR_RATE=1, 100% sampling) never reaches the caller.
    sm.update_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c3")
    d = wait_in_service()
    check([v["VariantName"] for v in d.get("ShadowProductionVariants", [])] == ["red"] and
          "DataCaptureConfig" not in d, "UpdateEndpoint -> shadow red, no capture")
    res = collections.Counter()
    for _ in range(30):
        r = smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=ROW)
        res[(r["ResponseMetadata"]["HTTPStatusCode"], json.loads(r["Body"].read())["version"])] += 1
    check(res == {(200, "v1"): 30}, f"failing shadow: callers get {dict(res)}")
    after_flush()
    check(metric("red", "Invocation5XXErrors") == 30 and metric("red", "Invocations") == 30,
          f"shadow red Invocation5XXErrors {metric('red', 'Invocation5XXErrors')}")

    # Without a shadow: the old shadow gets nothing more.
    sm.update_endpoint(EndpointName=n, EndpointConfigName=f"{n}-c2")
    d = wait_in_service()
    check("ShadowProductionVariants" not in d, "UpdateEndpoint to a config without shadow -> none listed")
    for _ in range(10):  # the data plane's ticker stops the old shadow's server within ~0.2 s
        servers = json.load(urllib.request.urlopen(f"{emu}/_emulator/dataplane"))["sagemaker_variants"]
        if all(s["variant"] == "blue" for s in servers if s["endpoint"] == n):
            break
        time.sleep(0.2)
    check(sorted(s["variant"] for s in servers if s["endpoint"] == n) == ["blue"],
          f"only live's model server runs: {[s['variant'] for s in servers if s['endpoint'] == n]}")
    g_before, r_before = metric("green", "Invocations"), metric("red", "Invocations")
    for _ in range(50):
        smr.invoke_endpoint(EndpointName=n, ContentType="application/json", Body=ROW)
    after_flush()
    time.sleep(1)
    _, green2 = records("green")
    check(metric("green", "Invocations") == g_before and metric("red", "Invocations") == r_before
          and len(green2) == len(green),
          f"no shadow requests after the update (green {metric('green', 'Invocations')}, red {metric('red', 'Invocations')})")
    check(metric("blue", "Invocations") == 280, f"live Invocations {metric('blue', 'Invocations')} (200+30+50)")
    print(json.dumps({"failed": FAILS}))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
