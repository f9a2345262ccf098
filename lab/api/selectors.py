"""``labelSelector`` and ``fieldSelector`` query strings, parsed into predicates.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``,
``!a``, comma-joined (AND). Field selectors: ``path=value``, ``path==value``,
``path!=value`` over the fields each kind supports, like the real server (which
answers 400 for any other field). And :func:`match_label_selector`, the one matcher in
the API and admission for a metav1.LabelSelector object (``matchLabels`` +
``matchExpressions``); the CNI keeps its own in :mod:`lab.cni.selectors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """A label or field selector string that does not parse (the API answers 400)."""


_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def label_selector(text: str | None) -> Predicate | None:
    if not text or not text.strip():
        return None
    # Callable[..., bool]: each check binds its operands as lambda defaults (k=key), which mypy
    # cannot match against a one-argument Callable; every check is called with the labels only
    checks: list[Callable[..., bool]] = []
    for term in _split_terms(text):
        if m := _SET_RE.match(term):
            key, op, raw = m.group(1), m.group(2), m.group(3)
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := _EQ_RE.match(term):
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m := _EXISTS_RE.match(term):
            neg, key = m.groups()
            if neg:
                checks.append(lambda labels, k=key: k not in labels)
            else:
                checks.append(lambda labels, k=key: k in labels)
        else:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")

    def predicate(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return predicate


_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "pods": _COMMON_FIELDS
    + (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "namespaces": _COMMON_FIELDS + ("status.phase",),
    "services": _COMMON_FIELDS + ("spec.clusterIP", "spec.type"),
}


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return "false" if path == "spec.hostNetwork" else ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_selector(text: str | None, resource: str) -> Predicate | None:
    if not text or not text.strip():
        return None
    allowed = FIELDS.get(resource, _COMMON_FIELDS)
    checks: list[Callable[..., bool]] = []  # called with the object only (see label_selector)
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise SelectorError(f"invalid selector: {term.strip()!r}; can't understand {term.strip()!r}")
        path, op, value = m.groups()
        if path not in allowed:
            raise SelectorError(f"field label not supported: {path}")
        if op == "!=":
            checks.append(lambda o, p=path, v=value: _field_value(o, p) != v)
        else:
            checks.append(lambda o, p=path, v=value: _field_value(o, p) == v)
    return lambda obj: all(check(obj) for check in checks)


def both(*predicates: Predicate | None) -> Predicate:
    active = [p for p in predicates if p is not None]
    return lambda obj: all(p(obj) for p in active)


def match_label_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector dict against labels: matchLabels AND matchExpressions.

    An empty or absent selector matches everything; ``NotIn`` and ``DoesNotExist``
    match labels that lack the key; an unknown operator matches nothing. Admission
    uses this for webhooks' ``namespaceSelector`` / ``objectSelector``.
    """
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or ())
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
            ok = False
        if not ok:
            return False
    return True


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A metav1.LabelSelector as the query-string form (``app=web,tier in (a,b)``), as a
    Scale's ``status.selector`` and ``kubectl get -o wide``'s SELECTOR show it."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), ",".join(sorted(expr.get("values") or ()))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
