"""What every audit check shares: the model compiled once, its bitset index, and naming.

The checks ask the model's own machinery what a selector, a peer or a rule matches
(:class:`~orchestrator.model.matrix.MatrixBuilder` bitsets over the snapshot's pods,
memoised per selector), so "what a rule admits" has one answer in kubereach: the one
``predict`` and the sweep use. Near misses (a selector value one typo away from a
label a pod carries) are found here too, for the dead-selector findings.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property

from orchestrator.audit.findings import object_name
from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.matrix import MatrixBuilder
from orchestrator.model.policy import CompiledPolicy, Direction, Rule
from orchestrator.model.selectors import Operator, Requirement, Selector
from orchestrator.snapshot.types import NetworkPolicyObject, Origin, Pod, Snapshot

# A label value or key this many edits away from a selector's is reported as a probable typo.
TYPO_DISTANCE = 2


def bits(mask: int) -> Iterator[int]:
    """Indices of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class AuditContext:
    """One snapshot, compiled once for every check."""

    def __init__(self, snapshot: Snapshot, model: PolicyModel | None = None) -> None:
        self.snapshot = snapshot
        self.model = model or PolicyModel(snapshot)
        self.pods: tuple[Pod, ...] = snapshot.pods
        self.index = {p.key: i for i, p in enumerate(self.pods)}
        self.declared = {p.key: p for p in snapshot.policies}
        self.hostnet = sum(1 << i for i, p in enumerate(self.pods) if p.host_network)
        self.ns_pods: dict[str, int] = {}
        for i, p in enumerate(self.pods):
            self.ns_pods[p.namespace] = self.ns_pods.get(p.namespace, 0) | (1 << i)

    @cached_property
    def builder(self) -> MatrixBuilder:
        return MatrixBuilder(self.model)

    @property
    def policies(self) -> tuple[CompiledPolicy, ...]:
        return self.model.policies

    # -- naming -------------------------------------------------------------------------
    @staticmethod
    def pod_name(pod: Pod) -> str:
        return object_name("Pod", pod.namespace, pod.name)

    @staticmethod
    def policy_name(policy: CompiledPolicy | NetworkPolicyObject) -> str:
        return object_name("NetworkPolicy", policy.namespace, policy.name)

    def policy_origin(self, policy: CompiledPolicy) -> Origin | None:
        declared = self.declared.get(policy.key)
        return declared.origin if declared else None

    def raw_rule(self, policy: CompiledPolicy, rule: Rule) -> Mapping[str, object]:
        """The rule as declared (for quoting it in a fix)."""
        spec = self.declared[policy.key].spec
        rules = spec.get(str(rule.direction)) or []
        raw = rules[rule.index] if rule.index < len(rules) else None
        return raw if isinstance(raw, Mapping) else {}

    # -- sets ---------------------------------------------------------------------------
    def pods_of(self, mask: int) -> list[Pod]:
        return [self.pods[i] for i in bits(mask)]

    def keys_of(self, mask: int) -> list[str]:
        return [self.pods[i].key for i in bits(mask)]

    def namespace_pods(self, namespace: str, *, with_host_network: bool = False) -> int:
        mask = self.ns_pods.get(namespace, 0)
        return mask if with_host_network else mask & ~self.hostnet

    def namespaces_matching(self, selector: Selector) -> list[str]:
        return [ns for ns in self.builder.namespaces if selector.matches(self.model.namespace_labels(ns))]

    def selected(self, policy_index: int) -> int:
        """Pods the policy selects (its namespace, its podSelector; never host-network pods)."""
        return self.builder.selected[policy_index]

    def rule_peers(self, policy_index: int, rule: Rule) -> int:
        return self.builder.rule_peer_mask(policy_index, rule)

    def isolated(self, pod_index: int, direction: Direction) -> bool:
        return bool(self.builder.isolating[direction][pod_index])

    def declaring(self, name: str, protocol: object) -> int:
        """Pods declaring a container port named ``name`` for ``protocol``."""
        return self._named.get((name, str(protocol)), 0)

    @cached_property
    def _named(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for i, p in enumerate(self.pods):
            for c in p.serving_containers:
                for cp in c.ports:
                    if cp.name:
                        key = (cp.name, str(cp.protocol))
                        out[key] = out.get(key, 0) | (1 << i)
        return out


# -- near misses ----------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int = TYPO_DISTANCE) -> int:
    """Levenshtein distance, or ``limit + 1`` as soon as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _close(a: str, b: str) -> bool:
    return a != b and (a.lower() == b.lower() or edit_distance(a, b) <= TYPO_DISTANCE)


def _near(req: Requirement, labels: Mapping[str, str]) -> str | None:
    """The label of ``labels`` that ``req`` probably meant, as ``key=value``, or None."""
    if req.operator is Operator.IN:
        value = labels.get(req.key)
        if value is not None and any(_close(value, v) for v in req.values):
            return f"{req.key}={value}"
        for key, value in labels.items():
            if value in req.values and _close(key, req.key):
                return f"{key}={value}"
    elif req.operator is Operator.EXISTS:
        for key in labels:
            if _close(key, req.key):
                return f"has {key}"
    return None


def near_misses(selector: Selector, candidates: Iterable[tuple[str, Mapping[str, str]]]) -> list[tuple[str, str]]:
    """``(name, label)`` of each candidate that fails exactly one requirement of ``selector``,
    and fails it by what looks like a typo (a key or value within two edits, or differing in
    case only)."""
    out = []
    for name, labels in candidates:
        failing = [r for r in selector.requirements if not r.matches(labels)]
        if len(failing) == 1:
            hint = _near(failing[0], labels)
            if hint is not None:
                out.append((name, hint))
    return out


def describe_mask(ctx: AuditContext, mask: int, limit: int = 6) -> str:
    """``3 pods (a/x, a/y, b/z)`` or ``no pod``."""
    keys = ctx.keys_of(mask)
    if not keys:
        return "no pod"
    shown = ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
    return f"{len(keys)} pod{'s' if len(keys) != 1 else ''} ({shown})"


def field_of(rule: Rule) -> str:
    return f"spec.{rule.direction}[{rule.index}]"


def peer_word(direction: Direction) -> str:
    return "from" if direction is Direction.INGRESS else "to"


def origins(*items: Origin | None) -> tuple[Origin, ...]:
    return tuple(o for o in items if o is not None)


def pods_sorted(pods: Sequence[Pod]) -> list[Pod]:
    return sorted(pods, key=lambda p: (p.namespace, p.name))
