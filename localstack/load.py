#!/usr/bin/env python3
"""Steady load for the emulator's data plane (loopback targets only).

  python3 localstack/load.py --url http://127.219.0.1:80/invocations --rate 50 --duration 30 \
      [--header X-Canary:green] [--payload '{"data": [[5.1, 3.5, 1.4, 0.2]]}']
      [--resolve-via 127.0.0.1:4566]

Sends POSTs at a steady rate from a few worker threads; prints one JSON line
per second {"t", "at" (epoch seconds), "ok", "fail", "versions": {...}} (version from the
x-model-version header) and a final summary line {"summary": true, ...}.
Always exits 0 after --duration seconds.

--resolve-via HOST:PORT: the URL's host name is resolved with A queries over
UDP to that DNS server (the emulator's, README fill 10). Each worker is a client
of its own: it caches the answer for its TTL, then asks again, and when the
address changes it closes its keep-alive connection and connects to the new
one; requests carry the name in the Host header. Only loopback answers are
used (anything else counts as a failure, as does a lookup without an answer).
Each line then also has "addrs": {address: ok answers} (the summary too).
"""
import argparse
import collections
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse

from resolve import Resolver, server_addr


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=20.0, help="requests per second")
    p.add_argument("--duration", type=float, default=10.0, help="seconds")
    p.add_argument("--header", action="append", default=[], help="K:V (repeatable)")
    p.add_argument("--payload", default='{"data": [[5.1, 3.5, 1.4, 0.2]]}')
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--resolve-via", default="", metavar="HOST:PORT",
                   help="resolve the URL's host through this DNS server (udp), caching for the TTL")
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    if not a.resolve_via and not (u.hostname or "").startswith("127.") and u.hostname != "localhost":
        p.error("loopback targets only")
    port = u.port or 80
    path = (u.path or "/invocations") + (f"?{u.query}" if u.query else "")
    headers = {"Content-Type": "application/json"}
    if a.resolve_via:
        headers["Host"] = u.hostname + (f":{u.port}" if u.port else "")
    for h in a.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    body = a.payload.encode()
    lock = threading.Lock()
    window, total = collections.Counter(), collections.Counter()
    wversions, tversions = collections.Counter(), collections.Counter()
    waddrs, taddrs = collections.Counter(), collections.Counter()
    jobs = queue.Queue()
    end = time.monotonic() + a.duration

    def worker():
        conn, conn_ip = None, u.hostname
        resolver = Resolver(server_addr(a.resolve_via)) if a.resolve_via else None
        while True:
            item = jobs.get()
            if item is None:
                return
            ip = u.hostname
            try:
                if resolver is not None:
                    ips = resolver.lookup(u.hostname)
                    if not ips or not ips[0].startswith("127."):
                        raise OSError(f"no loopback address for {u.hostname}: {ips}")
                    ip = ips[0]
                    if conn is not None and ip != conn_ip:
                        conn.close()
                        conn = None
                if conn is None:
                    conn = http.client.HTTPConnection(ip, port, timeout=10)
                    conn_ip = ip
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                ok, version = 200 <= r.status < 300, r.getheader("x-model-version")
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                ok, version = False, None
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                key = "ok" if ok else "fail"
                window[key] += 1
                total[key] += 1
                if ok and version:
                    wversions[version] += 1
                    tversions[version] += 1
                if ok and resolver is not None:
                    waddrs[ip] += 1
                    taddrs[ip] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    start = time.monotonic()
    sent, next_report = 0, start + 1.0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * a.rate) + 1
        while sent < due:
            if jobs.qsize() < a.workers * 50:  # do not pile up behind a slow target
                jobs.put(1)
            sent += 1
        if now >= next_report:
            with lock:
                line = {"t": round(now - start), "at": round(time.time(), 3), "ok": window["ok"], "fail": window["fail"],
                        "versions": dict(wversions)}
                if a.resolve_via:
                    line["addrs"] = dict(waddrs)
                print(json.dumps(line), flush=True)
                window.clear()
                wversions.clear()
                waddrs.clear()
            next_report += 1.0
        time.sleep(min(0.01, max(0.0, 1.0 / max(a.rate, 1))))
    while not jobs.empty():
        try:
            jobs.get_nowait()
        except queue.Empty:
            break
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(timeout=12)
    with lock:
        line = {"summary": True, "seconds": round(time.monotonic() - start, 1),
                "ok": total["ok"], "fail": total["fail"], "versions": dict(tversions)}
        if a.resolve_via:
            line["addrs"] = dict(taddrs)
        print(json.dumps(line), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
