"""SageMaker shadow variants and Data Capture (README fill 13).

Mirrors AWS's documented behaviour:
  * CreateEndpointConfig keeps `ShadowProductionVariants` (moto 5.2.5 drops
    them): one production variant and one shadow variant, as AWS allows, the
    shadow's model must exist. DescribeEndpointConfig returns them; an
    endpoint created or updated with such a config lists them under
    `ShadowProductionVariants` in DescribeEndpoint (sagemaker_fill.py).
  * The shadow variant runs a model server like any variant (dataplane.py,
    reconcile_sagemaker). InvokeEndpoint answers from the production variant;
    a sample of the requests (shadow CurrentWeight / production CurrentWeight,
    at most 100%) is also sent to the shadow variant, asynchronously. Its
    answer is dropped, its failure never reaches the caller, and it has its
    own AWS/SageMaker metrics under its VariantName.
  * Data Capture (`DataCaptureConfig`): JSON Lines records put into moto's S3
    under <DestinationS3Uri>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/,
    one object per variant per flush (every EMU_CAPTURE_FLUSH_SECONDS,
    default 2). A mirrored request is captured for both variants with the same
    eventId (and inferenceId), so the two answers can be paired.
"""
import asyncio
import base64
import datetime
import hashlib
import json
import os
import random
import threading
import time
import uuid
import zlib

from moto.core import DEFAULT_ACCOUNT_ID

from httpio import header, request

SM_NS = "AWS/SageMaker"
UTC = datetime.timezone.utc


# ---- control plane (called from sagemaker_fill.py under the emulator's lock) -------
def config_shadows(cfg):
    """The shadow variants of a FakeEndpointConfig (or its response dict)."""
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return list(cfg.get("ShadowProductionVariants") or [])
    return list(getattr(cfg, "shadow_production_variants", None) or [])


def endpoint_shadows(ep):
    return list(getattr(ep, "shadow_production_variants", None) or []) if ep is not None else []


def config_error(req, be, region):
    """Validation AWS applies to ShadowProductionVariants; None when fine."""
    shadows = req.get("ShadowProductionVariants")
    if not shadows:
        return None
    prod = req.get("ProductionVariants") or []
    if len(prod) != 1 or len(shadows) != 1:
        return ("When ShadowProductionVariants is specified, ProductionVariants and "
                "ShadowProductionVariants must each contain exactly one variant.")
    names = [v.get("VariantName") for v in prod + shadows]
    if len(set(names)) != len(names):
        return f"The variant name \"{names[-1]}\" was non-unique within the request."
    for v in shadows:
        if v.get("ModelName") not in be._models:
            return (f"Could not find model \"arn:aws:sagemaker:{region}:{DEFAULT_ACCOUNT_ID}:"
                    f"model/{v.get('ModelName')}\".")
        if "InstanceType" not in v and "ServerlessConfig" not in v:
            return ("Invalid Keys for ProductionVariant: expected it to contain one of "
                    "['InstanceType', 'ServerlessConfig']")
    return None


def attach_config(be, req):
    """After moto's CreateEndpointConfig: keep the shadow variants it dropped."""
    cfg = be.endpoint_configs.get(req.get("EndpointConfigName"))
    if cfg is not None and req.get("ShadowProductionVariants"):
        cfg.shadow_production_variants = json.loads(json.dumps(req["ShadowProductionVariants"]))


def deployed_images(be, cfg, variant_name, when):
    model_name = next((v.get("ModelName") for v in
                       list((cfg.production_variants if cfg else []) or []) + config_shadows(cfg)
                       if v.get("VariantName") == variant_name), None)
    model = be._models.get(model_name or "")
    image = str(((model.primary_container if model else {}) or {}).get("Image") or "")
    if not image:
        return None
    repo = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    digest = hashlib.sha256(image.encode()).hexdigest()
    return [{"SpecifiedImage": image, "ResolvedImage": f"{repo}@sha256:{digest}",
             "ResolutionTime": when}]


def describe_endpoint(data, ep, be):
    """Completes DescribeEndpoint: ShadowProductionVariants, DeployedImages,
    VariantStatus while Creating, and DataCaptureConfig as AWS's summary."""
    if ep is None:
        return data
    cfg = be.endpoint_configs.get(ep.endpoint_config_name)
    shadows = endpoint_shadows(ep)
    if shadows:
        data["ShadowProductionVariants"] = [dict(v) for v in shadows]
    else:
        data.pop("ShadowProductionVariants", None)
    when = data.get("LastModifiedTime") or data.get("CreationTime")
    for v in data.get("ProductionVariants", []) + data.get("ShadowProductionVariants", []):
        for field in ("CurrentWeight", "DesiredWeight"):
            v[field] = float(v.get(field) or 0.0)
        images = deployed_images(be, cfg, v.get("VariantName"), when)
        if images and "DeployedImages" not in v:
            v["DeployedImages"] = images
        if ep.endpoint_status == "Creating":
            v["VariantStatus"] = [{"Status": "Creating", "StartTime": data.get("CreationTime"),
                                   "StatusMessage": "Creating inference resources for the variant."}]
    dc = ep.data_capture_config or {}
    if dc:
        on = dc.get("EnableCapture") is not False
        data["DataCaptureConfig"] = {k: v for k, v in {
            "EnableCapture": on, "CaptureStatus": "Started" if on else "Stopped",
            "CurrentSamplingPercentage": int(dc.get("InitialSamplingPercentage") or 0),
            "DestinationS3Uri": dc.get("DestinationS3Uri"),
            "KmsKeyId": dc.get("KmsKeyId")}.items() if v is not None}
    else:
        data.pop("DataCaptureConfig", None)
    return data


def capture_settings(dc):
    if not dc or dc.get("EnableCapture") is False or not dc.get("DestinationS3Uri"):
        return None
    modes = {o.get("CaptureMode") for o in dc.get("CaptureOptions") or []}
    hdr = dc.get("CaptureContentTypeHeader") or {}
    return {"uri": dc["DestinationS3Uri"],
            "pct": float(dc.get("InitialSamplingPercentage") or 0),
            "input": bool(modes & {"Input", "InputAndOutput"}) or not modes,
            "output": bool(modes & {"Output", "InputAndOutput"}) or not modes,
            "json": [t.lower() for t in hdr.get("JsonContentTypes") or []],
            "csv": [t.lower() for t in hdr.get("CsvContentTypes") or []]}


def encode(settings, ctype, body):
    """AWS: content types listed in CaptureContentTypeHeader are captured as
    text (JSON / CSV); any other (and all, without that header) as BASE64."""
    ct = (ctype or "").lower()
    base = ct.split(";")[0].strip()
    for enc, listed in (("JSON", settings["json"]), ("CSV", settings["csv"])):
        if ct in listed or base in listed:
            try:
                return body.decode("utf-8"), enc
            except UnicodeDecodeError:
                break
    return base64.b64encode(body).decode(), "BASE64"


def s3_split(uri):
    rest = uri[len("s3://"):] if uri.startswith("s3://") else uri
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


# ---- data plane ------------------------------------------------------------------------
class Shadow:
    """Mirroring and capture for DataPlane.invoke; one per data plane."""

    def __init__(self, dp):
        self.dp = dp
        self.flush_seconds = float(os.environ.get("EMU_CAPTURE_FLUSH_SECONDS", "2"))
        self.lock = threading.Lock()
        self.buffers = {}   # (region, uri, endpoint, variant) -> [(time, line)]
        self.rngs = {}      # (region, endpoint, purpose) -> random.Random
        self.mirrored = {}  # (region, endpoint, variant) -> requests sent
        threading.Thread(target=self.flusher, name="data-capture", daemon=True).start()

    def rng(self, *key):
        if key not in self.rngs:
            self.rngs[key] = random.Random(zlib.crc32("/".join(key).encode()))
        return self.rngs[key]

    def plan(self, region, ep, variant, environ, body):
        """Caller holds emu.lock. Decides whether this request is mirrored and/or
        captured; returns None when neither."""
        name = ep.endpoint_name
        shadow = None
        shadows = endpoint_shadows(ep)
        if shadows:
            prod_w = sum(float(v.get("CurrentWeight") or 0.0) for v in ep.production_variants or [])
            s = shadows[0]
            sw = float(s.get("CurrentWeight") or 0.0)
            pct = min(100.0, 100.0 * sw / prod_w) if prod_w > 0 else (100.0 if sw > 0 else 0.0)
            if pct > 0 and self.rng(region, name, "shadow").random() * 100.0 < pct:
                server = self.dp.sm_servers.get((region, name, s["VariantName"]))
                if server is not None:
                    shadow = (s["VariantName"], server["ip"], server["port"])
        capture = capture_settings(getattr(ep, "data_capture_config", None))
        capture_prod = False
        if capture is not None:
            draw = self.rng(region, name, "capture").random() * 100.0
            capture_prod = shadow is not None or draw < capture["pct"]
        if shadow is None and not capture_prod:
            return None
        return {"region": region, "endpoint": name, "variant": variant, "shadow": shadow,
                "capture": capture, "capture_prod": capture_prod, "event_id": str(uuid.uuid4()),
                "inference_id": environ.get("HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"),
                "time": time.time(), "ctype": environ.get("CONTENT_TYPE") or "application/json",
                "accept": environ.get("HTTP_ACCEPT") or "application/json", "body": body}

    def observed(self, plan, status, rh, rb):
        """After the production variant answered (status is the model's)."""
        if plan is None:
            return
        if plan["capture_prod"] and 200 <= status < 300:
            self.record(plan, plan["variant"], header(rh, "content-type") or "application/json", rb)
        if plan["shadow"] is not None:
            key = (plan["region"], plan["endpoint"], plan["shadow"][0])
            self.mirrored[key] = self.mirrored.get(key, 0) + 1
            asyncio.run_coroutine_threadsafe(self.mirror(plan), self.dp.loop)

    async def mirror(self, plan):
        variant, ip, port = plan["shadow"]
        began = time.monotonic()
        try:
            status, rh, rb = await request(ip, port, "POST", "/invocations",
                                           [("Content-Type", plan["ctype"]), ("Accept", plan["accept"])],
                                           plan["body"], timeout=60)
        except Exception:
            status, rh, rb = 502, [], b""
        micros = (time.monotonic() - began) * 1e6
        try:
            m, region = self.dp.metrics, plan["region"]
            dims = [("EndpointName", plan["endpoint"]), ("VariantName", variant)]
            m.count(region, SM_NS, "Invocations", dims)
            m.count(region, SM_NS, "Invocation5XXErrors", dims, 1.0 if status >= 500 else 0.0)
            m.count(region, SM_NS, "Invocation4XXErrors", dims, 1.0 if 400 <= status < 500 else 0.0)
            m.sample(region, SM_NS, "ModelLatency", dims, micros, "Microseconds")
            if plan["capture"] is not None and 200 <= status < 300:
                self.record(plan, variant, header(rh, "content-type") or "application/json", rb)
        except Exception as e:
            self.dp.note(f"shadow {plan['endpoint']}/{variant}: {e!r}")

    def record(self, plan, variant, out_ctype, out_body):
        c = plan["capture"]
        data = {}
        if c["input"]:
            d, enc = encode(c, plan["ctype"], plan["body"])
            data["endpointInput"] = {"observedContentType": plan["ctype"], "mode": "INPUT",
                                     "data": d, "encoding": enc}
        if c["output"]:
            d, enc = encode(c, out_ctype, out_body)
            data["endpointOutput"] = {"observedContentType": out_ctype, "mode": "OUTPUT",
                                      "data": d, "encoding": enc}
        meta = {"eventId": plan["event_id"]}
        if plan["inference_id"]:
            meta["inferenceId"] = plan["inference_id"]
        meta["inferenceTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["time"]))
        line = json.dumps({"captureData": data, "eventMetadata": meta, "eventVersion": "0"})
        with self.lock:
            self.buffers.setdefault((plan["region"], c["uri"], plan["endpoint"], variant), []).append(
                (plan["time"], line))

    # ---- flushing to S3 ----------------------------------------------------------------
    def flusher(self):
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception as e:  # keep the thread alive
                self.dp.note(f"data capture flush: {e!r}")

    def flush(self):
        with self.lock:
            buffers, self.buffers = self.buffers, {}
        if not buffers:
            return
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition
        now = time.time()
        stamp = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        with self.dp.emu.lock:
            for (region, uri, endpoint, variant), records in buffers.items():
                bucket, prefix = s3_split(uri)
                by_hour = {}
                for t, line in records:
                    by_hour.setdefault(time.strftime("%Y/%m/%d/%H", time.gmtime(t)), []).append(line)
                for hour, lines in by_hour.items():
                    key = "/".join(p for p in (prefix, endpoint, variant, hour) if p)
                    key += f"/{stamp}-{uuid.uuid4()}.jsonl"
                    try:
                        s3_backends[DEFAULT_ACCOUNT_ID][get_partition(region)].put_object(
                            bucket, key, ("\n".join(lines) + "\n").encode())
                    except Exception as e:  # e.g. no such bucket: the records are lost
                        self.dp.note(f"data capture to s3://{bucket}/{key}: {e!r}")

    def status(self):
        return [{"endpoint": k[1], "variant": k[2], "region": k[0], "mirrored": n}
                for k, n in self.mirrored.items()]
