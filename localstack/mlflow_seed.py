"""Seed an MLflow model registry through its REST API (test helper).

Standard library only (urllib), so any python3 runs it; the tests use the one
in the MLflow venv made by localstack/mlflow-up.

  mlflow_seed.py --uri http://127.0.0.1:N model --name iris [--tag k=v]...
  mlflow_seed.py --uri URI version --model iris --source s3://m/iris/1 \\
      [--run-id R] [--tag image=repo/iris:v1]... [--description D]
      -> prints the new version number (creates the model if it is missing)
  mlflow_seed.py --uri URI alias --model iris --alias candidate --version 2
  mlflow_seed.py --uri URI alias --model iris --alias candidate --delete
  mlflow_seed.py --uri URI tag --model iris --version 2 --tag k=v [--delete]
  mlflow_seed.py --uri URI get --model iris (--version 2 | --alias candidate)
      -> prints the model_version object as JSON
  mlflow_seed.py --uri URI delete-version --model iris --version 2
  mlflow_seed.py --uri URI delete-model --name iris

--uri defaults to $MLFLOW_TRACKING_URI. An error from the server is printed
to stderr as `HTTP <status> <error_code>: <message>` and exits 1.
"""
import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

API = "/api/2.0/mlflow/"


class ApiError(Exception):
    def __init__(self, status, body):
        self.status = status
        try:
            self.body = json.loads(body)
        except ValueError:
            self.body = {"error_code": "", "message": body}
        super().__init__(f"HTTP {status} {self.body.get('error_code', '')}: "
                         f"{self.body.get('message', '')}")

    @property
    def code(self):
        return self.body.get("error_code", "")


def call(uri, method, endpoint, body=None, query=None):
    url = uri.rstrip("/") + API + endpoint
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise ApiError(e.code, e.read().decode("utf-8", "replace")) from None
    return json.loads(raw) if raw.strip() else {}


def tags(pairs):
    out = []
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"mlflow_seed: --tag wants KEY=VALUE, got {pair!r}")
        out.append({"key": key, "value": value})
    return out


def create_model(uri, name, tag_pairs=(), description=None):
    body = {"name": name, "tags": tags(tag_pairs)}
    if description is not None:
        body["description"] = description
    return call(uri, "POST", "registered-models/create", body)["registered_model"]


def cmd_model(a):
    try:
        create_model(a.uri, a.name, a.tag, a.description)
    except ApiError as e:
        if not (a.exist_ok and e.code == "RESOURCE_ALREADY_EXISTS"):
            raise
    print(a.name)


def cmd_version(a):
    try:
        call(a.uri, "GET", "registered-models/get", query={"name": a.model})
    except ApiError as e:
        if e.code != "RESOURCE_DOES_NOT_EXIST":
            raise
        create_model(a.uri, a.model)
    body = {"name": a.model, "source": a.source, "run_id": a.run_id,
            "tags": tags(a.tag)}
    if a.description is not None:
        body["description"] = a.description
    mv = call(a.uri, "POST", "model-versions/create", body)["model_version"]
    print(mv["version"])


def cmd_alias(a):
    if a.delete:
        call(a.uri, "DELETE", "registered-models/alias",
             {"name": a.model, "alias": a.alias})
    else:
        if a.version is None:
            sys.exit("mlflow_seed: alias needs --version V or --delete")
        call(a.uri, "POST", "registered-models/alias",
             {"name": a.model, "alias": a.alias, "version": str(a.version)})


def cmd_tag(a):
    if a.delete:
        for pair in a.tag:
            call(a.uri, "DELETE", "model-versions/delete-tag",
                 {"name": a.model, "version": str(a.version),
                  "key": pair.partition("=")[0]})
        return
    for t in tags(a.tag):
        call(a.uri, "POST", "model-versions/set-tag",
             {"name": a.model, "version": str(a.version), **t})


def cmd_get(a):
    if (a.version is None) == (a.alias is None):
        sys.exit("mlflow_seed: get needs exactly one of --version, --alias")
    if a.alias is not None:
        out = call(a.uri, "GET", "registered-models/alias",
                   query={"name": a.model, "alias": a.alias})
    else:
        out = call(a.uri, "GET", "model-versions/get",
                   query={"name": a.model, "version": str(a.version)})
    print(json.dumps(out["model_version"], indent=2, sort_keys=True))


def cmd_delete_version(a):
    call(a.uri, "DELETE", "model-versions/delete",
         {"name": a.model, "version": str(a.version)})


def cmd_delete_model(a):
    call(a.uri, "DELETE", "registered-models/delete", {"name": a.name})


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[4:]))
    p.add_argument("--uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                   help="tracking server, e.g. http://127.0.0.1:5000 "
                        "(default: $MLFLOW_TRACKING_URI)")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("model", help="create a registered model")
    s.add_argument("--name", required=True)
    s.add_argument("--tag", action="append", metavar="KEY=VALUE")
    s.add_argument("--description")
    s.add_argument("--exist-ok", action="store_true")
    s.set_defaults(fn=cmd_model)

    s = sub.add_parser("version", help="create a model version; prints its number")
    s.add_argument("--model", required=True)
    s.add_argument("--source", required=True)
    s.add_argument("--run-id", default="")
    s.add_argument("--tag", action="append", metavar="KEY=VALUE")
    s.add_argument("--description")
    s.set_defaults(fn=cmd_version)

    s = sub.add_parser("alias", help="set (or --delete) an alias")
    s.add_argument("--model", required=True)
    s.add_argument("--alias", required=True)
    s.add_argument("--version")
    s.add_argument("--delete", action="store_true")
    s.set_defaults(fn=cmd_alias)

    s = sub.add_parser("tag", help="set (or --delete) model version tags")
    s.add_argument("--model", required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--tag", action="append", required=True, metavar="KEY=VALUE",
                   help="with --delete, KEY alone")
    s.add_argument("--delete", action="store_true", help="delete these keys")
    s.set_defaults(fn=cmd_tag)

    s = sub.add_parser("get", help="print a model version as JSON")
    s.add_argument("--model", required=True)
    s.add_argument("--version")
    s.add_argument("--alias")
    s.set_defaults(fn=cmd_get)

    s = sub.add_parser("delete-version", help="delete a model version")
    s.add_argument("--model", required=True)
    s.add_argument("--version", required=True)
    s.set_defaults(fn=cmd_delete_version)

    s = sub.add_parser("delete-model", help="delete a registered model")
    s.add_argument("--name", required=True)
    s.set_defaults(fn=cmd_delete_model)

    a = p.parse_args(argv)
    if not a.uri:
        p.error("--uri (or MLFLOW_TRACKING_URI) is required")
    try:
        a.fn(a)
    except ApiError as e:
        print(f"mlflow_seed: {e}", file=sys.stderr)
        return 1
    except urllib.error.URLError as e:
        print(f"mlflow_seed: cannot reach {a.uri}: {e.reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
