#!/usr/bin/env python3
"""The reference model server: what every emulated ECS task and SageMaker
variant runs (also runnable alone).

  GET  /ping         -> 200
  POST /invocations  {"data": [[x1, x2, x3, x4], ...]}
                     -> 200 {"predictions": [n, ...], "version": MODEL_VERSION}
                        and the header x-model-version
Settings (environment of the task / model container):
  MODEL_VERSION  echoed in every answer
  ERROR_RATE     0..1 (default 0): that fraction of /invocations answer 500,
                 from a deterministic sequence seeded per server
  LATENCY_MS     (default 0): added to every answer, /ping included
  OUTPUT_SHIFT   (default 0): added to every prediction
  CONVERSION_RATE 0..1 (default 0): the chance that an /invocations answer
                 converts (a seeded pseudo-random sequence per server). In the
                 emulator every answer counts one App/Invocations and each
                 conversion one App/Conversions (dimension ModelVersion),
                 published every 10 s; alone, the counts are not published.
A prediction is an iris-like rule on the third feature (petal length):
class 0 below 2.45, 1 below 4.75, else 2; plus OUTPUT_SHIFT.

  python3 localstack/model_server.py --host 127.0.0.1 --port 8081
"""
import argparse
import asyncio
import json
import os
import random
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpio import read_message, render_response, wants_close  # noqa: E402


def predict(row, shift):
    x3 = float(row[2])
    cls = 0 if x3 < 2.45 else 1 if x3 < 4.75 else 2
    return cls + int(shift) if float(shift).is_integer() else cls + shift


class Model:
    def __init__(self, env, seed=""):
        env = env or {}
        self.version = str(env.get("MODEL_VERSION", "unknown"))
        self.error_rate = min(max(float(env.get("ERROR_RATE", 0) or 0), 0.0), 1.0)
        self.latency = float(env.get("LATENCY_MS", 0) or 0) / 1000.0
        self.shift = float(env.get("OUTPUT_SHIFT", 0) or 0)
        self.conversion_rate = min(max(float(env.get("CONVERSION_RATE", 0) or 0), 0.0), 1.0)
        self.conversions = random.Random(zlib.crc32(f"conversions/{seed}{self.version}".encode()))
        self.record = None  # record(version, converted) per /invocations answer (the emulator's metrics)
        # Error-diffusion over a seeded random phase: exactly error_rate of the
        # answers fail over any long run, spread pseudo-randomly.
        rng = random.Random(zlib.crc32(f"{seed}{self.version}".encode()))
        self.acc = rng.random()
        self.requests = 0

    def fail_next(self):
        self.acc += self.error_rate
        if self.acc >= 1.0:
            self.acc -= 1.0
            return True
        return False

    def answer(self, method, path, body):
        path = path.split("?")[0]
        vh = [("x-model-version", self.version)]
        if path == "/ping" and method in ("GET", "HEAD"):
            return 200, vh + [("Content-Type", "application/json")], b'{"status": "ok"}'
        if path == "/invocations" and method == "POST":
            self.requests += 1
            converted = self.conversions.random() < self.conversion_rate
            if self.record is not None:
                self.record(self.version, converted)
            try:
                req = json.loads(body or b"null")
                rows = req["data"] if isinstance(req, dict) else req
                preds = [predict(r, self.shift) for r in rows]
            except Exception as e:  # bad JSON or shape
                return 400, vh + [("Content-Type", "application/json")], json.dumps(
                    {"error": f"bad request: {e}", "version": self.version}).encode()
            if self.fail_next():
                return 500, vh + [("Content-Type", "application/json")], json.dumps(
                    {"error": "injected failure (ERROR_RATE)", "version": self.version}).encode()
            return 200, vh + [("Content-Type", "application/json")], json.dumps(
                {"predictions": preds, "version": self.version}).encode()
        return 404, vh + [("Content-Type", "application/json")], b'{"error": "not found"}'


class ModelServer:
    """One model server on an asyncio loop; start()/close() run on that loop."""

    def __init__(self, host, port, env, seed="", record=None):
        self.host, self.port = host, port
        self.model = Model(env, seed or f"{host}:{port}")
        self.model.record = record
        self.server = None
        self.conns = set()

    async def start(self, sock=None, ssl_context=None):
        if sock is not None:
            self.server = await asyncio.start_server(self.handle, sock=sock, ssl=ssl_context)
        else:
            self.server = await asyncio.start_server(self.handle, self.host, self.port,
                                                     reuse_address=True, ssl=ssl_context)
        return self

    async def close(self):
        if self.server is not None:
            self.server.close()
        for w in list(self.conns):
            w.close()

    async def handle(self, reader, writer):
        self.conns.add(writer)
        try:
            while True:
                msg = await read_message(reader)
                if msg is None:
                    break
                start, headers, body = msg
                parts = start.split()
                method, target = parts[0], parts[1] if len(parts) > 1 else "/"
                version = parts[2] if len(parts) > 2 else "HTTP/1.0"
                status, rh, rb = self.model.answer(method, target, body)
                if self.model.latency:
                    await asyncio.sleep(self.model.latency)
                close = wants_close(version, headers)
                writer.write(render_response(status, rh, b"" if method == "HEAD" else rb, close))
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.conns.discard(writer)
            writer.close()


def main():
    p = argparse.ArgumentParser(description="cutover's reference model server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    p.add_argument("--tls-key")
    a = p.parse_args()
    if not a.host.startswith("127."):
        p.error("loopback addresses only")

    async def run():
        tls = None
        if a.tls_cert:
            import ssl
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(a.tls_cert, a.tls_key)
        await ModelServer(a.host, a.port, dict(os.environ)).start(ssl_context=tls)
        scheme = "https" if tls else "http"
        print(f"model server on {scheme}://{a.host}:{a.port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
