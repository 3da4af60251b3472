"""Route 53's data plane (README fill 10): a DNS server for the hosted zones.

The emulator on 127.0.0.1:N answers DNS on udp/127.0.0.1:N, as Route 53's name
servers do for its public hosted zones:

  - simple records: every value of the record set, with its TTL;
  - weighted records (same name and type, distinct SetIdentifier, Weight
    0..255): one record set per query, with probability weight / sum; zero
    weights only when no record with a weight > 0 is healthy; all zero ->
    equally likely;
  - alias records: the target's A address. The emulator's load balancers have
    a loopback IPv4 DNSName (dataplane.py), so that address is the answer; an
    alias to a name in a hosted zone is followed there. TTL: --dns-ttl
    (default 5; Route 53 uses 60 for an alias to a load balancer);
  - EvaluateTargetHealth: an ALB is healthy when each target group its
    listeners forward to has a healthy target (a group without targets is
    unhealthy); unhealthy records are left out while another record of the set
    is healthy, and when none is, all are considered healthy;
  - CNAME: returned and followed inside the hosted zones;
  - NXDOMAIN for a name of a zone with no record (SOA in the authority
    section), REFUSED outside every zone, NOERROR and no answer for a name
    without an A record or another query type.

Changes propagate: ChangeResourceRecordSets answers a change id of its own with
Status PENDING; DNS answers change and GetChange says INSYNC only --dns-delay
seconds later (default 1; Route 53 usually within 60 s). ListResourceRecordSets
shows the change at once, as on AWS.

The wire codec (build_query, parse_answer) needs only the standard library, so
load.py and resolve.py import it without moto.
"""
import ipaddress
import random
import re
import secrets
import socket
import struct
import threading
import time

A, NS, CNAME, SOA = 1, 2, 5, 6
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# ---- wire format (RFC 1035) ------------------------------------------------------
def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("latin-1", "replace")[:63]
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def decode_name(msg, off):
    """(name, offset after the name); follows compression pointers."""
    labels, end, hops = [], None, 0
    while True:
        if off >= len(msg):
            raise ValueError("name past the end")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg) or hops > 20:
                raise ValueError("bad pointer")
            if end is None:
                end = off + 2
            off, hops = ((n & 0x3F) << 8) | msg[off + 1], hops + 1
            continue
        if n == 0:
            return ".".join(labels) + ".", (end if end is not None else off + 1)
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n


def build_query(name, qtype=A, qid=None):
    qid = secrets.randbelow(65536) if qid is None else qid
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", qtype, 1)


def parse_answer(msg):
    """{"id", "rcode", "answers": [(name, type, ttl, value)]}; A values as dotted quads,
    CNAME values as names."""
    qid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = decode_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        name, off = decode_name(msg, off)
        rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == A and rdlen == 4:
            value = socket.inet_ntoa(rdata)
        elif rtype == CNAME:
            value = decode_name(msg, off)[0]
        else:
            value = rdata
        answers.append((name, rtype, ttl, value))
        off += rdlen
    return {"id": qid, "rcode": flags & 0xF, "answers": answers}


def rr(rtype, ttl, rdata, name_ptr=b"\xc0\x0c"):
    return name_ptr + struct.pack(">HHIH", rtype, 1, max(0, int(ttl)), len(rdata)) + rdata


def soa_rdata(value):
    parts = value.split()
    nums = [int(x) for x in parts[2:7]]
    return encode_name(parts[0]) + encode_name(parts[1]) + struct.pack(">IIIII", *nums), nums[4]


# ---- the control plane's operation names (REST: method + path) ------------------------------
ROUTE53_OPS = [(m, re.compile(r"^/2013-04-01/" + p + r"/?$"), op) for m, p, op in (
    ("POST", r"hostedzone", "CreateHostedZone"), ("GET", r"hostedzone", "ListHostedZones"),
    ("GET", r"hostedzonesbyname", "ListHostedZonesByName"), ("GET", r"hostedzonecount", "GetHostedZoneCount"),
    ("GET", r"hostedzone/[^/]+", "GetHostedZone"), ("DELETE", r"hostedzone/[^/]+", "DeleteHostedZone"),
    ("POST", r"hostedzone/[^/]+", "UpdateHostedZoneComment"),
    ("POST", r"hostedzone/[^/]+/rrset", "ChangeResourceRecordSets"),
    ("GET", r"hostedzone/[^/]+/rrset", "ListResourceRecordSets"), ("GET", r"change/[^/]+", "GetChange"),
    ("POST", r"healthcheck", "CreateHealthCheck"), ("GET", r"healthcheck", "ListHealthChecks"),
    ("GET", r"healthcheck/[^/]+", "GetHealthCheck"), ("DELETE", r"healthcheck/[^/]+", "DeleteHealthCheck"),
    ("GET", r"tags/hostedzone/[^/]+", "ListTagsForResource"),
    ("POST", r"tags/hostedzone/[^/]+", "ChangeTagsForResource"))]


def route53_action(environ):
    """The operation name of a Route 53 REST request (for /_emulator/requests), or None."""
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
    for m, rx, op in ROUTE53_OPS:
        if m == method and rx.match(path):
            return op
    return None


# ---- the zones ------------------------------------------------------------------------------
def norm(name):
    return str(name or "").strip().lower().rstrip(".") + "."


def route53_backend():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.route53.models import route53_backends
    return route53_backends[DEFAULT_ACCOUNT_ID]["aws"]


def snapshot(zone):
    out = []
    for r in list(zone.rrsets):
        alias = r.alias_target or None
        out.append({
            "name": norm(r.name).replace("\\052", "*"), "type": str(r.type or "").upper(),
            "ttl": int(r.ttl) if str(r.ttl or "").strip().isdigit() else 300,
            "values": [v if isinstance(v, str) else v.get("Value", "") for v in (r.records or [])],
            "set_id": r.set_identifier, "weight": None if r.weight is None else int(r.weight),
            "alias": None if not alias else {
                "dns": norm(alias.get("DNSName")),
                "evaluate": str(alias.get("EvaluateTargetHealth", False)).lower() == "true"},
        })
    return tuple(sorted(out, key=lambda x: (x["name"], x["type"], str(x["set_id"]))))


class Route53Fill:
    """Versioned view of the hosted zones (what the name servers answer) and
    change ids with PENDING -> INSYNC. Mutated under emu.lock; the DNS thread
    only reads self.zones, which is replaced, never changed in place."""

    CHANGE_PATH = re.compile(r"/change/([A-Za-z0-9]+)/?$")

    def __init__(self, emu, delay=1.0, ttl=5):
        self.emu, self.delay, self.ttl = emu, float(delay), int(ttl)
        self.zones = {}    # zone id -> {"name", "versions": [(visible_at, records)]}
        self.changes = {}  # change id -> {"submitted", "insync_at"}
        self.rng = random.Random()
        self.queries = 0

    # -- control plane (lock held) --
    def after(self, environ, status, headers, out):
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if status >= 300:
            return status, headers, out
        if method == "GET":
            m = self.CHANGE_PATH.search(path)
            change = self.changes.get(m.group(1)) if m else None
            if change:
                state = "INSYNC" if time.time() >= change["insync_at"] else "PENDING"
                out = re.sub(rb"<Id>[^<]*</Id>", f"<Id>/change/{m.group(1)}</Id>".encode(), out, count=1)
                out = re.sub(rb"<Status>[A-Z]+</Status>", f"<Status>{state}</Status>".encode(), out, count=1)
                out = re.sub(rb"<SubmittedAt>[^<]*</SubmittedAt>",
                             f"<SubmittedAt>{iso(change['submitted'])}</SubmittedAt>".encode(), out, count=1)
            return status, headers, out
        changed = self.rebuild()
        if path.rstrip("/").endswith("/rrset") and method == "POST":
            now = time.time()
            cid = "C" + "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(20))
            self.changes[cid] = {"submitted": now, "insync_at": now + (self.delay if changed else 0)}
            if len(self.changes) > 10000:
                for k in list(self.changes)[:5000]:
                    del self.changes[k]
            state = "INSYNC" if self.changes[cid]["insync_at"] <= now else "PENDING"
            out = re.sub(rb"<Id>/change/[^<]*</Id>", f"<Id>/change/{cid}</Id>".encode(), out, count=1)
            out = re.sub(rb"<Status>[A-Z]+</Status>", f"<Status>{state}</Status>".encode(), out, count=1)
        return status, headers, out

    def rebuild(self):
        """Caller holds emu.lock. New zones are visible at once; a changed zone
        gets a version visible after the delay. True if some zone changed."""
        now, changed, zones = time.time(), False, {}
        for zid, zone in list(route53_backend().zones.items()):
            snap = snapshot(zone)
            old = self.zones.get(zid)
            if old is None:
                zones[zid] = {"name": norm(zone.name), "versions": [(0.0, snap)]}
                continue
            versions = list(old["versions"])
            if versions[-1][1] != snap:
                versions.append((now + self.delay, snap))
                changed = True
            live = [i for i, (at, _) in enumerate(versions) if at <= now]
            if live:
                versions = versions[live[-1]:]
            zones[zid] = {"name": old["name"], "versions": versions}
        self.zones = zones
        return changed

    # -- data plane (DNS thread, no lock) --
    def visible(self):
        now, out = time.time(), []
        for zone in list(self.zones.values()):
            records = zone["versions"][0][1]
            for at, snap in zone["versions"]:
                if at <= now:
                    records = snap
            out.append((zone["name"], records))
        return out

    def answer(self, qname, qtype):
        """(rcode, [answer rr bytes], [authority rr bytes])."""
        name = norm(qname)
        zones = [(z, recs) for z, recs in self.visible() if name == z or name.endswith("." + z)]
        if not zones:
            return REFUSED, [], []
        zname, records = max(zones, key=lambda x: len(x[0]))
        soa = [r for r in records if r["type"] == "SOA" and r["name"] == zname]
        authority = []
        if soa and soa[0]["values"]:
            try:
                rdata, minimum = soa_rdata(soa[0]["values"][0])
                authority = [rr(SOA, min(soa[0]["ttl"], minimum), rdata, encode_name(zname))]
            except (ValueError, IndexError):
                pass
        own = self.records_for(records, name)
        if not own and not any(r["name"].endswith("." + name) for r in records):
            return NXDOMAIN, [], authority
        if qtype != A:
            return NOERROR, [], authority
        answers = []
        self.resolve(records, name, own, answers, b"\xc0\x0c", depth=0)
        return NOERROR, [rr(*a[1:], name_ptr=a[0]) for a in answers], ([] if answers else authority)

    @staticmethod
    def records_for(records, name):
        own = [r for r in records if r["name"] == name]
        if not own:  # wildcard: *.zone covers names without records of their own
            parts = name.split(".", 1)
            while len(parts) == 2 and parts[1]:
                own = [r for r in records if r["name"] == "*." + parts[1]]
                if own:
                    break
                parts = parts[1].split(".", 1)
        return own

    def resolve(self, records, name, own, answers, owner, depth):
        if depth > 8:
            return
        cname = [r for r in own if r["type"] == "CNAME"]
        if cname and cname[0]["values"]:
            target = norm(cname[0]["values"][0])
            answers.append((owner, CNAME, cname[0]["ttl"], encode_name(target)))
            self.follow(target, answers, depth + 1)
            return
        chosen = self.choose([r for r in own if r["type"] == "A"], depth)
        if chosen is None:
            return
        if chosen["alias"]:
            for ip in self.alias_addresses(chosen["alias"]["dns"], depth):
                answers.append((owner, A, self.ttl, socket.inet_aton(ip)))
        else:
            for v in chosen["values"]:
                try:
                    answers.append((owner, A, chosen["ttl"], socket.inet_aton(str(ipaddress.IPv4Address(v.strip())))))
                except ValueError:
                    pass

    def follow(self, target, answers, depth):
        for zname, records in self.visible():
            if target == zname or target.endswith("." + zname):
                own = self.records_for(records, target)
                self.resolve(records, target, own, answers, encode_name(target), depth)
                return

    def choose(self, rrsets, depth):
        """One record set: simple, or weighted by Route 53's rules."""
        if not rrsets:
            return None
        if len(rrsets) == 1 and rrsets[0]["set_id"] is None:
            return rrsets[0]
        healthy = [r for r in rrsets if self.healthy(r, depth)] or rrsets
        weighted = [r for r in healthy if (r["weight"] or 0) > 0]
        if weighted:
            x = self.rng.random() * sum(r["weight"] for r in weighted)
            for r in weighted:
                x -= r["weight"]
                if x < 0:
                    return r
            return weighted[-1]
        return self.rng.choice(healthy)

    def healthy(self, record, depth):
        alias = record["alias"]
        if not alias or not alias["evaluate"]:
            return True
        lb = self.load_balancer(alias["dns"])
        if lb is not None:
            return self.lb_healthy(lb)
        return bool(self.alias_addresses(alias["dns"], depth))

    def alias_addresses(self, dns, depth):
        host = dns.rstrip(".")
        for h in (host, host[len("dualstack."):] if host.startswith("dualstack.") else None):
            if h:
                try:
                    return [str(ipaddress.IPv4Address(h))]
                except ValueError:
                    pass
        lb = self.load_balancer(dns)
        if lb is not None:
            return [lb[1]]
        answers = []
        self.follow(dns, answers, depth + 1)
        return [socket.inet_ntoa(a[3]) for a in answers if a[1] == A]

    def load_balancer(self, dns):
        """(arn, ip) of the emulator's load balancer with this DNSName, or None."""
        host = dns.rstrip(".")
        if host.startswith("dualstack."):
            host = host[len("dualstack."):]
        dp = getattr(self.emu, "dp", None)
        for arn, ip in list(getattr(dp, "lb_ips", {}).items()):
            if str(ip).lower() == host:
                return arn, ip
        return None

    def lb_healthy(self, lb):
        dp = self.emu.dp
        groups = set()
        for route in list(dp.routes.values()):
            if route.get("lb_arn") != lb[0]:
                continue
            for _conds, actions in route["rules"]:
                for a in actions:
                    if a.get("Type") != "forward":
                        continue
                    if a.get("TargetGroupArn"):
                        groups.add(a["TargetGroupArn"])
                    for t in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
                        if t.get("TargetGroupArn"):
                            groups.add(t["TargetGroupArn"])
        if not groups:
            return False
        snap = dp.tg_snap
        for arn in groups:
            tg = snap.get(arn)
            if tg is None or not any((dp.health.get((arn, tid)) or {}).get("state") == "healthy"
                                     for tid, _port in tg["targets"]):
                return False
        return True

    # -- the server --
    def serve(self, host, port):
        """Binds udp host:port and answers from a thread; returns the error text or None."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            return f"dns: cannot bind udp {host}:{port}: {e}"
        threading.Thread(target=self.loop, args=(sock,), name="dns", daemon=True).start()
        return None

    def loop(self, sock):
        while True:
            try:
                msg, peer = sock.recvfrom(4096)
            except OSError:
                continue
            try:
                out = self.handle(msg)
            except Exception:  # never let one query stop the server
                out = error_reply(msg, SERVFAIL)
            if out:
                try:
                    sock.sendto(out, peer)
                except OSError:
                    pass

    def handle(self, msg):
        if len(msg) < 12:
            return None
        qid, flags, qd = struct.unpack(">HHH", msg[:6])
        if flags & 0x8000:
            return None  # a response, not a query
        opcode = (flags >> 11) & 0xF
        if opcode != 0:
            return error_reply(msg, NOTIMP)
        if qd != 1:
            return error_reply(msg, FORMERR)
        try:
            qname, off = decode_name(msg, 12)
            qtype, qclass = struct.unpack(">HH", msg[off:off + 4])
        except (ValueError, struct.error):
            return error_reply(msg, FORMERR)
        question = encode_name(qname) + msg[off:off + 4]  # uncompressed, so 0xC00C points at it
        self.queries += 1
        if qclass != 1:
            rcode, answers, authority = REFUSED, [], []
        else:
            rcode, answers, authority = self.answer(qname, qtype)
        aa = 0x0400 if rcode != REFUSED else 0
        out_flags = 0x8000 | aa | (flags & 0x0100) | rcode
        return struct.pack(">HHHHHH", qid, out_flags, 1, len(answers), len(authority), 0) + \
            question + b"".join(answers) + b"".join(authority)


def error_reply(msg, rcode):
    if len(msg) < 12:
        return None
    qid, flags = struct.unpack(">HH", msg[:4])
    return struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x7900) | rcode, 0, 0, 0, 0)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
