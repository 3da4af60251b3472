#!/usr/bin/env python3
"""A queries over UDP to one DNS server (the emulator's, fill 10); standard library only.

  python3 localstack/resolve.py iris.example.com --server 127.0.0.1:4566 [--count 2000] [--type A]

Prints one JSON line: {"name", "server", "count", "rcodes": {rcode: n},
"addrs": {ip: n}, "ttls": [distinct TTLs]} over --count fresh queries (no
cache: each query asks the server, as many independent clients would).
Exits 1 when no query got an answer at all.
"""
import argparse
import collections
import json
import socket
import sys
import threading
import time

from route53_dns import A, CNAME, RCODES, build_query, parse_answer

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "ANY": 255}


def server_addr(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port or 53))


def query(name, server, qtype=A, timeout=2.0, tries=2, sock=None):
    """(rcode name, [(ip, ttl)]) for the A records of the answer (CNAMEs followed
    by the server); raises TimeoutError when the server never answers."""
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        for _ in range(tries):
            q = build_query(name, qtype)
            qid = int.from_bytes(q[:2], "big")
            sock.sendto(q, server)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msg, _peer = sock.recvfrom(4096)
                except socket.timeout:
                    break
                ans = parse_answer(msg)
                if ans["id"] != qid:
                    continue
                rows = [(v, ttl) for _n, t, ttl, v in ans["answers"] if t == qtype and t != CNAME]
                return RCODES.get(ans["rcode"], str(ans["rcode"])), rows
        raise TimeoutError(f"no answer from {server[0]}:{server[1]}")
    finally:
        if own:
            sock.close()


class Resolver:
    """A client's stub resolver: caches an answer for its TTL (thread-safe)."""

    def __init__(self, server, timeout=2.0):
        self.server, self.timeout = server, timeout
        self.cache = {}
        self.lock = threading.Lock()

    def lookup(self, name):
        """[ip, ...] (from the cache while its TTL lasts); [] for NXDOMAIN or no
        A record; raises OSError when the server does not answer."""
        with self.lock:
            hit = self.cache.get(name)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        _rcode, rows = query(name, self.server, timeout=self.timeout)
        ips = [ip for ip, _ in rows]
        ttl = min((t for _, t in rows), default=0)
        with self.lock:
            self.cache[name] = (time.monotonic() + ttl, ips)
        return ips


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--server", required=True, help="HOST:PORT of the DNS server (udp)")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--type", default="A", choices=sorted(TYPES))
    p.add_argument("--timeout", type=float, default=2.0)
    a = p.parse_args()
    server = server_addr(a.server)
    rcodes, addrs, ttls = collections.Counter(), collections.Counter(), set()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(a.count):
        try:
            rcode, rows = query(a.name, server, TYPES[a.type], a.timeout, sock=sock)
        except OSError:
            rcodes["TIMEOUT"] += 1
            continue
        rcodes[rcode] += 1
        for ip, ttl in rows:
            addrs[str(ip)] += 1
            ttls.add(ttl)
    print(json.dumps({"name": a.name, "server": a.server, "count": a.count, "rcodes": dict(rcodes),
                      "addrs": dict(addrs), "ttls": sorted(ttls)}))
    sys.exit(0 if sum(v for k, v in rcodes.items() if k != "TIMEOUT") else 1)


if __name__ == "__main__":
    main()
