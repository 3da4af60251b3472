#!/usr/bin/env python3
"""cutover's embedded AWS emulator: moto in server mode plus small gap fills.

Each fill mirrors documented AWS behaviour; see localstack/README.md.

  1. CloudWatch Smithy RPC v2 CBOR adapter (moto issue 9195).
  2. The data plane (dataplane.py, metrics.py, model_server.py): ECS tasks
     that run model servers, load balancers that carry HTTP, real health
     checks and draining, SageMaker invocations, metrics and alarm
     evaluation.
  3. Every request is serialised under one lock, so DynamoDB conditional
     writes are atomic as on AWS.
  4. SageMaker: UpdateEndpoint, weight 0 kept (not null), partial
     UpdateEndpointWeightsAndCapacities keeps unnamed fields, and the
     Updating -> InService transition.
  5. Route 53 (route53_dns.py): DNS answers on udp/<port> for the hosted zones
     (simple, weighted and alias records), changes PENDING -> INSYNC.

Test hooks (not AWS APIs):
  GET    /_emulator/health      -> {"ok": true}
  GET    /_emulator/requests    -> [{"service", "action", "status"}...]
  DELETE /_emulator/requests    -> clears the log
  POST   /_emulator/converge    -> starts every pending ECS task now
  GET    /_emulator/dataplane   -> load balancers, targets, tasks, variants
  POST   /_emulator/sagemaker/fail-next-update[/<endpoint>]
                                -> its next UpdateEndpoint rolls back silently
  POST   /_emulator/sagemaker/hold-updating/<endpoint>[?seconds=N]
                                -> its next weight update (or UpdateEndpoint)
                                   stays Updating N s (Current keeps the old
                                   values, further updates are refused)
  POST   /_emulator/sagemaker/release/<endpoint>
                                -> ends that hold now
  POST   /_emulator/ecs/unhealthy/<service>
                                -> its tasks started from now on fail every
                                   health check (Target.FailedHealthChecks)
  DELETE /_emulator/ecs/unhealthy/<service>, POST /_emulator/ecs/healthy/<service>
                                -> undoes that for tasks started later
"""
import argparse
import datetime
import io
import json
import os
import re
import threading
import time

import cbor2
from botocore.session import get_session
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import run_simple

from dataplane import DataPlane
from route53_dns import Route53Fill, route53_action
from sagemaker_fill import SageMakerFill

SCHEDULER_OPS = [  # EventBridge Scheduler is REST: name the operation for the request log
    ("GET", re.compile(r"^/schedules/[^/]+$"), "GetSchedule"),
    ("POST", re.compile(r"^/schedules/[^/]+$"), "CreateSchedule"),
    ("PUT", re.compile(r"^/schedules/[^/]+$"), "UpdateSchedule"),
    ("DELETE", re.compile(r"^/schedules/[^/]+$"), "DeleteSchedule"),
    ("GET", re.compile(r"^/schedules/?$"), "ListSchedules"),
]


def scheduler_action(environ):
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
    for m, rx, op in SCHEDULER_OPS:
        if m == method and rx.match(path):
            return op
    return None


def s3_action(environ):
    """The S3 operation of a path-style request (for the request log), or None."""
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    keys = {q.split("=", 1)[0] for q in query.split("&") if q}
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return "ListBuckets" if method == "GET" else None
    if len(parts) == 2 and parts[1]:
        return {"GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject",
                "HEAD": "HeadObject"}.get(method)
    if "tagging" in keys:
        return {"GET": "GetBucketTagging", "PUT": "PutBucketTagging",
                "DELETE": "DeleteBucketTagging"}.get(method)
    if "delete" in keys and method == "POST":
        return "DeleteObjects"
    if method == "GET":
        return "ListObjectsV2" if "list-type" in keys else "ListObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method)


CBOR_PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(\w+)$")
CRED_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
UTC = datetime.timezone.utc


def now():
    return time.time()


class Emulator:
    def __init__(self, app, converge_seconds, sm_update_seconds):
        self.app = app
        self.lock = threading.RLock()
        self.log = []
        self.converge_seconds = converge_seconds
        self.sm_update_seconds = sm_update_seconds
        self.sm = SageMakerFill(self)
        self._cw_model = None

    # ---- WSGI entry -------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.hook(environ, start_response, path)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = CRED_SCOPE.search(auth)
        region = m.group(2) if m else "us-east-1"
        service = m.group(3) if m else "?"
        cbor = CBOR_PATH.match(path)
        if not cbor and action_of(environ, b"") == "InvokeEndpoint":
            # Answered by the variant's model server, outside the lock.
            status, headers, out = self.dp.invoke(environ, body, region)
            with self.lock:
                self.record(m, service, "InvokeEndpoint", status, environ)
            return self.respond(start_response, status, headers, out)
        with self.lock:
            self.dp.regions.add(region)
            self.sm.advance(region)
            if cbor and environ.get("REQUEST_METHOD") == "POST":
                action = cbor.group(1)
                status, headers, out = self.cloudwatch_cbor(environ, action, body)
            else:
                action = action_of(environ, body)
                if service == "route53":
                    action = route53_action(environ) or action
                elif service == "scheduler":
                    action = scheduler_action(environ) or action
                elif service == "s3":
                    action = s3_action(environ) or action
                status, headers, out = self.forward(environ, body, service, action, region)
            if action == "SetAlarmState" and status < 300:
                self.dp.alarms.state_was_set(region, alarm_name_of(body, bool(cbor)))
            if status < 300 and service in ("elasticloadbalancing", "ecs", "sagemaker", "acm") \
                    and not action.startswith(("Describe", "List", "Get")):
                self.dp.refresh()
            self.record(m, service, action, status, environ)
        return self.respond(start_response, status, headers, out)

    def record(self, m, service, action, status, environ):
        entry = {"service": service, "action": action, "status": status,
                 "key": m.group(1) if m else ""}
        variant = environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT")
        if variant:
            entry["target_variant"] = variant
        self.log.append(entry)
        if len(self.log) > 200000:
            del self.log[:100000]

    def respond(self, start_response, status, headers, out):
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(out))))
        start_response(f"{status} {reason(status)}", headers)
        return [out]

    def call_app(self, environ, body):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
        captured = {}

        def sr(status, headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = headers

        chunks = self.app(env, sr)
        try:
            out = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return captured["status"], headers, out

    def forward(self, environ, body, service, action, region):
        if service == "sagemaker":
            handled = self.sm.before(environ, body, action, region)
            if handled is not None:
                return handled
            body = self.sm.rewrite_request(action, body, region)
        status, headers, out = self.call_app(environ, body)
        if status < 300 and service == "ecs" and action in ("CreateService", "UpdateService",
                                                            "DeleteService"):
            self.dp.ecs_updated(action, body, region)
        if service == "route53":  # fill 10: change ids, PENDING -> INSYNC, the DNS view
            status, headers, out = self.r53.after(environ, status, headers, out)
        if service == "sagemaker" and status < 300:
            out = self.sm.after(action, body, out, region)
        return status, headers, out

    # ---- test hooks ---------------------------------------------------------
    def hook(self, environ, start_response, path):
        method = environ.get("REQUEST_METHOD")
        result = {"ok": True}
        with self.lock:
            if path == "/_emulator/requests" and method == "DELETE":
                self.log.clear()
            elif path == "/_emulator/requests":
                result = list(self.log)
            elif self.sm.hook(path, environ.get("QUERY_STRING", "")):
                pass
            elif path.startswith(("/_emulator/ecs/unhealthy/", "/_emulator/ecs/healthy/")):
                self.dp.set_unhealthy(path.split("/", 4)[4],
                                      path.startswith("/_emulator/ecs/unhealthy/") and method != "DELETE")
            elif path == "/_emulator/converge":
                self.dp.converge_now()
            elif path == "/_emulator/dataplane":
                result = self.dp.status()
        out = json.dumps(result).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    # ---- fill 1: CloudWatch RPC v2 CBOR -> moto's JSON 1.0 -------------------
    def cw_model(self):
        if self._cw_model is None:
            self._cw_model = get_session().get_service_model("cloudwatch")
        return self._cw_model

    def cloudwatch_cbor(self, environ, op, body):
        model = self.cw_model()
        try:
            op_model = model.operation_model(op)
        except Exception:
            return 400, cbor_headers(), cbor2.dumps(
                {"__type": "UnknownOperationException", "message": op})
        request = cbor2.loads(body) if body else {}
        request = to_json(request)
        env = dict(environ)
        env["PATH_INFO"] = "/"
        env["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        env["HTTP_X_AMZ_TARGET"] = f"GraniteServiceVersion20100801.{op}"
        status, _headers, out = self.call_app(env, json.dumps(request).encode())
        data = json.loads(out) if out.strip() else {}
        if status >= 300:
            err = {"__type": str(data.get("__type", "InternalFailure")).split("#")[-1],
                   "message": data.get("message") or data.get("Message") or ""}
            return status, cbor_headers(), cbor2.dumps(err)
        if op_model.output_shape is not None:
            data = shape_convert(op_model.output_shape, data)
        return 200, cbor_headers(), cbor2.dumps(data, datetime_as_timestamp=True, timezone=UTC)

# ---- helpers ---------------------------------------------------------------
def action_of(environ, body):
    if re.match(r"^/endpoints/[^/]+/invocations$", environ.get("PATH_INFO", "")):
        return "InvokeEndpoint"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    ctype = environ.get("CONTENT_TYPE", "")
    query = environ.get("QUERY_STRING", "")
    for source in (query, body.decode("utf-8", "replace") if "form" in ctype else ""):
        m = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", source)
        if m:
            return m.group(1)
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


def alarm_name_of(body, is_cbor):
    try:
        if is_cbor:
            return cbor2.loads(body).get("AlarmName", "")
        if body.lstrip().startswith(b"{"):
            return json.loads(body).get("AlarmName", "")
        from urllib.parse import parse_qs
        return parse_qs(body.decode()).get("AlarmName", [""])[0]
    except Exception:
        return ""


def to_json(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        import base64
        return base64.b64encode(value).decode()
    return value


def shape_convert(shape, value):
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        return {k: shape_convert(shape.members[k], v) for k, v in value.items()
                if k in shape.members and v is not None}
    if kind == "list":
        return [shape_convert(shape.member, v) for v in value]
    if kind == "map":
        return {k: shape_convert(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, UTC)
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind == "blob" and isinstance(value, str):
        import base64
        return base64.b64decode(value)
    return value


def cbor_headers():
    return [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]


def reason(status):
    return {200: "OK", 400: "Bad Request", 404: "Not Found", 424: "Failed Dependency",
            500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "OK")


def watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--exit-with", type=int, default=0,
                        help="exit when this process id is gone (test harnesses)")
    parser.add_argument("--cloudwatch-url", default="",
                        help="put the data plane's metrics into the CloudWatch at this URL "
                             "(e.g. LocalStack) instead of moto's; that CloudWatch evaluates "
                             "the alarms and the emulator's own evaluation is off")
    parser.add_argument("--dns-ttl", type=int, default=5,
                        help="TTL of DNS answers for alias records (Route 53: 60)")
    parser.add_argument("--dns-delay", type=float, default=1.0,
                        help="seconds until a Route 53 change is answered by DNS and INSYNC")
    args = parser.parse_args()
    if args.exit_with:
        threading.Thread(target=watch_parent, args=(args.exit_with,), daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    emu = Emulator(app,
                   float(os.environ.get("EMU_ECS_CONVERGE_SECONDS", "2")),
                   float(os.environ.get("EMU_SAGEMAKER_UPDATE_SECONDS", "2")))
    emu.dp = DataPlane(emu, args.port, cloudwatch_url=args.cloudwatch_url or None)
    # fill 10: Route 53's name servers on udp/<host>:<port>
    emu.r53 = Route53Fill(emu, delay=args.dns_delay, ttl=args.dns_ttl)
    err = emu.r53.serve(args.host, args.port)
    if err:
        print(err, flush=True)
        emu.dp.note(err)
    run_simple(args.host, args.port, emu, threaded=True)


if __name__ == "__main__":
    main()
