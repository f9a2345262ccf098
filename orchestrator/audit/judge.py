"""The intent against predictions: each row's intended verdict, the tally, and the words
``explain`` adds for a violating cell (which policy rule opens or closes it).

Rows are ``predict``'s (``ExpectedRow``/``IntraPodRow`` tuples); intra-pod rows are
outside the intent (it speaks of pods), so they are ``unspecified``. The sweep compares
*observed* reachability with the same :class:`~orchestrator.audit.intent.IntentIndex`
(:func:`orchestrator.sweep.compare.apply_intent`).

Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.audit.intent import Intended, Intent, IntentIndex, IntentVerdict, Match, intent_verdict
from orchestrator.model.matrix import ExpectedMatrix
from orchestrator.model.verdict import Decision, SideState, SideVerdict, Verdict
from orchestrator.snapshot.types import Snapshot
from probe.schema import Protocol

Row = tuple[str, str, int, Protocol, Decision, str]


def judge(rows: Iterable[Row], index: IntentIndex) -> Iterator[tuple[Row, Intended, IntentVerdict]]:
    """Each row with its intended verdict and the comparison, in the rows' order.

    Per (source, port) the intent is one pair of bitsets (:meth:`IntentIndex.row`), so a
    row costs a few dictionary lookups, not a walk over the rules."""
    position = index.index
    for row in rows:
        source, destination, port, protocol, decision, _ = row
        s, d = position.get(source), position.get(destination)
        if s is None or d is None:
            intended = Intended.UNSPECIFIED
        else:
            allowed, denied = index.row(s, port, protocol)
            intended = (
                Intended.ALLOW if allowed >> d & 1 else Intended.DENY if denied >> d & 1 else Intended.UNSPECIFIED
            )
        yield row, intended, intent_verdict(intended, decision is Decision.ALLOW)


# Violating rows kept for the table (the count covers them all; -o csv lists every one).
KEPT = 1_000


@dataclass
class Tally:
    """Counts per intent verdict, and the first violating rows (for the table and stderr)."""

    counts: Counter[IntentVerdict] = field(default_factory=Counter)
    violations: list[tuple[Row, IntentVerdict]] = field(default_factory=list)

    def add(self, row: Row, verdict: IntentVerdict) -> None:
        self.counts[verdict] += 1
        if verdict.violation and len(self.violations) < KEPT:
            self.violations.append((row, verdict))

    @property
    def violation_count(self) -> int:
        return self.counts[IntentVerdict.VIOLATION_OPEN] + self.counts[IntentVerdict.VIOLATION_CLOSED]

    @property
    def violated(self) -> bool:
        return bool(self.violation_count)

    def line(self, name: str) -> str:
        """``intent shop: 3 violations (3 violation-open), 74 ok, 11 unspecified``."""
        n = self.violation_count
        kinds = ", ".join(
            f"{self.counts[v]} {v}"
            for v in (IntentVerdict.VIOLATION_OPEN, IntentVerdict.VIOLATION_CLOSED)
            if self.counts[v]
        )
        rest = ", ".join(
            f"{self.counts[v]} {v}"
            for v in (IntentVerdict.OK, IntentVerdict.UNSPECIFIED, IntentVerdict.INCONCLUSIVE)
            if self.counts[v]
        )
        head = f"{n} violation{'s' if n != 1 else ''}" + (f" ({kinds})" if kinds else "")
        return f"intent {name}: {head}" + (f", {rest}" if rest else "")


def _bits_at(mask: int, n: int, positions: Any) -> Any:
    """Bit ``positions[j]`` of ``mask``, for each j, as a numpy array of 0/1."""
    text = bin(mask)[:1:-1].ljust(n, "0").encode()
    return (np.frombuffer(text, dtype=np.uint8) - 48)[positions]


_INTENDED = {0: Intended.UNSPECIFIED, 1: Intended.ALLOW, 2: Intended.DENY}


def judge_matrix(matrix: ExpectedMatrix, index: IntentIndex) -> Iterator[tuple[Any, int, Any]]:
    """The fast path for the compact expected matrix: per (port block, source) one code per
    destination position, ``class * 4 + intended`` (intended: 0 unspecified, 1 allow, 2 deny).

    A code fixes the row's decision, reason and intended verdict, so renderers map codes to
    text with one dictionary lookup per cell and count them with numpy: no row objects."""
    n = len(index.pods)
    for block in matrix.blocks():
        positions = np.asarray(block.dests, dtype=np.intp)
        for s in range(len(matrix.sources)):
            allowed, denied = index.row(s, block.port, block.protocol)
            intended = _bits_at(allowed, n, positions) + 2 * _bits_at(denied, n, positions)
            yield block, s, np.asarray(block.row(s), dtype=np.int64) * 4 + intended


def code_verdict(matrix: ExpectedMatrix, block: Any, code: int) -> tuple[Intended, IntentVerdict]:
    intended = _INTENDED[code & 3]
    return intended, intent_verdict(intended, matrix.decision(block, code >> 2) is Decision.ALLOW)


def tally_matrix(matrix: ExpectedMatrix, index: IntentIndex, tally: Tally) -> None:
    """Count the matrix's intent verdicts into ``tally`` (and keep the first violations)."""
    memo: dict[tuple[int, int], IntentVerdict] = {}
    for block, s, codes in judge_matrix(matrix, index):
        values, counts = np.unique(codes, return_counts=True)
        bad = []
        for code, count in zip(values.tolist(), counts.tolist(), strict=True):
            verdict = memo.get((id(block), code))
            if verdict is None:
                verdict = memo[(id(block), code)] = code_verdict(matrix, block, code)[1]
            tally.counts[verdict] += count
            if verdict.violation:
                bad.append(code)
        room = KEPT - len(tally.violations)
        if bad and room > 0:  # the first violations in row order, as the row-by-row path keeps them
            row_codes = codes.tolist()
            for j in np.flatnonzero(np.isin(codes, bad))[:room].tolist():
                cls = row_codes[j] >> 2
                row = (
                    matrix.sources[s],
                    block.dest_keys[j],
                    block.port,
                    block.protocol,
                    matrix.decision(block, cls),
                    matrix.reason(block, cls),
                )
                tally.violations.append((row, memo[(id(block), row_codes[j])]))


def tallied(
    judged: Iterable[tuple[Row, Intended, IntentVerdict]], tally: Tally
) -> Iterator[tuple[Row, Intended, IntentVerdict]]:
    """Pass the judged rows through, counting them into ``tally`` (one pass for streaming output)."""
    for item in judged:
        tally.add(item[0], item[2])
        yield item


def _side_words(side: SideVerdict) -> str:
    if side.state is SideState.HOST_NETWORK:
        return f"{side.direction} of {side.pod}: host-network pod, policies do not apply"
    if side.state is SideState.NOT_ISOLATED:
        return (
            f"{side.direction} of {side.pod}: not isolated (no NetworkPolicy selects it with policyType "
            f"{side.direction.policy_type})"
        )
    if side.allowed:
        return f"{side.direction} of {side.pod}: allowed by " + ", ".join(map(str, side.allowed_by))
    return f"{side.direction} of {side.pod}: isolated by {', '.join(side.isolated_by)} and no rule allows it"


def explain_intent(verdict: Verdict, match: Match, source: str) -> str:
    """The intent's view of one connection, and for a violation the side(s) responsible."""
    result = intent_verdict(match.intended, verdict.allowed)
    decided = match.statement.label if match.statement else "the default (no rule matches)"
    if verdict.same_pod:
        return f"  intent ({source}): unspecified (a pod reaching itself is outside the intent)\n"
    lines = [f"  intent ({source}): {match.intended} by {decided} -> {result.upper()}"]
    if match.statement is not None:
        lines.append(f"    {match.statement.label}: {match.statement.describe()}")
    if result is IntentVerdict.VIOLATION_OPEN:
        lines.append("    it is open because both sides allow it:")
        lines += [f"      {_side_words(side)}" for side in (verdict.egress, verdict.ingress)]
        free = [s for s in (verdict.egress, verdict.ingress) if s.state is SideState.NOT_ISOLATED]
        if free:
            lines.append(
                f"    to close it, isolate {free[0].pod} for {free[0].direction} with a policy that does not admit "
                "this (kubereach suggest --intent writes one)"
            )
        else:
            lines.append("    to close it, narrow one of those allowing rules (both sides are isolated)")
    elif result is IntentVerdict.VIOLATION_CLOSED:
        lines.append("    it is closed by:")
        lines += [f"      {_side_words(side)}" for side in (verdict.egress, verdict.ingress) if not side.allowed]
    return "\n".join(lines) + "\n"


def explain_intent_connection(snapshot: Snapshot, intent: Intent, src: str, dst: str, port: str) -> str:
    """What ``explain --intent`` adds after the policy explanation of one connection."""
    if src.count("/") != 1 or dst.count("/") != 1:
        return f"  intent ({intent.source}): unspecified (the intent speaks of pods, not containers)\n"
    from orchestrator.model.evaluate import PolicyModel
    from orchestrator.predict import pod_connection

    model = PolicyModel(snapshot)
    verdict, _ = pod_connection(model, src, dst, port)
    match = IntentIndex(intent, snapshot).cell(src, dst, verdict.port, verdict.protocol)
    return explain_intent(verdict, match, intent.source)
