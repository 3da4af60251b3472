"""The emulator's data plane (README fills 2, 5 and 7): load balancers that
carry HTTP, ECS tasks that run, health checks, and SageMaker variants that
answer InvokeEndpoint. Each piece mirrors AWS's documented behaviour.

One asyncio loop thread hosts every listener, model server and health check;
a ticker thread advances ECS deployments, SageMaker servers, draining and
metrics under the emulator's lock (briefly). Request handling on the loop
never takes that lock: it reads a routing snapshot that refresh() rebuilds.

Test hook (emulator.py routes it): POST /_emulator/ecs/unhealthy/<service>
makes the tasks of that ECS service (by name, any cluster) started from then
on fail every target health check (Target.FailedHealthChecks), as a task on
a bad host whose health endpoint never answers: they run, are registered and
go unhealthy, so they never get traffic; tasks already running keep their
health. DELETE /_emulator/ecs/unhealthy/<service> or
POST /_emulator/ecs/healthy/<service> undoes it for tasks started later.
"""
import asyncio
import base64
import copy
import datetime
import email.utils
import errno
import hashlib
import hmac
import json
import os
import random
import re
import socket
import ssl
import tempfile
import threading
import time
import uuid
import zlib

from moto.core import DEFAULT_ACCOUNT_ID

from httpio import header, read_message, render_response, request, wants_close
from metrics import FLUSH_SECONDS, AlarmEvaluator, CloudWatchSink, Metrics
from model_server import ModelServer
from shadow import Shadow, config_shadows, endpoint_shadows

UTC = datetime.timezone.utc
RESERVE_PORT = 65009  # outside Linux's ephemeral range; marks an address as taken
ELB_NS, SM_NS = "AWS/ApplicationELB", "AWS/SageMaker"
APP_NS = "App"  # the model servers' business metrics (Invocations, Conversions)
STICKY_KEY = os.urandom(16)  # signs AWSALBTG cookies (per process, like AWS's rotating key)


def elb_backend(region):
    from moto.elbv2.models import elbv2_backends
    return elbv2_backends[DEFAULT_ACCOUNT_ID][region]


def ecs_backend(region):
    from moto.ecs.models import ecs_backends
    return ecs_backends[DEFAULT_ACCOUNT_ID][region]


def sm_backend(region):
    from moto.sagemaker.models import sagemaker_backends
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][region]


# ---- loopback addresses -------------------------------------------------------
class Allocator:
    """Hands out 127.x.y.z addresses no other emulator process holds: an address
    is ours while we hold a socket bound to it on RESERVE_PORT (a bind that
    fails with EADDRINUSE means another process has it, so we skip it)."""

    def __init__(self, emu_port):
        self.base = (emu_port % 200 + 20) * 65536
        self.next = 1
        self.held = {}  # ip -> reservation socket

    def allocate(self):
        for _ in range(65536 * 8):
            n = self.base + self.next
            self.next += 1
            ip = f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            if (n & 255) in (0, 255) or not 20 <= (n >> 16) & 255 <= 254:
                if (n >> 16) & 255 > 254:
                    self.base, self.next = 20 * 65536, 1
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((ip, RESERVE_PORT))
            except OSError as e:
                s.close()
                if e.errno == errno.EADDRINUSE:
                    continue
                raise
            self.held[ip] = s
            return ip
        raise RuntimeError("no free loopback address")

    def release(self, ip):
        s = self.held.pop(ip, None)
        if s is not None:
            s.close()


def bind_socket(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(256)
    s.setblocking(False)
    return s


# ---- ALB rule matching ----------------------------------------------------------
def wildcard(pattern, value, ci):
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.I if ci else 0) is not None


def cond_matches(cond, method, path, headers):
    field = cond.get("Field")
    if field == "http-header":
        cfg = cond.get("HttpHeaderConfig") or {}
        vals = [v for k, v in headers if k.lower() == str(cfg.get("HttpHeaderName", "")).lower()]
        return any(wildcard(p, v, True) for p in cfg.get("Values", []) for v in vals)
    if field == "host-header":
        pats = (cond.get("HostHeaderConfig") or {}).get("Values") or cond.get("Values") or []
        host = (header(headers, "host") or "").split(":")[0]
        return any(wildcard(p, host, True) for p in pats)
    if field == "path-pattern":
        pats = (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values") or []
        return any(wildcard(p, path, False) for p in pats)
    if field == "http-request-method":
        return method in ((cond.get("HttpRequestMethodConfig") or {}).get("Values") or [])
    return False  # query-string / source-ip: not emulated


# ---- target group stickiness (ForwardConfig.TargetGroupStickinessConfig) ---------------
def sticky_config(fc):
    """DurationSeconds when the forward action has target group stickiness on, else None."""
    cfg = (fc or {}).get("TargetGroupStickinessConfig") or {}
    if str(cfg.get("Enabled")).lower() != "true":
        return None
    return int(cfg.get("DurationSeconds") or 3600)


def sticky_value(tg_arn, expires):
    raw = f"{int(expires)}|{tg_arn}".encode()
    mac = hmac.new(STICKY_KEY, raw, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def sticky_pin(headers, now):
    """(target group arn, expiry) of a valid, unexpired AWSALBTG (or AWSALBTGCORS) cookie."""
    for k, v in headers:
        if k.lower() != "cookie":
            continue
        for part in v.split(";"):
            name, _, val = part.strip().partition("=")
            if name not in ("AWSALBTG", "AWSALBTGCORS"):
                continue
            try:
                blob = base64.urlsafe_b64decode(val + "=" * (-len(val) % 4))
                mac, raw = blob[:16], blob[16:]
                if not hmac.compare_digest(mac, hmac.new(STICKY_KEY, raw, hashlib.sha256).digest()[:16]):
                    continue
                exp, _, arn = raw.decode().partition("|")
                if int(exp) > now:
                    return arn, int(exp)
            except ValueError:
                continue
    return None


def sticky_headers(tg_arn, expires, https):
    """AWSALBTG (and, on HTTPS, AWSALBTGCORS for cross-origin requests) as the ALB sets them."""
    val, when = sticky_value(tg_arn, expires), email.utils.formatdate(expires, usegmt=True)
    out = [("Set-Cookie", f"AWSALBTG={val}; Expires={when}; Path=/")]
    if https:
        out.append(("Set-Cookie", f"AWSALBTGCORS={val}; Expires={when}; Path=/; SameSite=None; Secure"))
    return out


def terminal_action(actions):
    acts = sorted(actions, key=lambda a: int(a.get("Order") or 0))
    for a in acts:
        if a.get("Type") in ("forward", "fixed-response", "redirect"):
            return a
    return None


class DataPlane:
    def __init__(self, emu, emu_port, cloudwatch_url=None):
        self.emu = emu
        env = os.environ.get
        self.health_interval = float(env("EMU_HEALTH_INTERVAL_SECONDS", "1"))
        self.alarm_eval_seconds = float(env("EMU_ALARM_EVAL_SECONDS", "10"))
        self.alloc = Allocator(emu_port)
        self.regions = {"us-east-1"}
        self.errors = []
        # --cloudwatch-url: metrics go to that CloudWatch, which evaluates the alarms.
        self.metrics = Metrics(CloudWatchSink(cloudwatch_url, self.note) if cloudwatch_url else None)
        self.shadow = Shadow(self)  # fill 13: shadow variants and Data Capture
        self.alarms = AlarmEvaluator(hold_seconds=60.0)
        self.listeners = {}   # (ip, port) -> {"server", "arn", "protocol"}
        self.routes = {}      # (ip, port) -> routing snapshot
        self.tg_snap = {}     # tg arn -> snapshot
        self.health = {}      # (tg arn, target id) -> {"state", "ok", "bad", "reason", "description"}
        self.rr = {}          # tg arn -> counter
        self.services = {}    # (region, cluster, name) -> {"deployments": [...], "tasks": [...]}
        self.sm_servers = {}  # (region, endpoint, variant) -> {"sig", "server", "ip", "port"}
        self.lb_ips = {}      # load balancer arn -> its loopback address
        self.sick_services = set()  # ECS service names whose new tasks fail health checks (test hook)
        self.sick_ips = set()       # the addresses of those tasks
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="dataplane", daemon=True).start()
        self.call(self._start_health())
        install_patches(self)
        threading.Thread(target=self.ticker, name="dataplane-ticker", daemon=True).start()

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def note(self, msg):
        self.errors.append(f"{time.strftime('%H:%M:%S')} {msg}")
        del self.errors[:-50]

    # ---- ticker -----------------------------------------------------------------
    def ticker(self):
        next_flush = (time.time() // FLUSH_SECONDS + 1) * FLUSH_SECONDS
        next_eval = time.time() + self.alarm_eval_seconds
        while True:
            time.sleep(0.2)
            try:
                with self.emu.lock:
                    self.tick()
                    now = time.time()
                    if now >= next_flush:
                        # Datapoints carry the end of their 10 s window (minus 1 ms),
                        # so they fall in the period they were measured in.
                        self.metrics.flush(next_flush - 0.001)
                        next_flush += FLUSH_SECONDS * max(1, (now - next_flush) // FLUSH_SECONDS + 1)
                    if now >= next_eval and self.metrics.sink is None:
                        self.alarms.evaluate(self.regions, now)
                        next_eval = now + self.alarm_eval_seconds
            except Exception as e:  # keep the ticker alive
                self.note(f"tick: {e!r}")

    def tick(self, converge=False):
        """Caller holds emu.lock."""
        self.emu.sm.advance(None)
        self.expire_draining()
        for key in list(self.services):
            self.reconcile_service(key, converge)
        self.reconcile_sagemaker()
        self.refresh()

    def set_unhealthy(self, service, on):
        """Test hook: tasks of `service` started from now on fail every health check."""
        (self.sick_services.add if on else self.sick_services.discard)(service)

    def converge_now(self):
        for st in self.services.values():
            for d in st["deployments"]:
                d["_start_at"] = 0
        self.tick(converge=True)

    # ---- routing snapshot ------------------------------------------------------------
    def refresh(self):
        """Caller holds emu.lock. Rebuilds routes and target groups; binds new
        listeners and closes deleted ones."""
        routes, tgs, seen_lbs = {}, {}, set()
        for region in list(self.regions):
            be = elb_backend(region)
            for lb in list(be.load_balancers.values()):
                if not str(lb.dns_name).startswith("127."):
                    lb.dns_name = self.alloc.allocate()
                    self.lb_ips[lb.arn] = lb.dns_name
                seen_lbs.add(lb.arn)
                lb_dim = lb.arn.split(":loadbalancer/")[-1]
                for lst in list(lb.listeners.values()):
                    rules = []
                    for r in lst.rules.values():
                        prio = r.priority
                        rank = 10 ** 9 if prio == "default" else int(prio)
                        rules.append((rank, copy.deepcopy(list(r.conditions or [])),
                                      [copy.deepcopy(a.data) for a in (r.actions or [])]))
                    rules.sort(key=lambda x: x[0])
                    routes[(lb.dns_name, int(lst.port))] = {
                        "region": region, "lb_arn": lb.arn, "lb_dim": lb_dim,
                        "arn": lst.arn, "protocol": lst.protocol,
                        "certificate": lst.certificate,
                        "cert_sig": self.cert_sig(region, lst),
                        "rules": [(c, a) for _, c, a in rules]}
            for tg in list(be.target_groups.values()):
                lbs = [elb_backend(region).load_balancers.get(a) for a in tg.load_balancer_arns]
                tgs[tg.arn] = {
                    "region": region, "name": tg.name,
                    "dim": "targetgroup/" + tg.arn.split(":targetgroup/")[-1],
                    "lb_dims": [lb.arn.split(":loadbalancer/")[-1] for lb in lbs if lb],
                    "targets": [(t["Id"], int(t.get("Port") or tg.port or 80)) for t in tg.targets.values()],
                    "path": tg.health_check_path or "/",
                    "hc_port": tg.health_check_port,
                    "healthy": int(tg.healthy_threshold_count or 5),
                    "unhealthy": int(tg.unhealthy_threshold_count or 2),
                    "matcher": (tg.matcher or {}).get("HttpCode", "200") if hasattr(tg, "matcher") else "200",
                    "enabled": tg.health_check_enabled is not False}
                for tid, _port in tgs[tg.arn]["targets"]:
                    self.health.setdefault((tg.arn, tid), new_health())
        self.tg_snap = tgs
        self.routes = routes
        for key in [k for k in self.listeners if k not in routes or
                    routes[k]["arn"] != self.listeners[k]["arn"] or
                    routes[k]["cert_sig"] != self.listeners[k].get("cert_sig")]:
            entry = self.listeners.pop(key)
            self.call(close_server(entry["server"]))
        for key, r in routes.items():
            if key not in self.listeners:
                try:
                    server = self.call(self._listen(key, r))
                    self.listeners[key] = {"server": server, "arn": r["arn"], "protocol": r["protocol"],
                                           "cert_sig": r["cert_sig"]}
                except Exception as e:
                    self.note(f"listener {key}: {e!r}")
                    self.listeners[key] = {"server": None, "arn": r["arn"], "protocol": r["protocol"],
                                           "cert_sig": r["cert_sig"], "error": repr(e)}
        for arn in [a for a in self.lb_ips if a not in seen_lbs]:
            self.alloc.release(self.lb_ips.pop(arn))
        live = {(a, tid) for a, t in tgs.items() for tid, _ in t["targets"]}
        for k in [k for k in self.health if k not in live]:
            del self.health[k]

    def cert_sig(self, region, lst):
        """What an HTTPS listener serves: its certificate ARN and that certificate's
        bytes, so a re-import (ImportCertificate with CertificateArn) rebinds it."""
        if lst.protocol != "HTTPS" or not lst.certificate:
            return None
        from moto.acm.models import acm_backends
        try:
            bundle = acm_backends[DEFAULT_ACCOUNT_ID][region].get_certificate(lst.certificate)
        except Exception:
            return (lst.certificate, None)
        return (lst.certificate, hashlib.sha256(bundle.cert).hexdigest())

    def tls_context(self, region, cert_arn):
        from moto.acm.models import acm_backends
        bundle = acm_backends[DEFAULT_ACCOUNT_ID][region].get_certificate(cert_arn)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            cf, kf = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            chain = bundle.chain if isinstance(getattr(bundle, "chain", None), bytes) else b""
            with open(cf, "wb") as f:
                f.write(bundle.cert + (b"\n" + chain if chain else b""))
            with open(kf, "wb") as f:
                f.write(bundle.key)
            ctx.load_cert_chain(cf, kf)
        return ctx

    async def _listen(self, key, route):
        ip, port = key
        ctx = None
        if route["protocol"] == "HTTPS" and route["certificate"]:
            ctx = self.tls_context(route["region"], route["certificate"])

        async def handler(reader, writer):
            await self.serve_client(key, reader, writer)
        return await asyncio.start_server(handler, sock=bind_socket(ip, port), ssl=ctx)

    # ---- the load balancer ------------------------------------------------------------
    async def serve_client(self, key, reader, writer):
        peer = (writer.get_extra_info("peername") or ("127.0.0.1",))[0]
        try:
            while True:
                msg = await read_message(reader)
                if msg is None:
                    break
                start, headers, body = msg
                parts = start.split()
                method, target = parts[0], parts[1] if len(parts) > 1 else "/"
                version = parts[2] if len(parts) > 2 else "HTTP/1.0"
                status, rh, rb = await self.dispatch(key, method, target, headers, body, peer)
                close = wants_close(version, headers)
                writer.write(render_response(status, rh, b"" if method == "HEAD" else rb, close))
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def dispatch(self, key, method, target, headers, body, peer):
        route = self.routes.get(key)
        if route is None:
            return 503, [("Content-Type", "text/plain")], b"listener gone"
        path = target.split("?")[0]
        action = None
        for conds, actions in route["rules"]:
            if all(cond_matches(c, method, path, headers) for c in conds):
                action = terminal_action(actions)
                if action:
                    break
        region, lb_dim = route["region"], route["lb_dim"]
        self.metrics.count(region, ELB_NS, "RequestCount", [("LoadBalancer", lb_dim)])
        self.metrics.count(region, ELB_NS, "HTTPCode_ELB_5XX_Count", [("LoadBalancer", lb_dim)], 0.0)
        if action is None:
            return self.elb_error(route, 503)
        kind = action.get("Type")
        if kind == "fixed-response":
            cfg = action.get("FixedResponseConfig") or {}
            return (int(cfg.get("StatusCode", 200)),
                    [("Content-Type", cfg.get("ContentType") or "text/plain")],
                    str(cfg.get("MessageBody") or "").encode())
        if kind == "redirect":
            cfg = action.get("RedirectConfig") or {}
            host = (header(headers, "host") or key[0]).split(":")[0]
            query = target.split("?", 1)[1] if "?" in target else ""
            proto = cfg.get("Protocol") or "#{protocol}"
            loc = "{}://{}:{}{}".format(
                proto.replace("#{protocol}", route["protocol"]).lower(),
                (cfg.get("Host") or "#{host}").replace("#{host}", host),
                (cfg.get("Port") or "#{port}").replace("#{port}", str(key[1])),
                (cfg.get("Path") or "/#{path}").replace("/#{path}", path).replace("#{path}", path.lstrip("/")))
            q = (cfg.get("Query") or "#{query}").replace("#{query}", query)
            if q:
                loc += "?" + q
            code = 301 if str(cfg.get("StatusCode", "HTTP_301")).endswith("301") else 302
            return code, [("Location", loc)], b""
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        sticky = None
        if groups:
            weights = [float(g.get("Weight", 1) or 0) for g in groups]
            if sum(weights) <= 0:
                return self.elb_error(route, 503)
            tg_arn = random.choices([g["TargetGroupArn"] for g in groups], weights)[0]
            duration = sticky_config(action.get("ForwardConfig"))
            if duration is not None:
                # A valid cookie keeps its group while that group still has weight; else a new pick.
                now = int(time.time())
                pin = sticky_pin(headers, now)
                live = {g["TargetGroupArn"] for g, w in zip(groups, weights) if w > 0}
                if pin and pin[0] in live:
                    tg_arn, expires = pin
                else:
                    expires = now + duration
                sticky = sticky_headers(tg_arn, expires, route["protocol"] == "HTTPS")
        else:
            tg_arn = action.get("TargetGroupArn")
        tg = self.tg_snap.get(tg_arn)
        if tg is None:
            return self.elb_error(route, 503)
        healthy = [t for t in tg["targets"]
                   if (self.health.get((tg_arn, t[0])) or {}).get("state") == "healthy"]
        if not healthy:
            return self.elb_error(route, 503)
        n = self.rr.get(tg_arn, 0)
        self.rr[tg_arn] = n + 1
        ip, port = healthy[n % len(healthy)]
        fwd = [(k, v) for k, v in headers if k.lower() not in ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto")]
        fwd += [("X-Forwarded-For", peer), ("X-Forwarded-Port", str(key[1])),
                ("X-Forwarded-Proto", route["protocol"].lower()),
                ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")]
        began = time.monotonic()
        try:
            status, rh, rb = await request(ip, port, method, target, fwd, body, timeout=60)
        except Exception:
            return self.elb_error(route, 502)
        elapsed = time.monotonic() - began
        dims = [("LoadBalancer", lb_dim), ("TargetGroup", tg["dim"])]
        self.metrics.count(region, ELB_NS, "RequestCount", dims)
        for cls in ("2XX", "4XX", "5XX"):
            self.metrics.count(region, ELB_NS, f"HTTPCode_Target_{cls}_Count", dims,
                               1.0 if str(status)[0] == cls[0] else 0.0)
        self.metrics.sample(region, ELB_NS, "TargetResponseTime", dims, elapsed, "Seconds")
        if sticky:
            rh = list(rh) + sticky
        return status, rh, rb

    def app_recorder(self, region):
        """What a model server calls per /invocations answer: App/Invocations and
        App/Conversions (0 when it did not convert, so each period has both)."""
        def record(version, converted):
            dims = [("ModelVersion", version)]
            self.metrics.count(region, APP_NS, "Invocations", dims)
            self.metrics.count(region, APP_NS, "Conversions", dims, 1.0 if converted else 0.0)
        return record

    def elb_error(self, route, status):
        self.metrics.count(route["region"], ELB_NS, "HTTPCode_ELB_5XX_Count",
                           [("LoadBalancer", route["lb_dim"])])
        text = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}[status]
        return status, [("Content-Type", "text/html"), ("Server", "awselb/2.0")], \
            f"<html><body><center><h1>{text}</h1></center></body></html>".encode()

    # ---- health checks -------------------------------------------------------------
    async def _start_health(self):
        self.loop.create_task(self.health_loop())

    async def health_loop(self):
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                probes = []
                for arn, tg in list(self.tg_snap.items()):
                    if not tg["enabled"]:
                        continue
                    for tid, port in tg["targets"]:
                        hp = tg["hc_port"]
                        hp = port if hp in (None, "traffic-port") else int(hp)
                        probes.append(self.probe(arn, tg, tid, hp))
                if probes:
                    await asyncio.gather(*probes)
            except Exception as e:
                self.note(f"health: {e!r}")

    async def probe(self, arn, tg, tid, port):
        try:
            if tid in self.sick_ips:  # test hook: a task whose health endpoint never answers
                raise ConnectionRefusedError(tid)
            status, _, _ = await request(tid, port, "GET", tg["path"], [("User-Agent", "ELB-HealthChecker/2.0")],
                                         b"", timeout=max(2.0, self.health_interval))
            ok = matcher_ok(tg["matcher"], status)
            why = None if ok else ("Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]")
        except asyncio.TimeoutError:
            ok, why = False, ("Target.Timeout", "Request timed out")
        except Exception:
            ok, why = False, ("Target.FailedHealthChecks", "Health checks failed")
        h = self.health.get((arn, tid))
        if h is None:
            return
        if ok:
            h["ok"], h["bad"] = h["ok"] + 1, 0
            if h["state"] != "healthy" and h["ok"] >= tg["healthy"]:
                h.update(state="healthy", reason=None, description=None)
        else:
            h["ok"], h["bad"] = 0, h["bad"] + 1
            if h["state"] != "unhealthy" and h["bad"] >= tg["unhealthy"]:
                h.update(state="unhealthy", reason=why[0], description=why[1])

    def expire_draining(self):
        now = time.time()
        for region in list(self.regions):
            for tg in list(elb_backend(region).target_groups.values()):
                dr = tg.__dict__.get("_emu_draining") or {}
                for tid in [t for t, v in dr.items() if v["until"] <= now]:
                    v = dr.pop(tid)
                    tg.deregistered_targets[tid] = {"Id": tid, "Port": v["Port"]}

    # ---- ECS tasks (fill 2) ----------------------------------------------------------
    def ecs_updated(self, action, body, region):
        """After a successful CreateService/UpdateService/DeleteService (lock held)."""
        req = json.loads(body or b"{}")
        cluster = str(req.get("cluster", "default")).split("/")[-1]
        name = str(req.get("service") or req.get("serviceName")).split("/")[-1]
        key = (region, cluster, name)
        st = self.services.setdefault(key, {"deployments": [], "tasks": []})
        if action == "DeleteService":
            st["deleted"] = True
            return
        svc = self.ecs_service(key)
        if svc is None:
            return
        st.pop("deleted", None)
        deps = st["deployments"]
        primary = deps[0] if deps else None
        new_td = primary is None or primary["taskDefinition"] != svc.task_definition \
            or bool(req.get("forceNewDeployment"))
        ts = datetime.datetime.now(UTC)
        if new_td:
            dep_id = f"ecs-svc/{zlib.crc32(f'{name}{time.time()}'.encode()):010d}"
            for d in deps:
                d["status"] = "ACTIVE"
            deps.insert(0, {
                "createdAt": ts, "updatedAt": ts, "id": dep_id,
                "desiredCount": svc.desired_count, "pendingCount": 0, "runningCount": 0,
                "failedTasks": 0, "status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
                "taskDefinition": svc.task_definition, "launchType": svc.launch_type or "FARGATE",
                "platformFamily": "FARGATE",
                "_start_at": time.time() + self.emu.converge_seconds})
        else:
            primary["desiredCount"] = svc.desired_count
            primary["updatedAt"] = ts
            primary["_start_at"] = time.time() + self.emu.converge_seconds
            if primary["rolloutState"] == "COMPLETED":
                primary["rolloutState"] = "IN_PROGRESS"
                primary["rolloutStateReason"] = f"ECS deployment {primary['id']} in progress."
        self.reconcile_service(key, False)

    def ecs_service(self, key):
        region, cluster, name = key
        try:
            svc = ecs_backend(region)._get_service(cluster, name)
        except Exception:
            return None
        return svc if svc.status == "ACTIVE" else None

    def task_env(self, region, td_arn):
        try:
            td = ecs_backend(region).describe_task_definition(td_arn)
        except Exception:
            return {}, None
        env, port = {}, None
        for c in td.container_definitions or []:
            for e in c.get("environment") or []:
                env[e.get("name")] = e.get("value")
            for pm in c.get("portMappings") or []:
                port = port or pm.get("containerPort")
        env.setdefault("MODEL_VERSION", td_arn.split("/")[-1])
        return env, port

    def reconcile_service(self, key, converge):
        st = self.services[key]
        region = key[0]
        svc = None if st.get("deleted") else self.ecs_service(key)
        tasks = st["tasks"]
        now = time.time()
        elb = elb_backend(region)
        if svc is None:
            for t in tasks:
                if t["state"] == "RUNNING":
                    self.drain_task(region, t)
        else:
            primary = st["deployments"][0]
            desired = svc.desired_count
            mine = [t for t in tasks if t["dep"] == primary["id"] and t["state"] == "RUNNING"]
            if len(mine) < desired and now >= primary["_start_at"]:
                env, port = self.task_env(region, primary["taskDefinition"])
                for _ in range(desired - len(mine)):
                    t = self.start_task(region, svc, primary, env, port)
                    if t:
                        tasks.append(t)
                        mine.append(t)
            for t in mine[desired:]:
                self.drain_task(region, t)
            mine = mine[:desired]
            healthy = all(self.task_healthy(t) for t in mine)
            others = [t for t in tasks if t["dep"] != primary["id"] and t["state"] == "RUNNING"]
            if len(mine) >= desired and healthy:
                for t in others:
                    self.drain_task(region, t)
                others = []
            ts = datetime.datetime.now(UTC)
            for d in st["deployments"]:
                run = sum(1 for t in tasks if t["dep"] == d["id"] and t["state"] in ("RUNNING", "DRAINING"))
                if d["runningCount"] != run:
                    d.update(runningCount=run, updatedAt=ts)
            primary["desiredCount"] = desired
            primary["pendingCount"] = max(desired - len(mine), 0)
            if primary["rolloutState"] == "IN_PROGRESS" and len(mine) == desired and healthy and not others:
                primary.update(rolloutState="COMPLETED", updatedAt=ts,
                               rolloutStateReason=f"ECS deployment {primary['id']} completed.")
        existing = elb_backend_any(self)
        for t in tasks:
            # Stop after the delay, or at once when its target groups are gone.
            if t["state"] == "DRAINING" and (now >= t["stop_at"] or
                                             not any(a in existing for a in t["tgs"])):
                self.stop_task(t)
        st["tasks"] = [t for t in tasks if t["state"] != "STOPPED"]
        st["deployments"] = [d for d in st["deployments"] if d["status"] == "PRIMARY" or
                             any(t["dep"] == d["id"] for t in st["tasks"])]
        if svc is not None:
            svc.deployments = [{k: v for k, v in d.items() if not k.startswith("_")}
                               for d in st["deployments"]]
            svc.running_count = sum(1 for t in st["tasks"] if t["state"] in ("RUNNING", "DRAINING"))
            svc.pending_count = st["deployments"][0]["pendingCount"]
        elif not st["tasks"]:
            del self.services[key]
        del elb

    def start_task(self, region, svc, dep, env, td_port):
        tgs = [(lb.get("targetGroupArn"), lb.get("containerPort")) for lb in svc.load_balancers or []]
        port = int(next((p for _, p in tgs if p), None) or td_port or 8080)
        ip = self.alloc.allocate()
        try:
            sock = bind_socket(ip, port)
            server = self.call(ModelServer(ip, port, env, seed=f"{svc.name}/{ip}", record=self.app_recorder(region)).start(sock))
        except Exception as e:
            self.alloc.release(ip)
            self.note(f"start task on {ip}:{port}: {e!r}")
            return None
        task = {"id": uuid.uuid4().hex, "ip": ip, "port": port, "dep": dep["id"],
                "taskDefinition": dep["taskDefinition"], "state": "RUNNING", "server": server,
                "tgs": [a for a, _ in tgs if a], "startedAt": time.time(), "stop_at": None,
                "version": env.get("MODEL_VERSION")}
        if svc.name in self.sick_services:
            self.sick_ips.add(ip)
        elb = elb_backend(region)
        for arn in task["tgs"]:
            tg = elb.target_groups.get(arn)
            if tg is not None:
                tg.register([{"Id": ip, "Port": port}])
        return task

    def task_healthy(self, t):
        existing = elb_backend_any(self)
        return all((self.health.get((arn, t["ip"])) or {}).get("state") == "healthy"
                   for arn in t["tgs"] if arn in existing)

    def drain_task(self, region, t):
        elb = elb_backend(region)
        delay = 0.0
        for arn in t["tgs"]:
            tg = elb.target_groups.get(arn)
            if tg is not None and t["ip"] in tg.targets:
                delay = max(delay, float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)))
                tg.deregister([{"Id": t["ip"]}])
        t["state"] = "DRAINING"
        t["stop_at"] = time.time() + delay

    def stop_task(self, t):
        try:
            self.call(t["server"].close())
        except Exception as e:
            self.note(f"stop task {t['ip']}: {e!r}")
        self.alloc.release(t["ip"])
        self.sick_ips.discard(t["ip"])
        t["state"] = "STOPPED"

    # ---- SageMaker variants (fill 4b) ------------------------------------------------------
    def reconcile_sagemaker(self):
        wanted = {}
        for region in list(self.regions):
            be = sm_backend(region)
            for ep in list(be.endpoints.values()):
                if ep.endpoint_status not in ("InService", "Updating"):
                    continue
                cfg = be.endpoint_configs.get(ep.endpoint_config_name)
                models = {v["VariantName"]: v.get("ModelName")
                          for v in list(cfg.production_variants if cfg else []) + config_shadows(cfg)}
                for v in list(ep.production_variants or []) + endpoint_shadows(ep):
                    model = be._models.get(models.get(v["VariantName"]) or "")
                    pc = (model.primary_container if model else {}) or {}
                    env = dict(pc.get("Environment") or {})
                    image = str(pc.get("Image") or "")
                    if "MODEL_VERSION" not in env:
                        env["MODEL_VERSION"] = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else (models.get(v["VariantName"]) or "unknown")
                    sig = json.dumps([models.get(v["VariantName"]), env], sort_keys=True)
                    wanted[(region, ep.endpoint_name, v["VariantName"])] = (sig, env)
        for key in list(self.sm_servers):
            if key not in wanted or wanted[key][0] != self.sm_servers[key]["sig"]:
                s = self.sm_servers.pop(key)
                self.call(s["server"].close())
                self.alloc.release(s["ip"])
        for key, (sig, env) in wanted.items():
            if key in self.sm_servers:
                continue
            ip = self.alloc.allocate()
            try:
                server = self.call(ModelServer(ip, 8080, env, seed="/".join(key), record=self.app_recorder(key[0])).start(bind_socket(ip, 8080)))
            except Exception as e:
                self.alloc.release(ip)
                self.note(f"variant {key}: {e!r}")
                continue
            self.sm_servers[key] = {"sig": sig, "server": server, "ip": ip, "port": 8080,
                                    "version": env.get("MODEL_VERSION")}

    def invoke(self, environ, body, region):
        """InvokeEndpoint, answered by the variant's model server. Takes the lock
        only to pick the variant, never while the model runs."""
        name = environ["PATH_INFO"].split("/")[2]
        wanted = environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT")
        with self.emu.lock:
            self.regions.add(region)
            self.emu.sm.advance(region)
            self.reconcile_sagemaker()
            be = sm_backend(region)
            ep = be.endpoints.get(name)
            if ep is None or ep.endpoint_status not in ("InService", "Updating"):
                msg = (f"Endpoint {name} of account {DEFAULT_ACCOUNT_ID} not found." if ep is None
                       else f"Endpoint {name} is not in service.")
                return rest_error(400, "ValidationError", msg)
            variants = [(v["VariantName"], float(v.get("CurrentWeight") or 0.0))
                        for v in ep.production_variants or []]
            if wanted:
                if wanted not in [v for v, _ in variants]:
                    return rest_error(400, "ValidationError",
                                      f"Endpoint {name} does not have variant {wanted}.")
                variant = wanted
            else:
                live = [(v, w) for v, w in variants if w > 0]
                if not live:
                    return rest_error(400, "ValidationError", f"Endpoint {name} has no variant with weight.")
                variant = random.choices([v for v, _ in live], [w for _, w in live])[0]
            server = self.sm_servers.get((region, name, variant))
            mirror = self.shadow.plan(region, ep, variant, environ, body)
        if server is None:
            return rest_error(400, "ValidationError", f"Variant {variant} is not running.")
        ctype = environ.get("CONTENT_TYPE") or "application/json"
        accept = environ.get("HTTP_ACCEPT") or "application/json"
        began = time.monotonic()
        try:
            status, rh, rb = asyncio.run_coroutine_threadsafe(
                request(server["ip"], server["port"], "POST", "/invocations",
                        [("Content-Type", ctype), ("Accept", accept)], body, timeout=60),
                self.loop).result(65)
        except Exception as e:
            status, rh, rb = 502, [], str(e).encode()
        micros = (time.monotonic() - began) * 1e6
        dims = [("EndpointName", name), ("VariantName", variant)]
        self.metrics.count(region, SM_NS, "Invocations", dims)
        self.metrics.count(region, SM_NS, "Invocation5XXErrors", dims, 1.0 if status >= 500 else 0.0)
        self.metrics.count(region, SM_NS, "Invocation4XXErrors", dims, 1.0 if 400 <= status < 500 else 0.0)
        self.metrics.sample(region, SM_NS, "ModelLatency", dims, micros, "Microseconds")
        self.shadow.observed(mirror, status, rh, rb)
        vh = [("x-Amzn-Invoked-Production-Variant", variant)]
        if status >= 400:
            text = rb.decode("utf-8", "replace")
            msg = f"Received server error ({status}) from primary with message \"{text}\". See logs."
            if status < 500:
                msg = f"Received client error ({status}) from primary with message \"{text}\". See logs."
            code, hdrs, out = rest_error(424, "ModelError", msg)
            data = json.loads(out)
            data.update(OriginalStatusCode=status, OriginalMessage=text,
                        LogStreamArn=f"arn:aws:logs:{region}:{DEFAULT_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}")
            return code, hdrs, json.dumps(data).encode()
        ctype_out = header(rh, "content-type") or "application/json"
        return 200, vh + [("Content-Type", ctype_out)], rb

    # ---- debugging hook -------------------------------------------------------------------
    def status(self):
        lbs = []
        for region in list(self.regions):
            for lb in elb_backend(region).load_balancers.values():
                lbs.append({"name": lb.name, "region": region, "dns_name": lb.dns_name,
                            "listeners": [{"port": k[1], "arn": v["arn"], "protocol": v["protocol"],
                                           "error": v.get("error")}
                                          for k, v in self.listeners.items() if k[0] == lb.dns_name]})
        tgs = []
        for region in list(self.regions):
            for tg in elb_backend(region).target_groups.values():
                dr = tg.__dict__.get("_emu_draining") or {}
                tgs.append({"name": tg.name, "arn": tg.arn,
                            "targets": [{"id": t["Id"], "port": t["Port"],
                                         "state": (self.health.get((tg.arn, t["Id"])) or {}).get("state")}
                                        for t in tg.targets.values()] +
                            [{"id": k, "port": v["Port"], "state": "draining",
                              "until": round(v["until"] - time.time(), 1)} for k, v in dr.items()]})
        tasks = [{"service": "/".join(k), "ip": t["ip"], "port": t["port"], "state": t["state"],
                  "failing_health_checks": t["ip"] in self.sick_ips,
                  "deployment": t["dep"], "taskDefinition": t["taskDefinition"], "version": t["version"],
                  "stop_in": round(t["stop_at"] - time.time(), 1) if t["stop_at"] else None}
                 for k, st in self.services.items() for t in st["tasks"]]
        sm = [{"endpoint": k[1], "variant": k[2], "region": k[0], "ip": s["ip"], "port": s["port"],
               "version": s["version"]} for k, s in self.sm_servers.items()]
        return {"load_balancers": lbs, "target_groups": tgs, "tasks": tasks,
                "sagemaker_variants": sm, "shadow": self.shadow.status(),
                "errors": list(self.errors)}


def elb_backend_any(dp):
    """The target groups that still exist, by arn (across the regions we serve)."""
    out = {}
    for region in dp.regions:
        out.update(elb_backend(region).target_groups)
    return out


def new_health():
    return {"state": "initial", "ok": 0, "bad": 0, "reason": "Elb.RegistrationInProgress",
            "description": "Target registration is in progress"}


def matcher_ok(matcher, status):
    for part in str(matcher or "200").split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            if int(lo) <= status <= int(hi):
                return True
        elif part and int(part) == status:
            return True
    return False


def rest_error(status, code, message):
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)], body


async def close_server(server):
    if server is not None:
        server.close()


# ---- moto patches: real target health and draining --------------------------------------
def install_patches(dp):
    from moto.elbv2 import models as m
    TG = m.FakeTargetGroup
    if getattr(TG, "_emu_patched", False):
        return
    orig_register, orig_health = TG.register, TG.health_for

    def register(self, targets):
        orig_register(self, targets)
        dr = self.__dict__.setdefault("_emu_draining", {})
        for t in targets:
            if dr.pop(t["Id"], None) is not None or (self.arn, t["Id"]) not in dp.health:
                dp.health[(self.arn, t["Id"])] = new_health()

    def deregister(self, targets):
        dr = self.__dict__.setdefault("_emu_draining", {})
        delay = float(self.attributes.get("deregistration_delay.timeout_seconds", 300))
        for t in targets:
            cur = self.targets.pop(t["Id"], None)
            if not cur:
                raise m.InvalidTargetError()
            dr[t["Id"]] = {"Id": t["Id"], "Port": cur["Port"], "until": time.time() + delay}
            dp.health.pop((self.arn, t["Id"]), None)

    def health_for(self, target, ec2_backend):
        tid = target["Id"]
        t = self.targets.get(tid)
        if t is not None:
            h = dp.health.get((self.arn, tid)) or new_health()
            return m.FakeHealthStatus(tid, t["Port"], self.health_check_port, h["state"],
                                      h.get("reason"), h.get("description"))
        d = (self.__dict__.get("_emu_draining") or {}).get(tid)
        if d is not None:
            return m.FakeHealthStatus(tid, d["Port"], self.health_check_port, "draining",
                                      "Target.DeregistrationInProgress",
                                      "Target deregistration is in progress")
        return orig_health(self, target, ec2_backend)

    def describe_target_health(self, target_group_arn, targets):
        tg = self.target_groups.get(target_group_arn)
        if tg is None:
            raise m.TargetGroupNotFoundError()
        if not targets:
            targets = list(tg.targets.values()) + [
                {"Id": k, "Port": v["Port"]} for k, v in (tg.__dict__.get("_emu_draining") or {}).items()]
        return [tg.health_for(t, self.ec2_backend) for t in targets]

    orig_create_lb = m.ELBv2Backend.create_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        lb = orig_create_lb(self, *args, **kwargs)
        lb.dns_name = dp.alloc.allocate()  # its own loopback address
        dp.lb_ips[lb.arn] = lb.dns_name
        return lb

    TG.register, TG.deregister, TG.health_for = register, deregister, health_for
    m.ELBv2Backend.describe_target_health = describe_target_health
    m.ELBv2Backend.create_load_balancer = create_load_balancer
    TG._emu_patched = True
