"""Run a real `mlflow server` for the tests (started by localstack/mlflow-up).

The server (the `mlflow server` CLI and the uvicorn process it spawns) runs in
a process group of its own, led by this wrapper, so that stopping the group
stops everything: localstack/mlflow-down does `kill -- -PGID`, and with
--exit-with PID the wrapper stops the group once that process is gone (a test
binary passes its own pid, as with emulator.py).
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(code):
    """Stop every process of our group (the server and uvicorn), then exit."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.time() + 5
    while time.time() < deadline and group_members():
        try:
            os.waitpid(-1, os.WNOHANG)  # reap the server if it is ours
        except ChildProcessError:
            pass
        time.sleep(0.1)
    for pid in group_members():  # whatever ignored SIGTERM
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(code)


def group_members():
    """Live (not zombie) processes of our process group, except ourselves."""
    me, pgid = os.getpid(), os.getpgrp()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True,
                        help="folder for mlflow.db and artifacts/")
    parser.add_argument("--exit-with", type=int, default=0,
                        help="stop when this process id is gone (test harnesses)")
    args = parser.parse_args()
    try:
        os.setsid()
    except OSError:
        pass  # already a group leader
    data = os.path.abspath(args.data)
    os.makedirs(os.path.join(data, "artifacts"), exist_ok=True)
    env = dict(os.environ)
    # No background job runner (it wants huey and LLM extras), no telemetry
    # (this machine reaches no such host), no Python buffering in the log.
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true",
               PYTHONUNBUFFERED="1")
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    cmd = [mlflow, "server",
           "--host", args.host,
           "--port", str(args.port),
           "--backend-store-uri", "sqlite:///" + os.path.join(data, "mlflow.db"),
           "--default-artifact-root", os.path.join(data, "artifacts"),
           "--workers", "1"]
    child = subprocess.Popen(cmd, env=env, cwd=data, stdin=subprocess.DEVNULL)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop_group(0))
    while True:
        rc = child.poll()
        if rc is not None:
            stop_group(rc if rc >= 0 else 1)
        if args.exit_with and not alive(args.exit_with):
            stop_group(0)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
