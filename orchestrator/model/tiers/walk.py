"""The order of evaluation of one side: Admin tier -> NetworkPolicy -> Baseline tier -> allow.

One function, :func:`walk`, decides a side for the pairwise evaluator and for the fast matrix
alike: they differ only in how they tell whether a rule matches (``rule_match``) and what the
NetworkPolicy tier says (``np_outcome``), so the order itself lives here once.

Spec, per direction (egress of the source, ingress of the destination), from the API's
type documentation (``policy.networking.k8s.io``):

1. Admin tier: the policies whose ``subject`` selects the pod and that have rules in this
   direction ("CNPs with no egress rules do not affect egress traffic"), by ascending
   priority; inside one, its rules in order. The first rule whose peers and protocols match
   decides: ``Accept`` allows and ``Deny`` denies, final; ``Pass`` skips the rest of the tier.
2. NetworkPolicy tier: when a NetworkPolicy selects the pod for this direction, it decides
   (allowed by one of its rules, or denied); otherwise evaluation goes on.
3. Baseline tier: as the Admin tier; ``Pass`` ends the tier.
4. Nothing decided: allowed, the Kubernetes default.

Two policies of one tier with equal priority that both match the connection: "the
implementation can apply any of the matching policies", so each one's outcome is possible;
when they disagree the side is ``undefined``. A rule that may or may not match (its
``domainNames``; its ``nodes`` when the snapshot has no Node objects) branches the same
way; when the branches disagree the side is ``unknown``. Neither is ever guessed.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby

from orchestrator.model.policy import Direction
from orchestrator.model.tiers.compiled import Action, CompiledClusterPolicy, TierRule
from orchestrator.model.verdict import DEFAULT_TIER, NP_TIER, Decision, TierPath, TierResult, TierStep

Groups = tuple[tuple[CompiledClusterPolicy, ...], ...]
_Paths = list[tuple[Decision, tuple[TierStep, ...]]]
DEFAULT_STEP = TierStep(DEFAULT_TIER, "allowed by default")
NOT_ISOLATED_STEP = TierStep(NP_TIER, "not isolated")
# Branches multiply only through rules that may or may not match, each Pass branch carrying
# every path of the next tier: past this many paths per group only the first path of each
# outcome (and the first others) are kept. The set of outcomes never shrinks.
MAX_PATHS = 256


class Match(enum.Enum):
    """Whether a rule matches a connection: ``MAYBE`` when a snapshot cannot tell."""

    NO = 0
    YES = 1
    MAYBE = 2


@dataclass(frozen=True, slots=True)
class SidePlan:
    """Everything that can decide one side, in evaluation order.

    ``admin``/``baseline``: the selecting policies with rules in this direction, grouped by
    equal priority, ascending (policies inside a group by name, for stable reasons);
    ``np_isolated``: whether a NetworkPolicy selects the pod for this direction;
    ``nodes_known``: whether the snapshot has Node objects for ``nodes`` peers.
    """

    direction: Direction
    admin: Groups
    np_isolated: bool
    baseline: Groups
    nodes_known: bool = True

    @property
    def has_tiers(self) -> bool:
        return bool(self.admin or self.baseline)


def priority_groups(policies: Iterable[CompiledClusterPolicy]) -> Groups:
    """Policies of one tier in evaluation order, grouped by equal priority."""
    ordered = sorted(policies, key=lambda p: (p.rank, p.key))
    return tuple(tuple(g) for _, g in groupby(ordered, key=lambda p: p.rank))


def walk(
    plan: SidePlan,
    rule_match: Callable[[CompiledClusterPolicy, TierRule], Match],
    np_outcome: Callable[[], tuple[Decision, str]],
) -> TierResult | None:
    """Decide one side; None when no Admin or Baseline rule has a say in it (then the
    NetworkPolicy tier's own verdict stands, worded as without tiers).

    ``rule_match(policy, rule)`` tells whether a rule's peers and protocols match the
    connection; ``np_outcome()`` is the NetworkPolicy tier's decision and words when it
    isolates the pod (called only if the evaluation reaches it).
    """
    direction = plan.direction
    ties: list[str] = []
    maybes: list[str] = []

    def default() -> _Paths:
        return [(Decision.ALLOW, (DEFAULT_STEP,))]

    def tier(groups: Groups, name: str, after: Callable[[], _Paths]) -> Callable[[], _Paths]:
        memo: dict[int, _Paths] = {}

        def from_group(g: int) -> _Paths:
            if g == len(groups):
                return after()
            if g in memo:
                return memo[g]
            out: _Paths = []
            falls_through = True  # every policy of the group may match nothing
            matching: dict[str, set[Action]] = {}  # policy -> the actions it may apply here
            for pol in groups[g]:
                pol_falls = True
                for rule in pol.rules(direction):
                    m = rule_match(pol, rule)
                    if m is Match.NO:
                        continue
                    maybe = ""
                    if m is Match.MAYBE:
                        maybe, why = rule.uncertain_peers(plan.nodes_known)
                        maybe = maybe or "peers"
                        maybes.append(f"{pol.key} {direction} rule {rule.index}: {why or 'its peers'}")
                    word = pol.word(rule.action)
                    step = TierStep(name, f"{pol.key} rule {rule.index} {word}", pol.key, rule.index, word, maybe)
                    matching.setdefault(pol.key, set()).add(rule.action)
                    if rule.action is Action.PASS:
                        out.extend((d, (step, *steps)) for d, steps in after())
                    else:
                        out.append((Decision.ALLOW if rule.action is Action.ACCEPT else Decision.DENY, (step,)))
                    if m is Match.YES:  # first match: the rest of this policy is not consulted
                        pol_falls = False
                        break
                falls_through = falls_through and pol_falls
            # equal priority matters when the policies that match would act differently
            if len(matching) > 1 and len({frozenset(a) for a in matching.values()}) > 1:
                both = "both" if len(matching) == 2 else "all"
                ties.append(
                    f"{' and '.join(matching)} have equal {groups[g][0].priority_text} in the {name} tier "
                    f"and {both} match"
                )
            if falls_through:
                out.extend(from_group(g + 1))
            memo[g] = out = _bounded(out)
            return out

        return lambda: from_group(0)

    baseline = tier(plan.baseline, "Baseline", default)
    np_memo: list[_Paths] = []

    def np_stage() -> _Paths:
        if not np_memo:
            if plan.np_isolated:
                decision, text = np_outcome()
                np_memo.append([(decision, (TierStep(NP_TIER, text),))])
            else:
                np_memo.append([(d, (NOT_ISOLATED_STEP, *steps)) for d, steps in baseline()])
        return np_memo[0]

    paths = list(dict.fromkeys(tier(plan.admin, "Admin", np_stage)()))
    decisions = list(dict.fromkeys(d for d, _ in paths))
    if len(decisions) == 1:
        # settled: the reason shows the chain that holds whatever the uncertain rules do
        primary = next((p for p in paths if not any(s.maybe for s in p[1])), paths[0])
        if not any(s.tier not in (NP_TIER, DEFAULT_TIER) for s in primary[1]):
            return None
        return TierResult(primary[0], (TierPath(*primary),))
    firsts = [next(p for p in paths if p[0] is d) for d in decisions]
    ordered = firsts + [p for p in paths if p not in firsts]
    return TierResult(
        Decision.UNDEFINED if ties else Decision.UNKNOWN,
        tuple(TierPath(d, steps) for d, steps in ordered),
        tuple(dict.fromkeys(ties)),
        tuple(dict.fromkeys(maybes)),
    )


def _bounded(paths: _Paths) -> _Paths:
    if len(paths) <= MAX_PATHS:
        return paths
    keep = list(dict.fromkeys([next(p for p in paths if p[0] is d) for d in dict.fromkeys(d for d, _ in paths)]))
    return keep + [p for p in paths[:MAX_PATHS] if p not in keep]
