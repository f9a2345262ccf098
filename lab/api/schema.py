"""Real Kubernetes schemas, taken from the official ``kubernetes`` client's model classes.

The generated models (``kubernetes.client.V1Pod``...) carry every field's JSON name
(``attribute_map``) and type (``openapi_types``), which is the OpenAPI definition they
were generated from. From them the lab (1) serves OpenAPI v3 components that
``kubectl`` accepts, and (2) decodes request bodies the way the API server does:
wrong types are a 400 naming the field, unknown fields are dropped with a warning, or
refused under ``fieldValidation=Strict``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client.models as models

from lab.api.patch import MERGE_KEYS, MERGED_SCALAR_LISTS, PORT_MERGE_KEYS

_META = {
    "ObjectMeta",
    "ListMeta",
    "OwnerReference",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ManagedFieldsEntry",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
    "Condition",
    "APIResourceList",
    "APIResource",
    "APIGroup",
    "APIGroupList",
    "APIVersions",
    "GroupVersionForDiscovery",
    "ServerAddressByClientCIDR",
    "WatchEvent",
}
_NETWORKING = re.compile(r"^(NetworkPolicy\w*|IPBlock)$")
_APPS = re.compile(
    r"^(Deployment\w*|ReplicaSet\w*|StatefulSet\w*|DaemonSet\w*|ControllerRevision\w*|RollingUpdate\w*)$"
)
_BATCH = re.compile(r"^(Job\w*|CronJob\w*|PodFailurePolicy\w*|SuccessPolicy\w*|UncountedTerminatedPods)$")
_DISCOVERY = re.compile(r"^(EndpointSlice\w*|Endpoint|EndpointConditions|EndpointHints|ForZone|ForNode)$")
_AUTOSCALING = re.compile(r"^Scale(Spec|Status)?$")
_ADMISSION = re.compile(
    r"^(MutatingWebhook\w*|ValidatingWebhook\w*|RuleWithOperations|MatchCondition|"
    r"AdmissionregistrationV1\w+)$"
)
_QUANTITY_MAPS = {"limits", "requests", "capacity", "allocatable", "hard", "used"}
_INT_OR_STRING = {"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"}


def definition_name(model: str) -> str:
    """``V1Pod`` -> ``io.k8s.api.core.v1.Pod`` (the name the real server's OpenAPI uses)."""
    if model.startswith("AdmissionregistrationV1"):
        return "io.k8s.api.admissionregistration.v1." + model[len("AdmissionregistrationV1") :]
    if model.startswith("CoreV1"):
        return "io.k8s.api.core.v1." + model[len("CoreV1") :]
    if model.startswith("DiscoveryV1"):
        return "io.k8s.api.discovery.v1." + model[len("DiscoveryV1") :]
    bare = model[2:] if model.startswith("V1") else model
    if bare in _META:
        return "io.k8s.apimachinery.pkg.apis.meta.v1." + bare
    if _NETWORKING.match(bare):
        return "io.k8s.api.networking.v1." + bare
    if _ADMISSION.match(bare):
        return "io.k8s.api.admissionregistration.v1." + bare
    for pattern, group in (
        (_APPS, "apps"),
        (_BATCH, "batch"),
        (_DISCOVERY, "discovery"),
        (_AUTOSCALING, "autoscaling"),
    ):
        if pattern.match(bare):
            return f"io.k8s.api.{group}.v1.{bare}"
    return "io.k8s.api.core.v1." + bare


@functools.cache
def fields_of(model: str) -> dict[str, str] | None:
    """JSON field name -> python-client type string, or None if ``model`` is not a model."""
    cls = getattr(models, model, None)
    types = getattr(cls, "openapi_types", None)
    if cls is None or not isinstance(types, dict):
        return None
    names = cls.attribute_map
    return {names[attr]: typ for attr, typ in types.items()}


@functools.cache
def _docs(model: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(model description, JSON field -> description, required JSON fields), for `kubectl explain`."""
    cls = getattr(models, model, None)
    names = getattr(cls, "attribute_map", {}) or {}
    descriptions: dict[str, str] = {}
    required: list[str] = []
    for attr, info in (getattr(cls, "model_fields", None) or {}).items():
        if attr not in names:
            continue
        if getattr(info, "description", None):
            descriptions[names[attr]] = info.description
        if info.is_required():
            required.append(names[attr])
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].strip() if cls is not None else ""
    return " ".join(doc.split()), descriptions, tuple(required)


def _inner(typ: str, prefix: str) -> str | None:
    return typ[len(prefix) : -1] if typ.startswith(prefix) and typ.endswith("]") else None


# -- OpenAPI v3 ----------------------------------------------------------------------------
def _type_schema(typ: str, field_name: str, parent: str, refs: set[str]) -> dict[str, Any]:
    if (inner := _inner(typ, "List[")) is not None:
        schema: dict[str, Any] = {"type": "array", "items": _type_schema(inner, "", parent, refs)}
        key = PORT_MERGE_KEYS.get(parent) if field_name == "ports" else MERGE_KEYS.get(field_name)
        if key and fields_of(inner) is not None and key in (fields_of(inner) or {}):
            schema["x-kubernetes-patch-merge-key"] = key
            schema["x-kubernetes-patch-strategy"] = "merge"
        elif field_name in MERGED_SCALAR_LISTS:
            schema["x-kubernetes-patch-strategy"] = "merge"
        return schema
    if (inner := _inner(typ, "Dict[str, ")) is not None:
        return {"type": "object", "additionalProperties": _type_schema(inner, "", parent, refs)}
    if typ == "str":
        return {"type": "string"}
    if typ in ("datetime", "date"):
        return {"type": "string", "format": "date-time"}
    if typ == "bytes":
        return {"type": "string", "format": "byte"}
    if typ == "int":
        return {"type": "integer", "format": "int64"}
    if typ == "float":
        return {"type": "number", "format": "double"}
    if typ == "bool":
        return {"type": "boolean"}
    if typ == "object":
        if field_name in _INT_OR_STRING:
            return {"x-kubernetes-int-or-string": True}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if fields_of(typ) is not None:
        refs.add(typ)
        return {"allOf": [{"$ref": f"#/components/schemas/{definition_name(typ)}"}]}
    return {}


def components(roots: list[str], gvk: dict[str, tuple[str, str, str]]) -> dict[str, Any]:
    """``components.schemas`` for ``roots`` and every model they reach.

    ``gvk`` maps a model name to its (group, version, kind) for
    ``x-kubernetes-group-version-kind``.
    """
    out: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        model = todo.pop()
        name = definition_name(model)
        if name in out:
            continue
        refs: set[str] = set()
        props = {}
        description, field_docs, required = _docs(model)
        for field_name, typ in (fields_of(model) or {}).items():
            props[field_name] = _type_schema(typ, field_name, _parent_hint(model), refs)
            if field_name in field_docs:
                props[field_name]["description"] = field_docs[field_name]
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if description:
            schema["description"] = description
        if required:
            schema["required"] = list(required)
        if model in gvk:
            g, v, k = gvk[model]
            schema["x-kubernetes-group-version-kind"] = [{"group": g, "version": v, "kind": k}]
        out[name] = schema
        todo.extend(refs)
    return out


def _parent_hint(model: str) -> str:
    """The field name a model usually sits under, for merge keys that depend on it."""
    if model in ("V1Container", "V1EphemeralContainer"):
        return "containers"
    if model == "V1ServiceSpec":
        return "spec"
    return ""


# -- decoding ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecodeProblem:
    path: str
    message: str


def decode(model: str, obj: Any) -> tuple[Any, list[str], list[DecodeProblem]]:
    """Check ``obj`` against ``model``: (pruned copy, unknown field paths, type problems)."""
    unknown: list[str] = []
    problems: list[DecodeProblem] = []
    pruned = _decode(model, obj, "", unknown, problems, "")
    return pruned, unknown, problems


_JSON_NAMES = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "float": "number",
    "datetime": "string",
    "date": "string",
    "bytes": "string",
}


def _zero(typ: str) -> Any:
    """What Go's decoder makes of a JSON null inside a list: the element type's zero value."""
    return {"str": "", "int": 0, "bool": False, "float": 0.0}.get(typ, {} if fields_of(typ) is not None else None)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _decode(typ: str, value: Any, path: str, unknown: list[str], problems: list[DecodeProblem], field_name: str) -> Any:
    if value is None:
        return None
    if (inner := _inner(typ, "List[")) is not None:
        if not isinstance(value, list):
            problems.append(DecodeProblem(path, f"expected array, got {_describe(value)}"))
            return value
        return [
            _decode(inner, _zero(inner) if v is None else v, f"{path}[{i}]", unknown, problems, "")
            for i, v in enumerate(value)
        ]
    if (inner := _inner(typ, "Dict[str, ")) is not None:
        if not isinstance(value, dict):
            problems.append(DecodeProblem(path, f"expected object, got {_describe(value)}"))
            return value
        if field_name in _QUANTITY_MAPS and inner == "str":
            inner = "quantity"
        return {k: _decode(inner, v, f"{path}.{k}", unknown, problems, "") for k, v in value.items()}
    if typ == "quantity":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(DecodeProblem(path, f"expected quantity, got {_describe(value)}"))
        return value
    if typ == "object":
        return value
    if typ in _JSON_NAMES:
        ok: Callable[[Any], bool] = {
            "str": lambda v: isinstance(v, str),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(),
            "bool": lambda v: isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        }.get(typ, lambda v: isinstance(v, str))
        if not ok(value):
            problems.append(DecodeProblem(path, f"expected {_JSON_NAMES[typ]}, got {_describe(value)}"))
            return value
        return int(value) if typ == "int" else value
    fields = fields_of(typ)
    if fields is None:
        return value
    if not isinstance(value, dict):
        problems.append(DecodeProblem(path, f"expected object, got {_describe(value)}"))
        return value
    out = {}
    for key, v in value.items():
        if v is None:
            continue
        sub = f"{path}.{key}" if path else key
        ftyp = fields.get(key)
        if ftyp is None:
            unknown.append(sub)
            continue
        decoded = _decode(ftyp, v, sub, unknown, problems, key)
        if decoded is not None:
            out[key] = decoded
    return out
