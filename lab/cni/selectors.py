"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``), for the lab CNI.

Semantics from the Kubernetes API reference: all requirements are AND-ed; an empty
selector ``{}`` selects everything; ``NotIn`` and ``DoesNotExist`` match objects that
lack the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SelectorError(ValueError):
    """A selector the lab cannot interpret (the message names the operator)."""


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy ``selector``; ``{}`` (and None) select everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key")
        op = expr.get("operator")
        values = [str(v) for v in (expr.get("values") or [])]
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        elif op == "DoesNotExist":
            ok = not present
        else:
            raise SelectorError(f"unknown label selector operator {op!r} for key {key!r}")
        if not ok:
            return False
    return True
