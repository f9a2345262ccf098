"""Verdicts: the decision for one connection and the rules that produced it.

Owns the value types returned by :class:`orchestrator.model.PolicyModel.evaluate`
and the wording of the one-line ``reason`` used in CSV rows. The wording lives
in one place (:func:`side_text`, :func:`join_reason`) so the fast matrix and the
pairwise evaluation say exactly the same thing.

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


@dataclass(frozen=True, slots=True)
class SideVerdict:
    """One direction of a connection: egress of the source pod or ingress of the destination pod."""

    direction: Direction
    pod: str  # the pod whose policies apply (source for egress)
    state: SideState
    isolated_by: tuple[str, ...] = ()  # policies selecting the pod with this policyType
    allowed_by: tuple[RuleRef, ...] = ()  # every rule that allows the connection, in policy order
    note: str = ""  # e.g. why an ipBlock could not match

    @property
    def allowed(self) -> bool:
        return self.state is not SideState.DENIED

    @property
    def isolated(self) -> bool:
        return self.state in (SideState.ALLOWED, SideState.DENIED)

    @property
    def text(self) -> str:
        return side_text(
            self.direction, self.state, self.isolated_by, self.allowed_by[0] if self.allowed_by else None, self.note
        )


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


def side_text(
    direction: Direction, state: SideState, isolated_by: tuple[str, ...], first_rule: RuleRef | None, note: str = ""
) -> str:
    """The one-line wording of one side, e.g. ``ingress: allowed by ns/p ingress rule 0``."""
    if state is SideState.HOST_NETWORK:
        text = f"{direction}: host-network pod, not subject to NetworkPolicy"
    elif state is SideState.NOT_ISOLATED:
        text = f"{direction}: not isolated"
    elif state is SideState.ALLOWED:
        text = f"{direction}: allowed by {first_rule}"
    else:
        text = f"{direction}: isolated by {', '.join(isolated_by)} and no rule allows it"
    return f"{text} ({note})" if note else text


def join_reason(egress: str, ingress: str) -> str:
    return f"{egress}; {ingress}"
