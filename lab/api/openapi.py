"""OpenAPI v3 documents: ``/openapi/v3`` and one document per group-version.

``kubectl apply`` reads them to (1) learn that the server supports the
``fieldValidation`` query parameter, so it leaves validation to the server, and (2)
find ``x-kubernetes-patch-merge-key`` for the strategic merge patches it computes. The
schemas are real: generated from the ``kubernetes`` client's models (lab.api.schema).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from lab.api import schema
from lab.api.resources import BY_GROUP_VERSION, SCALABLE, SUBRESOURCES, ResourceType

_EXTRA_MODELS = ("V1Status", "V1DeleteOptions")


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _param(name: str, in_: str = "query", typ: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": in_,
        "schema": {"type": typ},
        "uniqueItems": True,
        **({"required": True} if in_ == "path" else {}),
    }


def _ref(model: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema.definition_name(model)}"}


def _content(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(
    rt: ResourceType,
    action: str,
    verb: str,
    model: str,
    params: list[dict[str, Any]],
    *,
    body: bool = False,
    patch: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{verb}{rt.kind}",
        "tags": [rt.group or "core_v1"],
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": _content(model)}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    }
    if body:
        types = (
            ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"]
            if patch
            else ["*/*"]
        )
        op["requestBody"] = {
            "content": {t: {"schema": _ref(model) if not patch else {"type": "object"}} for t in types},
            "required": True,
        }
    return op


def _paths(rt: ResourceType) -> dict[str, Any]:
    prefix = "/" + _path_key(rt.group, rt.version)
    collection = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    item = f"{collection}/{{name}}"
    scope = [_param("namespace", "path")] if rt.namespaced else []
    writes = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    name = [_param("name", "path")]
    list_params = [_param(p) for p in ("labelSelector", "fieldSelector", "resourceVersion", "continue")] + [
        _param("watch", typ="boolean"),
        _param("limit", typ="integer"),
        _param("timeoutSeconds", typ="integer"),
    ]
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(rt, "list", "list", rt.list_model, list_params),
            "post": _operation(rt, "post", "create", rt.model, writes, body=True),
            "parameters": scope,
        },
        item: {
            "get": _operation(rt, "get", "read", rt.model, []),
            "put": _operation(rt, "put", "replace", rt.model, writes, body=True),
            "patch": _operation(
                rt, "patch", "patch", rt.model, writes + [_param("force", typ="boolean")], body=True, patch=True
            ),
            "delete": _operation(
                rt,
                "delete",
                "delete",
                "V1Status",
                [_param("dryRun"), _param("propagationPolicy"), _param("gracePeriodSeconds", typ="integer")],
            ),
            "parameters": name + scope,
        },
    }
    for sub, (_, other_kind) in SUBRESOURCES.get(rt.key, {}).items():
        if sub == "log":
            continue
        model = "V1" + other_kind.rsplit("/", 1)[1] if other_kind else rt.model
        paths[f"{item}/{sub}"] = {
            "get": _operation(rt, "get", "read", model, []),
            "put": _operation(rt, "put", "replace", model, writes, body=True),
            "patch": _operation(rt, "patch", "patch", model, writes, body=True, patch=True),
            "parameters": name + scope,
        }
    if rt.key == "pods":
        paths[f"{item}/log"] = {
            "get": {
                "operationId": "readPodLog",
                "parameters": [
                    _param("container"),
                    _param("follow", typ="boolean"),
                    _param("tailLines", typ="integer"),
                    _param("limitBytes", typ="integer"),
                    _param("timestamps", typ="boolean"),
                ],
                "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}},
                "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Pod"},
            },
            "parameters": name + scope,
        }
    return paths


@functools.cache
def group_version_document(group: str, version: str) -> bytes | None:
    """The serialized document for one group-version (cached: it never changes at runtime)."""
    types = BY_GROUP_VERSION.get((group, version))
    if types is None:
        return None
    paths: dict[str, Any] = {}
    roots: list[str] = list(_EXTRA_MODELS)
    gvk: dict[str, tuple[str, str, str]] = {}
    for rt in types.values():
        paths.update(_paths(rt))
        roots += [rt.model, rt.list_model]
        if rt.key in SCALABLE:
            roots.append("V1Scale")
            gvk["V1Scale"] = ("autoscaling", "v1", "Scale")
        gvk[rt.model] = (rt.group, rt.version, rt.kind)
        gvk[rt.list_model] = (rt.group, rt.version, rt.kind + "List")
    gvk["V1Status"] = ("", "v1", "Status")
    gvk["V1DeleteOptions"] = (group, version, "DeleteOptions")
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubereach lab)", "version": "v1.37.0"},
        "paths": paths,
        "components": {
            "schemas": schema.components(roots, gvk),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1)
def root_document() -> dict[str, Any]:
    paths = {}
    for group, version in BY_GROUP_VERSION:
        raw = group_version_document(group, version) or b""
        digest = hashlib.sha512(raw).hexdigest()[:128].upper()
        key = _path_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


# -- /openapi/v2 -------------------------------------------------------------------------------
# kubectl validates a ``kind: List`` on the client (its server-side check never supports
# that pseudo-kind), from the OpenAPI v2 document, which it only reads as gnostic
# protobuf. The lab serves a v2 document with no definitions: kubectl then skips the
# client-side check for the items ("not registered: assume fine") and sends each with
# ``fieldValidation=Strict``, so the server still validates every item against the v3
# schemas. Field numbers: gnostic openapi_v2 ``Document`` (swagger 1, info 2) and
# ``Info`` (title 1, version 2).
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # as the API server
# labels it (the Accept header's "@v1.0" form is not a valid media type for Go's mime parser)


def _pb_string(field: int, text: str) -> bytes:
    return _pb_bytes(field, text.encode())


def _pb_bytes(field: int, data: bytes) -> bytes:
    out = bytearray([(field << 3) | 2])
    n = len(data)
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + data


@functools.lru_cache(maxsize=1)
def v2_document() -> bytes:
    info = _pb_string(1, "Kubernetes (kubereach lab)") + _pb_string(2, "v1.37.0")
    return _pb_string(1, "2.0") + _pb_bytes(2, info)
