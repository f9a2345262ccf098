"""Label selectors (``matchLabels`` + ``matchExpressions``), validated and compiled.

Owns the semantics of ``metav1.LabelSelector`` as NetworkPolicy uses it: the
requirements are AND-ed; an empty selector matches everything; ``NotIn`` and
``DoesNotExist`` match objects that do not carry the key at all. Validation is the
API server's (``ValidateLabelSelector``): keys are qualified names, values valid label
values (:mod:`orchestrator.model.names`), ``In``/``NotIn`` need values and
``Exists``/``DoesNotExist`` take none; workload selectors are compiled here too.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.model.names import label_value_error, qualified_name_error


class InvalidSpec(ValueError):
    """A policy field is invalid; ``field`` is its path, e.g. ``spec.podSelector.matchExpressions[0].operator``."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def reject_unknown_fields(obj: Mapping[Any, Any], where: str, allowed: tuple[str, ...]) -> None:
    """Refuse a key outside ``allowed``, as ``kubectl --validate=strict`` does: a typo such
    as ``namespaceSelecter`` must be an error, not a silently different policy."""
    for key in obj:
        if key not in allowed:
            raise InvalidSpec(f"{where}.{key}", f"unknown field (expected {', '.join(allowed)})")


class Operator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.IN:
            return present and labels[self.key] in self.values
        if self.operator is Operator.NOT_IN:
            return not present or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return present
        return not present

    def __str__(self) -> str:
        """kubectl-like: ``app=web``, ``app in (a,b)``, ``app notin (x)``, ``has tier``, ``has no tier``."""
        if self.operator is Operator.EXISTS:
            return f"has {self.key}"
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"has no {self.key}"
        if self.operator is Operator.IN and len(self.values) == 1:
            return f"{self.key}={next(iter(self.values))}"
        op = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector; ``requirements`` empty means "everything"."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def matches_all(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)

    def __str__(self) -> str:
        if not self.requirements:
            return "{} (everything)"
        return ", ".join(str(r) for r in self.requirements)


MATCH_ALL = Selector()


def compile_selector(raw: Any, field: str) -> Selector:
    """Validate a decoded LabelSelector (``None`` and ``{}`` both mean "everything")."""
    if raw is None:
        return MATCH_ALL
    if not isinstance(raw, Mapping):
        raise InvalidSpec(field, f"expected a label selector mapping, got {_type(raw)}")
    reject_unknown_fields(raw, field, ("matchLabels", "matchExpressions"))
    reqs: list[Requirement] = []
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidSpec(f"{field}.matchLabels", f"expected a mapping of strings, got {_type(labels)}")
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            raise InvalidSpec(f"{field}.matchLabels", f"label key {key!r} must be a non-empty string")
        if (problem := qualified_name_error(key)) is not None:
            raise InvalidSpec(f"{field}.matchLabels", f"invalid label key {problem}")
        if not isinstance(value, str):
            raise InvalidSpec(
                f"{field}.matchLabels.{key}", f"label value must be a string, got {value!r} (quote it in YAML)"
            )
        if (problem := label_value_error(value)) is not None:
            raise InvalidSpec(f"{field}.matchLabels.{key}", f"invalid label value {problem}")
        reqs.append(Requirement(key, Operator.IN, frozenset([value])))
    exprs = raw.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise InvalidSpec(f"{field}.matchExpressions", f"expected a list, got {_type(exprs)}")
    for i, expr in enumerate(exprs):
        where = f"{field}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise InvalidSpec(where, f"expected a mapping with key, operator, values, got {_type(expr)}")
        reject_unknown_fields(expr, where, ("key", "operator", "values"))
        key = expr.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidSpec(f"{where}.key", "required, a non-empty string")
        if (problem := qualified_name_error(key)) is not None:
            raise InvalidSpec(f"{where}.key", f"invalid label key {problem}")
        op_raw: Any = expr.get("operator")  # raw YAML; Operator() refuses anything but an operator
        try:
            op = Operator(op_raw)
        except ValueError:
            raise InvalidSpec(
                f"{where}.operator", f"unknown operator {op_raw!r} (expected In, NotIn, Exists, DoesNotExist)"
            ) from None
        values = expr.get("values")
        if values is None:
            values = []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidSpec(f"{where}.values", f"expected a list of strings, got {values!r}")
        if op in (Operator.IN, Operator.NOT_IN) and not values:
            raise InvalidSpec(f"{where}.values", f"must be non-empty when operator is {op}")
        if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
            raise InvalidSpec(f"{where}.values", f"must be empty when operator is {op}")
        for k, v in enumerate(values):
            if (problem := label_value_error(v)) is not None:
                raise InvalidSpec(f"{where}.values[{k}]", f"invalid label value {problem}")
        reqs.append(Requirement(key, op, frozenset(values)))
    return Selector(tuple(reqs))


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__
