"""The three PATCH flavours the API accepts: JSON merge, JSON patch, strategic merge.

Pure functions over plain dicts; each returns a new document and never mutates its
inputs. A patch that cannot apply raises :class:`PatchError` (the API answers 422 or
400 with its message). The strategic merge keys follow the Kubernetes API types
(``x-kubernetes-patch-merge-key``), see :data:`MERGE_KEYS`.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    pass


# field name -> merge key for lists merged element-wise by strategic merge patch (the
# patchMergeKey tags of k8s.io/api); any other list is replaced whole.
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "ownerReferences": "uid", "conditions": "type",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name", "schedulingGates": "name", "readinessGates": "conditionType",
    "secrets": "name",
}
# containerPort for container ports, port for service ports (told apart by the parent)
PORT_MERGE_KEYS = {"containers": "containerPort", "initContainers": "containerPort",
                   "ephemeralContainers": "containerPort", "spec": "port"}
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


# -- JSON patch (RFC 6902) ---------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    idx = int(token)
    if idx > len(container) or (idx == len(container) and not for_add):
        raise PatchError(f"array index {idx} out of bounds")
    return idx


def _walk(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for tok in tokens:
        if isinstance(node, dict):
            if tok not in node:
                raise PatchError(f"path element {tok!r} not found")
            node = node[tok]
        elif isinstance(node, list):
            node = node[_index(node, tok, for_add=False)]
        else:
            raise PatchError(f"cannot descend into a scalar at {tok!r}")
    return node


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, for_add=False))
    raise PatchError("cannot remove from a scalar")


def _add(doc: Any, tokens: list[str], value: Any, *, replace: bool = False) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key {last!r}")
        parent[last] = value
    elif isinstance(parent, list):
        idx = _index(parent, last, for_add=not replace)
        if replace:
            parent[idx] = value
        else:
            parent.insert(idx, value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, tokens = op["op"], _pointer(str(op["path"]))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation without a value")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            if not tokens:
                raise PatchError("cannot remove the whole document")
            _remove(doc, tokens)
        elif kind == "replace":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            source = _pointer(str(op.get("from", "")))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_walk(doc, source))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _walk(doc, tokens) != op["value"]:
                raise PatchError(f"test operation failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


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


def _smp_list(field_name: str, current: Any, patch: list, *, parent: str) -> list:
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
        pos = next((i for i, cur in enumerate(merged)
                    if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if pos is not None:
                merged.pop(pos)
            continue
        if pos is None:
            merged.append(_smp({}, item, parent=field_name))
        else:
            merged[pos] = _smp(merged[pos], item, parent=field_name)
    return merged
