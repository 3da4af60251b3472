"""Minimal HTTP/1.1 message reading and writing for asyncio streams.

Shared by the reference model server and the emulator's data plane (load
balancers, health checks). Content-Length and chunked bodies; keep-alive.
"""
import asyncio

REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 400: "Bad Request",
           404: "Not Found", 424: "Failed Dependency", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


async def read_message(reader, request=True):
    """Returns (start_line, [(name, value)], body) or None at end of stream."""
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):
        line = await reader.readline()
    if not line:
        return None
    start = line.decode("latin-1").rstrip("\r\n")
    headers = []
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    low = {k.lower(): v for k, v in headers}
    body = b""
    if "chunked" in low.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
    elif "content-length" in low:
        body = await reader.readexactly(int(low["content-length"]))
    elif not request:
        status = int(start.split()[1]) if len(start.split()) > 1 else 200
        if status not in (204, 304) and not 100 <= status < 200:
            body = await reader.read()
    return start, headers, body


def header(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def render_response(status, headers, body, close=False):
    out = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}"]
    for k, v in headers:
        if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive"):
            out.append(f"{k}: {v}")
    out.append(f"Content-Length: {len(body)}")
    out.append("Connection: close" if close else "Connection: keep-alive")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


def wants_close(version, headers):
    conn = (header(headers, "connection") or "").lower()
    return conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")


async def request(host, port, method, target, headers, body, timeout=30.0):
    """One request on a fresh connection. Returns (status, headers, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        lines = [f"{method} {target} HTTP/1.1"]
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive"):
                lines.append(f"{k}: {v}")
        if not header(headers, "host"):
            lines.append(f"Host: {host}:{port}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        msg = await asyncio.wait_for(read_message(reader, request=False), timeout)
        if msg is None:
            raise ConnectionError("empty answer")
        start, rheaders, rbody = msg
        return int(start.split()[1]), rheaders, rbody
    finally:
        writer.close()
