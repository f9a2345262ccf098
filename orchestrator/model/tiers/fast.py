"""The fast matrix's side for a pod the tiers select: peers split into classes, each decided once.

For one side (egress of a source, or ingress of a destination) at one port, every rule that
can decide it — Admin and Baseline rules of the policies selecting the pod, and the rules of
the NetworkPolicies isolating it — matches a set of peers, given as bitsets over the
snapshot's pods (``sure`` and, for peers a snapshot cannot evaluate, ``maybe``). The walk
(:func:`~orchestrator.model.tiers.walk.walk`, the same function the pairwise evaluator
calls) is deterministic in the answers it gets, so:

1. take one peer not yet decided and walk its side, answering each rule question from that
   peer's bits while narrowing a set to the peers that give the same answers (bitset ANDs);
2. every peer of that set gets the same outcome: decided, removed, repeat — one walk per
   distinct *trace* of answers, never one per peer, and rules the walk never reaches (after
   an Accept, a Deny) split nothing;
3. sets with the same outcome share one *code*; the matrix writes the code of each peer
   into its lanes, and :meth:`TierClasses.describe` turns a code back into the decision and
   the one-line words, exactly as the pairwise evaluator says them.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.model.policy import Direction
from orchestrator.model.tiers.compiled import CompiledClusterPolicy, TierRule
from orchestrator.model.tiers.walk import Match, SidePlan, walk
from orchestrator.model.verdict import Decision, RuleRef, SideState, no_ip_note, np_text, side_text, tier_text

# (policy, rule, sure mask, maybe mask): a cluster policy rule and the peers it matches
TierEntry = tuple[CompiledClusterPolicy, TierRule, int, int]


class TierClasses:
    """The classes of one side: ``code_masks[c]`` is the peers of code ``c`` (a partition of
    ``universe``); :meth:`describe` gives the decision and the words of a code."""

    __slots__ = (
        "plan",
        "entries",
        "np_entries",
        "isolated_by",
        "has_ip_block",
        "code_masks",
        "_reps",
        "_index",
        "_memo",
    )

    def __init__(
        self,
        plan: SidePlan,
        entries: Sequence[TierEntry],
        np_entries: Sequence[tuple[RuleRef, int]],
        *,
        isolated_by: tuple[str, ...],
        has_ip_block: bool,
        universe: int,
    ) -> None:
        self.plan, self.entries, self.np_entries = plan, entries, np_entries
        self.isolated_by, self.has_ip_block = isolated_by, has_ip_block
        self._index = {(pol.key, rule.index): k for k, (pol, rule, _, _) in enumerate(entries)}
        self._memo: dict[tuple[int, bool], tuple[Decision, str]] = {}
        self.code_masks: list[int] = []
        self._reps: list[int] = []
        codes: dict[tuple[Decision, str], int] = {}
        remaining = universe
        while remaining:
            rep = (remaining & -remaining).bit_length() - 1
            alike = [remaining]  # narrowed by every answer the walk asks for
            outcome = self._decide(rep, True, alike)
            code = codes.get(outcome)
            if code is None:
                code = codes[outcome] = len(self.code_masks)
                self.code_masks.append(0)
                self._reps.append(rep)
            self.code_masks[code] |= alike[0]
            remaining &= ~alike[0]

    def describe(self, code: int, peer_has_ip: bool) -> tuple[Decision, str]:
        """Decision and words of a code; ``peer_has_ip``: whether the far end has an IP (the
        NetworkPolicy tier then says why an ipBlock cannot match it)."""
        key = (code, peer_has_ip)
        out = self._memo.get(key)
        if out is None:
            out = self._memo[key] = self._decide(self._reps[code], peer_has_ip)
        return out

    def _decide(self, rep: int, peer_has_ip: bool, alike: list[int] | None = None) -> tuple[Decision, str]:
        """Walk the side of peer ``rep``; ``alike[0]`` (if given) is narrowed to the peers that
        answer every question of the walk as ``rep`` does, so they share its outcome."""
        bit = 1 << rep
        direction = self.plan.direction

        def rule_match(pol: CompiledClusterPolicy, rule: TierRule) -> Match:
            _, _, sure, maybe = self.entries[self._index[(pol.key, rule.index)]]
            if sure & bit:
                answer, region = Match.YES, sure
            elif maybe & bit:
                answer, region = Match.MAYBE, maybe
            else:
                answer, region = Match.NO, ~(sure | maybe)
            if alike is not None:
                alike[0] &= region
            return answer

        # the NetworkPolicy tier: its first allowing rule for rep, and the peers sharing it
        first, before = None, 0
        for ref, mask in self.np_entries:
            if mask & bit:
                first, region = ref, mask & ~before
                break
            before |= mask
        else:
            region = ~before
        note = ""
        if first is None and not peer_has_ip and self.has_ip_block:
            note = no_ip_note("destination" if direction is Direction.EGRESS else "source")
        if not self.plan.np_isolated:
            state = SideState.NOT_ISOLATED
        else:
            state = SideState.ALLOWED if first is not None else SideState.DENIED

        def np_outcome() -> tuple[Decision, str]:
            if alike is not None:
                alike[0] &= region
            decision = Decision.ALLOW if state is SideState.ALLOWED else Decision.DENY
            return decision, np_text(state, self.isolated_by, first, note)

        result = walk(self.plan, rule_match, np_outcome)
        if result is None:  # the NetworkPolicy tier's own words
            if alike is not None and self.plan.np_isolated:
                alike[0] &= region
            decision = Decision.DENY if state is SideState.DENIED else Decision.ALLOW
            return decision, side_text(direction, state, self.isolated_by, first, note)
        return result.decision, f"{direction}: {tier_text(result)}"
