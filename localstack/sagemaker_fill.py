"""SageMaker gap fills for moto 5.2.5 (see localstack/README.md, fill 4).

Mirrors AWS's documented behaviour:
  * CreateEndpoint / UpdateEndpoint: status Creating/Updating, then InService
    after EMU_SAGEMAKER_UPDATE_SECONDS; UpdateEndpoint swaps in the new
    endpoint config's variants only then (moto has no UpdateEndpoint).
  * A variant weight of 0 is kept as 0.0 (moto drops falsy weights -> null).
  * UpdateEndpointWeightsAndCapacities keeps the fields a variant entry does
    not name (moto wipes them).
  * UpdateModelPackage merges CustomerMetadataProperties, removes
    CustomerMetadataPropertiesToRemove, and keeps the approval status and
    description it does not name (moto replaces the properties, clears the
    status and fails on a remove-only call).
  * ShadowProductionVariants and DataCaptureConfig in endpoints (fill 13,
    shadow.py): kept, validated, listed by DescribeEndpoint.
Test hooks:
  * POST /_emulator/sagemaker/fail-next-update/<endpoint> makes that
    endpoint's next UpdateEndpoint roll back silently (AWS keeps the old
    config, reports InService); without /<endpoint>, the next UpdateEndpoint
    of any.
  * POST /_emulator/sagemaker/hold-updating/<endpoint>?seconds=N: that
    endpoint's next UpdateEndpointWeightsAndCapacities (or UpdateEndpoint)
    leaves it Updating for N seconds (no seconds: until
    POST /_emulator/sagemaker/release/<endpoint>). Meanwhile DesiredWeight /
    DesiredInstanceCount show the request, CurrentWeight / CurrentInstanceCount
    (and so InvokeEndpoint's split) keep the old values, and a further update
    is AWS's ValidationException "Cannot update in-progress endpoint"; then
    Current takes Desired and the endpoint is InService. Without a hold,
    weight updates stay instant.
"""
import datetime
import json
import time
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID

import shadow


def backend(region):
    from moto.sagemaker.models import sagemaker_backends
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][region]


def variants_from_config(config, key="ProductionVariants"):
    out = []
    for v in config.get(key) or []:
        w = float(v.get("InitialVariantWeight", 1.0) if v.get("InitialVariantWeight") is not None else 1.0)
        n = v.get("InitialInstanceCount") or 1
        out.append({"VariantName": v["VariantName"], "CurrentWeight": w, "DesiredWeight": w,
                    "CurrentInstanceCount": n, "DesiredInstanceCount": n})
    return out


def json_response(data, status=200):
    return status, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(data).encode()


def error(code, message, status=400):
    return json_response({"__type": code, "message": message}, status)


class SageMakerFill:
    def __init__(self, emu):
        self.emu = emu
        self.pending = {}  # (region, endpoint) -> (due, config name or None)
        self.fail_next_update = set()  # endpoint names; "*" for any
        self.hold_next = {}  # endpoint name -> seconds (None: until release) for its next update
        self.held = set()  # (region, endpoint) whose pending update is a hold
        self.weights_before = None  # (region, endpoint, {variant: (weight, count)}) of a held weight update

    def hook(self, path, query=""):
        prefix = "/_emulator/sagemaker/fail-next-update"
        if path == prefix or path.startswith(prefix + "/"):
            self.fail_next_update.add(path[len(prefix) + 1:] or "*")
            return True
        if path.startswith("/_emulator/sagemaker/hold-updating/"):
            seconds = parse_qs(query).get("seconds")
            self.hold_next[path.split("/", 4)[4]] = float(seconds[0]) if seconds else None
            return True
        if path.startswith("/_emulator/sagemaker/release/"):
            name = path.split("/", 4)[4]
            self.hold_next.pop(name, None)
            for key in list(self.pending):
                if key[1] == name and key in self.held:
                    self.pending[key] = (0,) + self.pending[key][1:]
            self.advance(None)
            return True
        return False

    def hold_due(self, name):
        """When an update of `name` ends: a hold's N seconds (or never, until
        release) if one is armed, else None."""
        if name not in self.hold_next:
            return None
        seconds = self.hold_next.pop(name)
        return float("inf") if seconds is None else time.time() + seconds

    def advance(self, region):
        now = time.time()
        for key, (due, config_name, fail) in list(self.pending.items()):
            if due > now:
                continue
            del self.pending[key]
            held = key in self.held
            self.held.discard(key)
            reg, name = key
            be = backend(reg)
            ep = be.endpoints.get(name)
            if ep is None:
                continue
            if config_name and not fail:
                cfg = be.endpoint_configs[config_name].response_object
                ep.endpoint_config_name = config_name
                ep.production_variants = variants_from_config(cfg)
                ep.shadow_production_variants = variants_from_config(cfg, "ShadowProductionVariants")
                ep.data_capture_config = cfg.get("DataCaptureConfig") or {}
            elif held and not config_name:  # a held weight update lands
                for v in ep.production_variants:
                    v["CurrentWeight"] = v.get("DesiredWeight")
                    v["CurrentInstanceCount"] = v.get("DesiredInstanceCount")
            ep.endpoint_status = "InService"
            ep.last_modified_time = datetime.datetime.now(datetime.timezone.utc).isoformat()

    def update_model_package(self, body, region):
        req = json.loads(body or b"{}")
        be = backend(region)
        arn = req.get("ModelPackageArn", "")
        pkg = be.model_packages.get(be.model_package_name_mapping.get(arn, arn))
        if pkg is None:
            return error("ValidationException", f"Model package {arn} not found")
        props = dict(pkg.customer_metadata_properties or {})
        props.update(req.get("CustomerMetadataProperties") or {})
        for key in req.get("CustomerMetadataPropertiesToRemove") or []:
            props.pop(key, None)
        pkg.customer_metadata_properties = props
        if req.get("ModelApprovalStatus"):
            pkg.set_model_approval_status(req["ModelApprovalStatus"])
        if "ApprovalDescription" in req:
            pkg.approval_description = req["ApprovalDescription"]
        pkg.modifications_done()
        return json_response({"ModelPackageArn": pkg.arn})

    def before(self, environ, body, action, region):
        if action == "UpdateModelPackage":
            return self.update_model_package(body, region)
        if action == "CreateEndpointConfig":  # fill 13: ShadowProductionVariants
            msg = shadow.config_error(json.loads(body or b"{}"), backend(region), region)
            return error("ValidationException", msg) if msg else None
        if action == "UpdateEndpointWeightsAndCapacities":
            return self.before_weights(body, region)
        if action != "UpdateEndpoint":
            return None
        req = json.loads(body or b"{}")
        be = backend(region)
        name, config_name = req.get("EndpointName"), req.get("EndpointConfigName")
        ep = be.endpoints.get(name)
        if ep is None:
            return error("ValidationException", f"Could not find endpoint \"{name}\".")
        if config_name not in be.endpoint_configs:
            return error("ValidationException", f"Could not find endpoint configuration \"{config_name}\".")
        if ep.endpoint_status != "InService":
            return error("ValidationException",
                         f"Cannot update in-progress endpoint \"{ep.arn}\".")
        ep.endpoint_status = "Updating"
        fail = False
        for k in (name, "*"):
            if k in self.fail_next_update:
                self.fail_next_update.discard(k)
                fail = True
                break
        due = self.hold_due(name)
        if due is not None:
            self.held.add((region, name))
        self.pending[(region, name)] = (time.time() + self.emu.sm_update_seconds if due is None else due,
                                       config_name, fail)
        return json_response({"EndpointArn": ep.arn})

    def before_weights(self, body, region):
        """A held endpoint refuses the update; with a hold armed, remember the
        current values so after() can keep them while the update is held."""
        self.weights_before = None
        name = json.loads(body or b"{}").get("EndpointName")
        ep = backend(region).endpoints.get(name)
        if ep is None:
            return None
        if (region, name) in self.held:
            return error("ValidationException", f"Cannot update in-progress endpoint \"{ep.arn}\".")
        if name in self.hold_next:
            self.weights_before = (region, name, {
                v["VariantName"]: (v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
                for v in ep.production_variants})
        return None

    def hold_weights(self, region):
        """After moto applied a weight update (Current = Desired at once): with a
        hold armed, put the old Current values back and stay Updating."""
        if not self.weights_before or self.weights_before[0] != region:
            return
        _, name, before = self.weights_before
        self.weights_before = None
        ep = backend(region).endpoints.get(name)
        due = self.hold_due(name)
        if ep is None or due is None:
            return
        for v in ep.production_variants:
            if v["VariantName"] in before:
                v["CurrentWeight"], v["CurrentInstanceCount"] = before[v["VariantName"]]
        ep.endpoint_status = "Updating"
        self.held.add((region, name))
        self.pending[(region, name)] = (due, None, False)

    def rewrite_request(self, action, body, region):
        if action != "UpdateEndpointWeightsAndCapacities":
            return body
        req = json.loads(body or b"{}")
        ep = backend(region).endpoints.get(req.get("EndpointName"))
        if ep is None:
            return body
        current = {v["VariantName"]: v for v in ep.production_variants}
        for entry in req.get("DesiredWeightsAndCapacities", []):
            cur = current.get(entry.get("VariantName"), {})
            if "DesiredWeight" not in entry and cur.get("DesiredWeight") is not None:
                entry["DesiredWeight"] = cur["DesiredWeight"]
            if "DesiredInstanceCount" not in entry and cur.get("DesiredInstanceCount") is not None:
                entry["DesiredInstanceCount"] = cur["DesiredInstanceCount"]
        return json.dumps(req).encode()

    def after(self, action, body, out, region):
        if action == "UpdateEndpointWeightsAndCapacities":
            self.hold_weights(region)
        if action == "CreateEndpointConfig":
            shadow.attach_config(backend(region), json.loads(body or b"{}"))
        if action == "CreateEndpoint":
            req = json.loads(body or b"{}")
            be = backend(region)
            ep = be.endpoints.get(req.get("EndpointName"))
            if ep is not None:
                cfg = be.endpoint_configs[ep.endpoint_config_name].response_object
                ep.production_variants = variants_from_config(cfg)
                ep.shadow_production_variants = variants_from_config(cfg, "ShadowProductionVariants")
                ep.endpoint_status = "Creating"
                self.pending[(region, ep.endpoint_name)] = (
                    time.time() + self.emu.sm_update_seconds, None, False)
        if action == "DescribeEndpoint":
            data = json.loads(out or b"{}")
            ep = backend(region).endpoints.get(data.get("EndpointName"))
            stored = {v["VariantName"]: v for v in (ep.production_variants if ep else [])}
            for v in data.get("ProductionVariants", []):
                s = stored.get(v.get("VariantName"), {})
                for field in ("CurrentWeight", "DesiredWeight"):
                    if v.get(field) is None:
                        v[field] = float(s.get(field) or 0.0)
            return json.dumps(shadow.describe_endpoint(data, ep, backend(region))).encode()
        return out
