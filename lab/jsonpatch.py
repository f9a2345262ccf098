"""RFC 6902 JSON Patch over plain JSON documents: the lab's one implementation.

Two parts of the lab apply JSON patches, as two parts of the real API server do with
one library: the API's ``PATCH`` with ``application/json-patch+json``
(:mod:`lab.api.patch`) and the patch a mutating admission webhook answers
(:mod:`lab.admission`). Both use :func:`apply_json_patch`, so a patch means the same
thing in either place.

A pure function over dicts and lists, importing nothing from the lab: it never mutates
its inputs and raises :class:`PatchError` for any patch that does not apply. What a
caller does with that error is its own business (the API answers 422; admission fails
the webhook call and lets ``failurePolicy`` decide).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


class PatchError(ValueError):
    """A patch that is malformed or does not apply to the document (the message says why)."""


def apply_json_patch(doc: Any, operations: Any) -> Any:
    """Apply add, remove, replace, move, copy and test, in order, to a copy of ``doc``."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation without a value")
        if kind in ("move", "copy") and "from" not in op:
            raise PatchError(f"{kind} operation without a from")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            source = _pointer(op["from"])
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_walk(doc, source))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _walk(doc, tokens) != op["value"]:
                raise PatchError(f"test operation failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _pointer(path: Any) -> list[str]:
    """An RFC 6901 JSON pointer as its unescaped reference tokens (``""`` is the root)."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    """An array index token: digits without a leading zero, or ``-`` (past the end) for add."""
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
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
    """Remove the value at ``tokens`` from ``doc`` in place and return it."""
    if not tokens:
        raise PatchError("cannot remove the whole document")
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
    """Add (or, with ``replace``, overwrite an existing) value; returns the new document."""
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
