"""Verdicts: the decision for one connection and the rules that produced it.

Owns the value types returned by :class:`orchestrator.model.PolicyModel.evaluate`
and the wording of the one-line ``reason`` used in CSV rows. The wording lives
in one place (:func:`side_text`, :func:`tier_text`, :func:`join_reason`) so the fast
matrix and the pairwise evaluation say exactly the same thing.

A side that cluster policy tiers had a say in carries a :class:`TierResult`: the chain of
steps (``[Admin] cnp/a rule 0 Pass -> [NetworkPolicy] allowed by ns/p egress rule 0``) and,
when the outcome cannot be settled, every way it can go. Two outcomes beyond allow and deny
exist for that, never guessed into one of them: ``undefined`` (cluster policies of one tier
with equal priority both match and disagree: the API leaves their order to the
implementation) and ``unknown`` (a rule matches or not depending on what a snapshot cannot
show: ``domainNames``, ``nodes`` without Node objects).

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from orchestrator.model.policy import Direction
from probe.schema import Protocol


class Decision(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    UNDEFINED = "undefined"  # equal-priority cluster policies both match and disagree
    UNKNOWN = "unknown"  # depends on what a snapshot cannot show (domainNames, nodes without Nodes)

    @property
    def settled(self) -> bool:
        return self is Decision.ALLOW or self is Decision.DENY


def combine(egress: Decision, ingress: Decision) -> Decision:
    """Both sides must allow: either side's deny decides; otherwise an unsettled side leaves the
    connection unsettled (``undefined`` before ``unknown``)."""
    if egress is Decision.DENY or ingress is Decision.DENY:
        return Decision.DENY
    if egress is Decision.ALLOW and ingress is Decision.ALLOW:
        return Decision.ALLOW
    if Decision.UNDEFINED in (egress, ingress):
        return Decision.UNDEFINED
    return Decision.UNKNOWN


class SideState(enum.StrEnum):
    """How one direction (egress of the source, ingress of the destination) decided."""

    NOT_ISOLATED = "not-isolated"  # no policy selecting the pod has this policyType
    HOST_NETWORK = "host-network"  # the pod uses the node's network: not subject to policies
    ALLOWED = "allowed"  # isolated, and at least one rule allows the connection
    DENIED = "denied"  # isolated, and no rule allows it


@dataclass(frozen=True, slots=True, order=True)
class RuleRef:
    """``shop-data/allow-api ingress rule 0``: the rule at ``spec.ingress[0]`` of that policy."""

    policy: str  # namespace/name
    direction: Direction
    index: int

    @property
    def field(self) -> str:
        return f"spec.{self.direction}[{self.index}]"

    def __str__(self) -> str:
        return f"{self.policy} {self.direction} rule {self.index}"


DEFAULT_TIER = "default"  # the end of the chain: no tier decided, Kubernetes allows
NP_TIER = "NetworkPolicy"


@dataclass(frozen=True, slots=True)
class TierStep:
    """One step of a side's chain: ``[Admin] cnp/allow-monitoring rule 0 Pass``.

    ``tier``: ``Admin``, ``NetworkPolicy``, ``Baseline`` or ``default``; cluster policy steps
    name the policy (``cnp/x``, ``anp/x``, ``banp/default``), the rule index of this
    direction and its action as declared (``Accept``, ``Deny``, ``Pass``; v1alpha1 says
    ``Allow``); ``maybe`` names the peers of
    the rule that cannot be evaluated from a snapshot (the step then holds only if they match).
    """

    tier: str
    text: str
    policy: str | None = None
    rule: int | None = None
    action: str | None = None
    maybe: str = ""

    def __str__(self) -> str:
        if self.tier == DEFAULT_TIER:
            return self.text
        text = f"[{self.tier}] {self.text}"
        return f"{text} if its {self.maybe} match" if self.maybe else text


@dataclass(frozen=True, slots=True)
class TierPath:
    """One way the evaluation of a side can go: its steps, in order, and where they end."""

    decision: Decision  # ALLOW or DENY
    steps: tuple[TierStep, ...]

    @property
    def text(self) -> str:
        return " -> ".join(str(s) for s in self.steps)  # ASCII: CSV goes to any terminal encoding


@dataclass(frozen=True, slots=True)
class TierResult:
    """How the tiers decided one side: Admin -> NetworkPolicy -> Baseline -> allow.

    ``paths[0]`` is the chain the reason shows; when ``decision`` is ``undefined`` or
    ``unknown`` the paths are every way it can go (one per outcome first). ``ties`` names the
    equal-priority policies that both match; ``maybes`` the rules whose match a snapshot
    cannot tell.
    """

    decision: Decision
    paths: tuple[TierPath, ...]
    ties: tuple[str, ...] = ()
    maybes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SideVerdict:
    """One direction of a connection: egress of the source pod or ingress of the destination pod.

    ``state``, ``isolated_by``, ``allowed_by`` and ``note`` describe the NetworkPolicy tier;
    ``tiers`` is set when cluster policy tiers had a say (then it decides, see ``decision``).
    """

    direction: Direction
    pod: str  # the pod whose policies apply (source for egress)
    state: SideState
    isolated_by: tuple[str, ...] = ()  # policies selecting the pod with this policyType
    allowed_by: tuple[RuleRef, ...] = ()  # every rule that allows the connection, in policy order
    note: str = ""  # e.g. why an ipBlock could not match
    tiers: TierResult | None = None

    @property
    def decision(self) -> Decision:
        if self.tiers is not None:
            return self.tiers.decision
        return Decision.DENY if self.state is SideState.DENIED else Decision.ALLOW

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @property
    def isolated(self) -> bool:
        return self.state in (SideState.ALLOWED, SideState.DENIED)

    @property
    def text(self) -> str:
        if self.tiers is not None:
            return f"{self.direction}: {tier_text(self.tiers)}"
        return side_text(
            self.direction, self.state, self.isolated_by, self.allowed_by[0] if self.allowed_by else None, self.note
        )

    @property
    def np_text(self) -> str:
        """The NetworkPolicy tier's own words for this side (no direction prefix)."""
        return np_text(self.state, self.isolated_by, self.allowed_by[0] if self.allowed_by else None, self.note)


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str
    destination: str
    port: int
    protocol: Protocol
    decision: Decision
    egress: SideVerdict
    ingress: SideVerdict
    reason: str
    same_pod: bool = False

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


class ExpectedRow(NamedTuple):
    """One row of the expected matrix (a tuple, so millions of them stay cheap)."""

    source: str  # namespace/pod
    destination: str  # namespace/pod
    port: int
    protocol: Protocol
    decision: Decision
    reason: str


SAME_POD_REASON = "same pod: a pod can always reach itself"


def no_ip_note(role: str) -> str:
    """``role`` is ``source`` or ``destination``: the far end of the side that denied."""
    return f"the {role} has no pod IP, so no ipBlock can match it"


def np_text(state: SideState, isolated_by: tuple[str, ...], first_rule: RuleRef | None, note: str = "") -> str:
    """The NetworkPolicy tier's wording of one side, e.g. ``allowed by ns/p ingress rule 0``."""
    if state is SideState.HOST_NETWORK:
        text = "host-network pod, not subject to NetworkPolicy"
    elif state is SideState.NOT_ISOLATED:
        text = "not isolated"
    elif state is SideState.ALLOWED:
        text = f"allowed by {first_rule}"
    else:
        text = f"isolated by {', '.join(isolated_by)} and no rule allows it"
    return f"{text} ({note})" if note else text


def side_text(
    direction: Direction, state: SideState, isolated_by: tuple[str, ...], first_rule: RuleRef | None, note: str = ""
) -> str:
    """The one-line wording of one side, e.g. ``ingress: allowed by ns/p ingress rule 0``."""
    return f"{direction}: {np_text(state, isolated_by, first_rule, note)}"


def tier_text(result: TierResult) -> str:
    """The chain of one side (no direction prefix), e.g. ``[Admin] cnp/a rule 0 Pass ->
    [NetworkPolicy] allowed by ns/p egress rule 0``; an unsettled side shows one chain per
    outcome and says why it cannot tell: ``unknown: [Admin] cnp/a rule 0 Accept if its
    domainNames match or [Baseline] cnp/d rule 0 Deny (cannot be evaluated from a snapshot: ...)``."""
    if result.decision.settled:
        return result.paths[0].text
    firsts: dict[Decision, TierPath] = {}
    for p in result.paths:
        firsts.setdefault(p.decision, p)
    alternatives = " or ".join(p.text for p in firsts.values())
    if result.decision is Decision.UNDEFINED:
        why = "; ".join(result.ties) + ": the API leaves the order of equal priorities to the implementation"
    else:
        why = "cannot be evaluated from a snapshot: " + "; ".join(result.maybes)
    return f"{result.decision}: {alternatives} ({why})"


def join_reason(egress: str, ingress: str) -> str:
    return f"{egress}; {ingress}"
