#!/usr/bin/env python3
"""cutover's fault-injection proxy: an HTTP/1.1 proxy in front of the emulator
that answers some requests with AWS-shaped errors, resets, delays, or applies
them upstream and then drops the answer. Python stdlib only.

  python3 localstack/faults.py --listen-port P --upstream http://127.0.0.1:N \
      --rate 0.2 --seed 42 [--kinds 500,503,throttle,reset,latency,drop-answer] \
      [--latency-ms 300] [--only dynamodb:PutItem,elasticloadbalancing] \
      [--log FILE] [--exit-with PID]

Kinds:
  500, 503     answered here (not forwarded) in the protocol's own error shape
  throttle     HTTP 400 with a throttling code the SDKs retry (see SPEC)
  reset        the connection is reset (SO_LINGER 0) without an answer
  latency      forwarded; the answer waits --latency-ms
  drop-answer  forwarded (the emulator applies it), then the connection is
               reset: the client sees a failure for a call that landed

Determinism: every proxied request takes the next sequence number and draws
two numbers from random.Random(seed) (is it faulted, which kind) whether or
not it is faulted (rate, on/off, --only and forced faults change no draw).
So for given settings request n's fate depends only on the seed and the
order in which requests arrive.

Hooks (never faulted, never numbered):
  POST /_faults/rate?value=0.2   set the rate
  POST /_faults/off | /_faults/on
  POST /_faults/inject?kind=K[&service=S][&action=A][&count=N]
                                  force K on the next N matching requests
                                  (even when off); see GET /_faults/stats
  POST /_faults/seed?value=N     reseed, restart the numbering, clear stats,
                                  the log and pending injections
  GET  /_faults/stats            counts per kind and per service/action
  GET  /_faults/log              the injected faults (as the --log lines)
  GET  /_faults/health
Requests to /_emulator/... are forwarded untouched.
"""
import argparse
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import http.client

KINDS = ("500", "503", "throttle", "reset", "latency", "drop-answer")
CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([A-Za-z0-9_]+)$")
CRED_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
INVOKE_PATH = re.compile(r"^/endpoints/[^/]+/invocations(-response-stream|-async)?$")
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
       "trailer", "upgrade", "content-length", "expect", "host"}
REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}
MAX_LINE = 65536

QUERY_XMLNS = {"elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
               "monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/"}
QUERY_COMPATIBLE = {"monitoring"}
DDB_NS = "com.amazonaws.dynamodb.v20120810#"
# (status, code, Query error type, message) per kind. The throttling codes
# (ThrottlingException; Throttling for Query and x-amzn-query-error) are in the
# list both the Rust SDK (aws-runtime retries::classifiers::THROTTLING_ERRORS)
# and botocore (standard mode) classify as throttling; 500/503 are retried as
# transient by status code, resets as transient I/O errors.
SPEC = {
    "500": (500, "InternalFailure", "Receiver",
            "We encountered an internal error. Please try again. (injected by faults.py)"),
    "503": (503, "ServiceUnavailable", "Receiver",
            "Service is unavailable. Please try again. (injected by faults.py)"),
    "throttle": (400, "ThrottlingException", "Sender", "Rate exceeded (injected by faults.py)"),
}


# ---- request inspection ------------------------------------------------------
def header(headers, name, default=""):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def classify(method, target, headers, body):
    """(service, action, protocol) of a request, as emulator.py's action_of."""
    path, _, query = target.partition("?")
    m = CRED_SCOPE.search(header(headers, "authorization"))
    service = m.group(3) if m else "?"
    key = m.group(1) if m else ""
    ctype = header(headers, "content-type").lower()
    amz_target = header(headers, "x-amz-target")
    cbor = CBOR_PATH.match(path)
    if cbor and method == "POST":
        return service, cbor.group(2), "cbor", key
    if INVOKE_PATH.match(path):
        return service, "InvokeEndpoint", "rest-json", key
    if amz_target:
        proto = "json-1.0" if "json-1.0" in ctype else "json-1.1"
        if service == "dynamodb" or amz_target.startswith("DynamoDB_"):
            proto = "json-1.0"
        return service, amz_target.split(".")[-1], proto, key
    sources = [query]
    if "form" in ctype:
        sources.append(body.decode("utf-8", "replace"))
    for src in sources:
        a = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", src)
        if a:
            return service, a.group(1), "query", key
    return service, f"{method} {path}", "rest-json", key


# ---- error shapes --------------------------------------------------------------
def cbor_text(s):
    b = s.encode("utf-8")
    return cbor_head(3, len(b)) + b


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    return bytes([major << 5 | 26]) + struct.pack(">I", n)


def cbor_map(d):
    out = cbor_head(5, len(d))
    for k, v in d.items():
        out += cbor_text(k) + cbor_text(v)
    return out


def error_response(kind, service, protocol):
    """(status, headers, body) for an injected 500/503/throttle."""
    status, code, fault_type, message = SPEC[kind]
    rid = str(uuid.uuid4())
    if protocol == "query":
        if kind == "throttle":
            code = "Throttling"
        xmlns = f' xmlns="{QUERY_XMLNS[service]}"' if service in QUERY_XMLNS else ""
        body = (f"<ErrorResponse{xmlns}>"
                f"<Error><Type>{fault_type}</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    extra = [("x-amzn-RequestId", rid)]
    if service in QUERY_COMPATIBLE:
        # CloudWatch is @awsQueryCompatible: over CBOR or JSON 1.0 the SDKs
        # take the code from x-amzn-query-error (Query's own code: Throttling).
        query_code = "Throttling" if kind == "throttle" else code
        extra.append(("x-amzn-query-error", f"{query_code};{fault_type}"))
    if protocol == "cbor":
        body = cbor_map({"__type": code, "message": message})
        return status, [("Content-Type", "application/cbor"),
                        ("smithy-protocol", "rpc-v2-cbor")] + extra, body
    if protocol == "json-1.0" and service == "dynamodb":
        if kind == "500":
            code = "InternalServerError"
        full = DDB_NS + code
        body = json.dumps({"__type": full, "message": message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.0"),
                        ("x-amzn-ErrorType", code)] + extra, body
    if protocol in ("json-1.0", "json-1.1"):
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, [("Content-Type", f"application/x-amz-{protocol}"),
                        ("x-amzn-ErrorType", code)] + extra, body
    # REST-JSON (SageMaker runtime InvokeEndpoint and anything unrecognised):
    # the code travels in x-amzn-ErrorType, the body carries the message.
    body = json.dumps({"message": message}).encode()
    return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)] + extra, body


# ---- HTTP plumbing ---------------------------------------------------------------
class Closed(Exception):
    pass


class Reader:
    """Buffered reader over a socket (no makefile, so a reset really resets)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return out
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            self.fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_request(reader, sock):
    """(method, target, version, headers, body) or None at a clean EOF."""
    try:
        line = reader.line()
        while line in (b"\r\n", b"\n"):
            line = reader.line()
    except Closed:
        return None
    parts = line.decode("latin-1").strip().split()
    if len(parts) != 3:
        raise ValueError(f"bad request line {line!r}")
    method, target, version = parts
    if "://" in target.split("?")[0]:  # absolute-form (client configured us as a proxy)
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    headers = []
    while True:
        h = reader.line()
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    if header(headers, "expect").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in header(headers, "transfer-encoding").lower():
        body = b""
        while True:
            size = int(reader.line().split(b";")[0].strip(), 16)
            if size == 0:
                while reader.line() not in (b"\r\n", b"\n"):  # trailers
                    pass
                break
            body += reader.exactly(size)
            reader.line()
    else:
        body = reader.exactly(int(header(headers, "content-length") or 0))
    return method, target, version, headers, body


def send_response(sock, status, headers, body, close, head=False):
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    for k, v in headers:
        if k.lower() not in HOP:
            lines.append(f"{k}: {v}")
    if status >= 200 and status not in (204, 304):
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if not head:
        data += body
    sock.sendall(data)


def reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# ---- the proxy -------------------------------------------------------------------
class Faults:
    def __init__(self, args):
        self.upstream = urllib.parse.urlsplit(args.upstream)
        self.rate = args.rate
        self.seed = args.seed
        self.kinds = args.kinds
        self.latency = args.latency_ms / 1000.0
        self.only = args.only
        self.log_path = args.log
        self.enabled = True
        self.lock = threading.Lock()
        self.reseed(self.seed)

    def reseed(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        self.seq = 0
        self.forced = []  # [kind, service, action, remaining]
        self.injected = []
        self.stats = {"requests": 0, "faults": 0, "by_kind": {k: 0 for k in KINDS},
                      "by_service": {}}

    def matches(self, service, action):
        if not self.only:
            return True
        for spec in self.only:
            s, _, a = spec.partition(":")
            if s in ("", "*", service) and a in ("", "*", action):
                return True
        return False

    def decide(self, service, action, key):
        """Number the request, draw its fate, return (seq, kind or None)."""
        with self.lock:
            self.seq += 1
            seq = self.seq
            roll = self.rng.random()
            pick = self.kinds[self.rng.randrange(len(self.kinds))]
            kind = None
            forced = False
            for f in self.forced:
                if f[3] > 0 and f[1] in ("", service) and f[2] in ("", action):
                    f[3] -= 1
                    kind, forced = f[0], True
                    break
            self.forced = [f for f in self.forced if f[3] > 0]
            if kind is None and self.enabled and roll < self.rate and self.matches(service, action):
                kind = pick
            st = self.stats
            st["requests"] += 1
            svc = st["by_service"].setdefault(service, {})
            act = svc.setdefault(action, {"requests": 0, "faults": {}})
            act["requests"] += 1
            if kind:
                st["faults"] += 1
                st["by_kind"][kind] = st["by_kind"].get(kind, 0) + 1
                act["faults"][kind] = act["faults"].get(kind, 0) + 1
                entry = {"seq": seq, "kind": kind, "service": service, "action": action,
                         "key": key}
                if forced:
                    entry["forced"] = True
                self.injected.append(entry)
                if len(self.injected) > 100000:
                    del self.injected[:50000]
                if self.log_path:
                    with open(self.log_path, "a") as fh:
                        fh.write(json.dumps(entry) + "\n")
            return seq, kind

    def forward(self, method, target, headers, body):
        u = self.upstream
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=300)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", header(headers, "host") or f"{u.hostname}:{u.port}")
            for k, v in headers:
                if k.lower() not in HOP:
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def hook(self, method, target):
        path, _, query = target.partition("?")
        q = dict(urllib.parse.parse_qsl(query))
        with self.lock:
            if path == "/_faults/rate" and method == "POST":
                self.rate = float(q["value"])
            elif path == "/_faults/off" and method == "POST":
                self.enabled = False
            elif path == "/_faults/on" and method == "POST":
                self.enabled = True
            elif path == "/_faults/seed" and method == "POST":
                self.reseed(int(q.get("value", self.seed)))
            elif path == "/_faults/inject" and method == "POST":
                if q.get("kind") not in KINDS:
                    return 400, {"error": f"kind must be one of {', '.join(KINDS)}"}
                self.forced.append([q["kind"], q.get("service", ""), q.get("action", ""),
                                    int(q.get("count", 1))])
            elif path == "/_faults/stats" and method == "GET":
                return 200, dict(self.stats, rate=self.rate, enabled=self.enabled,
                                 seed=self.seed, seq=self.seq, kinds=list(self.kinds),
                                 pending_forced=[{"kind": f[0], "service": f[1], "action": f[2],
                                                  "count": f[3]} for f in self.forced])
            elif path == "/_faults/log" and method == "GET":
                return 200, list(self.injected)
            elif path == "/_faults/health":
                pass
            else:
                return 404, {"error": f"no hook {method} {path}"}
            return 200, {"ok": True, "rate": self.rate, "enabled": self.enabled}

    def serve_connection(self, sock):
        reader = Reader(sock)
        try:
            while True:
                req = read_request(reader, sock)
                if req is None:
                    break
                method, target, version, headers, body = req
                conn_hdr = header(headers, "connection").lower()
                close = "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr)
                head = method == "HEAD"
                if target.startswith("/_faults/"):
                    status, result = self.hook(method, target)
                    send_response(sock, status, [("Content-Type", "application/json")],
                                  json.dumps(result).encode(), close)
                elif target.startswith("/_emulator/"):
                    status, rh, data = self.upstream_or_502(method, target, headers, body)
                    send_response(sock, status, rh, data, close, head)
                else:
                    service, action, protocol, key = classify(method, target, headers, body)
                    seq, kind = self.decide(service, action, key)
                    if kind == "reset":
                        reset(sock)
                        return
                    if kind in SPEC:
                        status, rh, data = error_response(kind, service, protocol)
                        send_response(sock, status, rh, data, close, head)
                    else:
                        status, rh, data = self.upstream_or_502(method, target, headers, body)
                        if kind == "drop-answer":
                            reset(sock)
                            return
                        if kind == "latency":
                            time.sleep(self.latency)
                        send_response(sock, status, rh, data, close, head)
                if close:
                    break
        except (Closed, OSError, ValueError) as e:
            if not isinstance(e, (Closed, ConnectionError)):
                print(f"faults: connection error: {e}", file=sys.stderr)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def upstream_or_502(self, method, target, headers, body):
        try:
            return self.forward(method, target, headers, body)
        except (OSError, http.client.HTTPException) as e:
            msg = json.dumps({"__type": "ProxyUpstreamError", "message": str(e)}).encode()
            return 502, [("Content-Type", "application/json")], msg


def watch(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        time.sleep(1)


def parse_kinds(text):
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {bad}; choose from {','.join(KINDS)}")
    return kinds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, required=True, help="0 picks a free port (printed)")
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:4566")
    p.add_argument("--rate", type=float, default=0.2, help="fault probability per request")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", type=parse_kinds, default=list(KINDS),
                   help=f"comma list from {','.join(KINDS)} (default: all)")
    p.add_argument("--latency-ms", type=int, default=300)
    p.add_argument("--only", default="",
                   help="comma list of service[:Action] that random faults may hit "
                        "(e.g. dynamodb:PutItem,elasticloadbalancing); default: all")
    p.add_argument("--log", help="append one JSON line per injected fault")
    p.add_argument("--exit-with", type=int, default=0,
                   help="exit when this process id is gone (test harnesses)")
    args = p.parse_args()
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.exit_with:
        threading.Thread(target=watch, args=(args.exit_with,), daemon=True).start()
    faults = Faults(args)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.listen_host, args.listen_port))
    srv.listen(128)
    port = srv.getsockname()[1]
    print(f"faults proxy on http://{args.listen_host}:{port} -> {args.upstream} "
          f"(rate {args.rate}, seed {args.seed}, kinds {','.join(args.kinds)})", flush=True)
    while True:
        sock, _ = srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=faults.serve_connection, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
