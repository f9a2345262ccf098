"""Which nodes a DaemonSet's pods run on: nodeSelector, required node affinity, taints.

Owns the scheduling rules that decide a DaemonSet's pod count: a node is eligible when
the template's ``nodeSelector`` matches its labels, one term of
``requiredDuringSchedulingIgnoredDuringExecution`` matches (expressions on labels,
fields on ``metadata.name``), and every ``NoSchedule``/``NoExecute`` taint is tolerated
(by the template's tolerations or the ones the DaemonSet controller adds to every
daemon pod). ``PreferNoSchedule`` and preferred affinity only rank nodes, so they do
not change where daemon pods run. Parsing reports errors with field paths like the
other builders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.snapshot.objects import _int, _list, _mapping, _str, _string_map, _Where
from orchestrator.snapshot.types import Node, Taint

_TOLERATION_OPERATORS = ("Exists", "Equal")
_NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""  # empty with Exists: every taint
    operator: str = "Equal"
    value: str = ""
    effect: str = ""  # empty: every effect

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


# What the DaemonSet controller adds to every daemon pod (AddOrUpdateDaemonPodTolerations),
# so that node conditions never keep a node's daemons away.
DAEMON_TOLERATIONS = (
    Toleration("node.kubernetes.io/not-ready", "Exists", effect="NoExecute"),
    Toleration("node.kubernetes.io/unreachable", "Exists", effect="NoExecute"),
    Toleration("node.kubernetes.io/disk-pressure", "Exists", effect="NoSchedule"),
    Toleration("node.kubernetes.io/memory-pressure", "Exists", effect="NoSchedule"),
    Toleration("node.kubernetes.io/pid-pressure", "Exists", effect="NoSchedule"),
    Toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule"),
)
HOST_NETWORK_TOLERATION = Toleration("node.kubernetes.io/network-unavailable", "Exists", effect="NoSchedule")


@dataclass(frozen=True, slots=True)
class NodeRequirement:
    key: str  # a label key, or "metadata.name" for matchFields
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, value: str | None) -> bool:
        if self.operator == "Exists":
            return value is not None
        if self.operator == "DoesNotExist":
            return value is None
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if value is None or not value.lstrip("-").isdigit():  # Gt, Lt: integer comparison
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator == "Gt" else int(value) < bound


@dataclass(frozen=True, slots=True)
class NodeTerm:
    """One ``nodeSelectorTerms`` entry: all expressions (labels) and fields (the name) must match."""

    expressions: tuple[NodeRequirement, ...] = ()
    fields: tuple[NodeRequirement, ...] = ()

    def matches(self, node: Node) -> bool:
        if not self.expressions and not self.fields:
            return False  # an empty term matches no node (upstream)
        return all(r.matches(node.labels.get(r.key)) for r in self.expressions) and all(
            r.matches(node.name) for r in self.fields
        )


@dataclass(frozen=True, slots=True)
class Placement:
    node_selector: Mapping[str, str]
    required: tuple[NodeTerm, ...] | None  # None: no required node affinity
    tolerations: tuple[Toleration, ...]

    def eligible(self, node: Node) -> bool:
        if any(node.labels.get(k) != v for k, v in self.node_selector.items()):
            return False
        if self.required is not None and not any(t.matches(node) for t in self.required):
            return False
        return all(
            any(t.tolerates(taint) for t in self.tolerations)
            for taint in node.taints
            if taint.effect in ("NoSchedule", "NoExecute")
        )


def parse_placement(spec: Mapping[str, Any], where: _Where, field: str, *, host_network: bool) -> Placement:
    """The placement rules of a pod template's ``spec`` (at ``field``)."""
    selector = _string_map(spec.get("nodeSelector"), where, f"{field}.nodeSelector")
    tolerations = [*DAEMON_TOLERATIONS, *((HOST_NETWORK_TOLERATION,) if host_network else ())]
    for i, raw in enumerate(_list(spec.get("tolerations"), where, f"{field}.tolerations")):
        tf = f"{field}.tolerations[{i}]"
        t = _mapping(raw, where, tf, required=True)
        operator = _str(t.get("operator"), where, f"{tf}.operator") or "Equal"
        if operator not in _TOLERATION_OPERATORS:
            raise where.error(f"{tf}.operator", f"unsupported value {operator!r}: supported values: Exists, Equal")
        key = _str(t.get("key"), where, f"{tf}.key") or ""
        value = _str(t.get("value"), where, f"{tf}.value") or ""
        if not key and operator != "Exists":
            raise where.error(
                f"{tf}.operator", "must be Exists when key is empty, which means match all values and all keys"
            )
        if operator == "Exists" and value:
            raise where.error(f"{tf}.value", "must be empty when operator is Exists")
        effect = _str(t.get("effect"), where, f"{tf}.effect") or ""
        if effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise where.error(
                f"{tf}.effect",
                f"unsupported value {effect!r}: supported values: NoSchedule, PreferNoSchedule, NoExecute",
            )
        _int(t.get("tolerationSeconds"), where, f"{tf}.tolerationSeconds", lo=-(2**63), hi=2**63 - 1)
        tolerations.append(Toleration(key, operator, value, effect))
    affinity = _mapping(spec.get("affinity"), where, f"{field}.affinity")
    node_affinity = _mapping(affinity.get("nodeAffinity"), where, f"{field}.affinity.nodeAffinity")
    af = f"{field}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    raw_required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    required = None
    if raw_required is not None:
        req = _mapping(raw_required, where, af)
        terms = _list(req.get("nodeSelectorTerms"), where, f"{af}.nodeSelectorTerms")
        if not terms:
            raise where.error(f"{af}.nodeSelectorTerms", "must have at least one node selector term")
        required = tuple(_term(t, where, f"{af}.nodeSelectorTerms[{i}]") for i, t in enumerate(terms))
    return Placement(selector, required, tuple(tolerations))


def _term(raw: Any, where: _Where, field: str) -> NodeTerm:
    term = _mapping(raw, where, field, required=True)
    groups: dict[str, list[NodeRequirement]] = {"matchExpressions": [], "matchFields": []}
    for group, out in groups.items():
        for i, e in enumerate(_list(term.get(group), where, f"{field}.{group}")):
            ef = f"{field}.{group}[{i}]"
            e = _mapping(e, where, ef, required=True)
            key = _str(e.get("key"), where, f"{ef}.key", required=True)
            operator = _str(e.get("operator"), where, f"{ef}.operator", required=True)
            if operator not in _NODE_OPERATORS:
                raise where.error(
                    f"{ef}.operator", f"unsupported value {operator!r}: supported values: {', '.join(_NODE_OPERATORS)}"
                )
            values = tuple(
                _str(v, where, f"{ef}.values[{k}]", required=True)
                for k, v in enumerate(_list(e.get("values"), where, f"{ef}.values"))
            )
            if operator in ("In", "NotIn") and not values:
                raise where.error(f"{ef}.values", f"must be specified when operator is {operator}")
            if operator in ("Exists", "DoesNotExist") and values:
                raise where.error(f"{ef}.values", f"may not be specified when operator is {operator}")
            if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
                raise where.error(f"{ef}.values", f"must be a single integer when operator is {operator}")
            if group == "matchFields" and key != "metadata.name":
                raise where.error(f"{ef}.key", "not a supported field selector (only metadata.name)")
            out.append(NodeRequirement(key, operator, values))
    return NodeTerm(tuple(groups["matchExpressions"]), tuple(groups["matchFields"]))
