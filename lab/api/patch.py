"""The three PATCH flavours the API accepts: JSON merge, JSON patch, strategic merge.

Pure functions over plain dicts; each returns a new document and never mutates its
inputs. A patch that cannot apply raises :class:`PatchError` (the API answers 422 or
400 with its message). JSON patch is :func:`lab.jsonpatch.apply_json_patch`, the same
code that applies an admission webhook's patch. The strategic merge keys follow the
Kubernetes API types (``x-kubernetes-patch-merge-key``), see :data:`MERGE_KEYS`.
"""

from __future__ import annotations

import copy
from typing import Any

# RFC 6902 JSON patch is the lab's one implementation, shared with admission webhooks;
# its PatchError is the one every flavour here raises.
from lab.jsonpatch import PatchError
from lab.jsonpatch import apply_json_patch as json_patch

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch", "MERGE_KEYS"]


# field name -> merge key for lists merged element-wise by strategic merge patch (the
# patchMergeKey tags of k8s.io/api); any other list is replaced whole.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "readinessGates": "conditionType",
    "secrets": "name",
}
# containerPort for container ports, port for service ports (told apart by the parent)
PORT_MERGE_KEYS = {
    "containers": "containerPort",
    "initContainers": "containerPort",
    "ephemeralContainers": "containerPort",
    "spec": "port",
}
# lists of scalars whose strategy is "merge" (union) rather than replace
MERGED_SCALAR_LISTS = {"finalizers"}


# -- JSON merge patch (RFC 7386) ---------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------
def strategic_merge_patch(target: Any, patch: Any) -> Any:
    return _smp(target, patch, parent="")


def _merge_key(field_name: str, parent: str) -> str | None:
    if field_name == "ports":
        return PORT_MERGE_KEYS.get(parent)
    return MERGE_KEYS.get(field_name)


def _smp(target: Any, patch: Any, *, parent: str) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, list):
            result[key] = _smp_list(key, current, value, parent=parent)
        elif isinstance(value, dict):
            merged = _smp(current, value, parent=key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field_name: str, current: Any, patch: list[Any], *, parent: str) -> list[Any]:
    current = current if isinstance(current, list) else []
    if field_name in MERGED_SCALAR_LISTS:
        merged = list(current)
        merged.extend(v for v in patch if v not in merged)
        return merged
    key = _merge_key(field_name, parent)
    if key is None or not all(isinstance(v, dict) for v in patch):
        if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
            return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
        return copy.deepcopy(patch)
    if any(v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if "$patch" not in v]
    merged = list(current)
    for item in patch:
        if key not in item:
            raise PatchError(f"{field_name}: element {item!r} lacks the merge key {key!r}")
        pos = next((i for i, cur in enumerate(merged) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if pos is not None:
                merged.pop(pos)
            continue
        if pos is None:
            merged.append(_smp({}, item, parent=field_name))
        else:
            merged[pos] = _smp(merged[pos], item, parent=field_name)
    return merged
