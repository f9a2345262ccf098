"""Observed vs expected: the verdict of every probe, and the sweep's exit status.

Pure: plain values in, rows out; no I/O, no clocks, no Kubernetes client.

* ``open`` and ``closed`` mean packets reached the destination's stack: observed allow;
  ``filtered`` and ``unreachable``: observed deny; ``error``: inconclusive (DESIGN.md).
* Intra-pod enforcement rejects denied TCP with a RST and denied UDP with ICMP port
  unreachable, so for ``intra-pod`` rows ``closed`` means denied. A CNI that rejects
  with RST makes ``closed`` ambiguous for pod rows too; ``--closed-means-denied``
  extends the same reading to them.
* A probe that did not measure is ``inconclusive``, never ``ok``.
* With a reachability intent (``sweep --intent``), each row also compares what was
  *observed* with what is intended (:func:`apply_intent`): ``intended`` and
  ``intent_verdict``; a violation makes the sweep exit 1 like a mismatch.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from orchestrator.audit.intent import Intended, IntentVerdict, intent_verdict
from orchestrator.errors import EXIT_INCOMPLETE, EXIT_MISMATCH, EXIT_OK
from orchestrator.model.verdict import Decision
from orchestrator.sweep.plan import ProbeJob, Scope
from probe.schema import ProbeState, Protocol

PROBES_COLUMNS = (
    "source",
    "destination",
    "port",
    "protocol",
    "scope",
    "expected",
    "observed",
    "state",
    "verdict",
    "evidence",
    "latency_ms",
    "reason",
    "confirmed",
)
INTENT_COLUMNS = ("intended", "intent_verdict")  # appended when the sweep has an intent


class Observed(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    INCONCLUSIVE = "inconclusive"


class Verdict(enum.StrEnum):
    OK = "ok"
    UNEXPECTED_ALLOW = "unexpected-allow"  # policy says deny, traffic passed: a hole
    UNEXPECTED_DENY = "unexpected-deny"  # policy says allow, traffic blocked: an outage
    INCONCLUSIVE = "inconclusive"

    @property
    def mismatch(self) -> bool:
        return self in (Verdict.UNEXPECTED_ALLOW, Verdict.UNEXPECTED_DENY)


class Confirmed(enum.StrEnum):
    """Whether a mismatch was seen again after ``--settle`` seconds."""

    NOT_NEEDED = ""  # matched the first time
    YES = "yes"  # mismatch seen twice
    NO = "no"  # the re-probe disagreed: the row shows the re-probe
    NOT_REPROBED = "not-reprobed"  # --settle disabled, or the re-probe did not measure


@dataclass(frozen=True, slots=True)
class Expectation:
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What the agent saw for one job (or why it could not see anything)."""

    state: ProbeState
    evidence: str = ""
    latency_ms: float | None = None
    detail: str | None = None
    method_used: str | None = None
    attempts: int | None = None


@dataclass(frozen=True, slots=True)
class CompareOptions:
    closed_means_denied: frozenset[Scope] = frozenset({Scope.INTRA_POD})


@dataclass(frozen=True, slots=True)
class Row:
    job: ProbeJob
    expected: Decision
    observed: Observed
    state: ProbeState
    verdict: Verdict
    evidence: str
    latency_ms: float | None
    reason: str
    confirmed: Confirmed = Confirmed.NOT_NEEDED
    intended: Intended | None = None  # set by apply_intent
    intent_verdict: IntentVerdict | None = None

    def as_record(self) -> dict[str, object]:
        """One probes.csv row, in PROBES_COLUMNS order (then INTENT_COLUMNS, with an intent)."""
        j = self.job
        intent = (
            {"intended": str(self.intended), "intent_verdict": str(self.intent_verdict)}
            if self.intended is not None
            else {}
        )
        return {
            "source": j.source,
            "destination": j.destination,
            "port": j.port,
            "protocol": str(j.protocol),
            "scope": str(j.scope),
            "expected": str(self.expected),
            "observed": str(self.observed),
            "state": str(self.state),
            "verdict": str(self.verdict),
            "evidence": self.evidence,
            "latency_ms": "" if self.latency_ms is None else round(self.latency_ms, 3),
            "reason": self.reason,
            "confirmed": str(self.confirmed),
            **intent,
        }


def observed_of(state: ProbeState, scope: Scope, options: CompareOptions = CompareOptions()) -> Observed:
    if state is ProbeState.CLOSED and scope in options.closed_means_denied:
        return Observed.DENY
    passed = state.passed
    if passed is None:
        return Observed.INCONCLUSIVE
    return Observed.ALLOW if passed else Observed.DENY


def verdict_of(expected: Decision, observed: Observed) -> Verdict:
    if observed is Observed.INCONCLUSIVE:
        return Verdict.INCONCLUSIVE
    if expected is Decision.ALLOW:
        return Verdict.OK if observed is Observed.ALLOW else Verdict.UNEXPECTED_DENY
    return Verdict.OK if observed is Observed.DENY else Verdict.UNEXPECTED_ALLOW


MISSING = Observation(ProbeState.ERROR, "not-measured", detail="no result for this probe")


def compare_job(
    job: ProbeJob, expectation: Expectation, observation: Observation | None, options: CompareOptions = CompareOptions()
) -> Row:
    obs = observation or MISSING
    observed = observed_of(obs.state, job.scope, options)
    reason = expectation.reason
    if observed is Observed.INCONCLUSIVE and obs.detail:
        reason = f"{reason}; not measured: {obs.detail}" if reason else f"not measured: {obs.detail}"
    return Row(
        job,
        expectation.decision,
        observed,
        obs.state,
        verdict_of(expectation.decision, observed),
        obs.evidence,
        obs.latency_ms,
        reason,
    )


def compare(
    jobs: Sequence[ProbeJob],
    expectations: Mapping[str, Expectation],
    observations: Mapping[str, Observation],
    options: CompareOptions = CompareOptions(),
) -> list[Row]:
    """One row per job, in job order; a job without an observation is inconclusive."""
    return [compare_job(j, expectations[j.id], observations.get(j.id), options) for j in jobs]


def confirm(first: Sequence[Row], second: Mapping[str, Row] | None) -> list[Row]:
    """Merge a re-probe of the mismatching rows into the first round.

    ``second`` maps job id -> re-probed row (None: no re-probe happened). A mismatch seen
    again is ``confirmed: yes``; a re-probe that disagrees replaces the row (``no``) and
    says so in ``reason``; a re-probe that did not measure keeps the first row.
    """
    out = []
    for row in first:
        if not row.verdict.mismatch:
            out.append(row)
            continue
        again = None if second is None else second.get(row.job.id)
        if again is None:
            out.append(replace(row, confirmed=Confirmed.NOT_REPROBED))
        elif again.verdict is Verdict.INCONCLUSIVE:
            out.append(
                replace(
                    row,
                    confirmed=Confirmed.NOT_REPROBED,
                    reason=f"{row.reason}; the re-probe did not measure: "
                    f"{again.reason.rpartition('not measured: ')[2]}",
                )
            )
        elif again.verdict == row.verdict:
            out.append(replace(again, confirmed=Confirmed.YES))
        else:
            out.append(
                replace(
                    again,
                    confirmed=Confirmed.NO,
                    reason=f"{again.reason}; first probe saw {row.state} ({row.verdict}), "
                    f"the re-probe saw {again.state}",
                )
            )
    return out


IntendedOf = Callable[[str, str, int, Protocol], Intended]


def job_intended(job: ProbeJob, intended_of: IntendedOf) -> Intended:
    """The intended verdict of one probe: a pod row's cell; a service row's backends when
    they all agree (kube-proxy picks one), else unspecified; intra-pod rows are outside
    the intent (it speaks of pods)."""
    if job.scope is Scope.POD:
        return intended_of(job.source_pod, job.destination_pod, job.port, job.protocol)
    if job.scope is Scope.SERVICE and job.backends:
        found = {intended_of(job.source_pod, backend, port, job.protocol) for backend, port in job.backends}
        return found.pop() if len(found) == 1 else Intended.UNSPECIFIED
    return Intended.UNSPECIFIED


def apply_intent(rows: Iterable[Row], intended_of: IntendedOf) -> list[Row]:
    """Each row with ``intended`` and ``intent_verdict``: observed reachability against the
    intent (an inconclusive observation is an inconclusive comparison, never ok)."""
    out = []
    for row in rows:
        intended = job_intended(row.job, intended_of)
        allowed = None if row.observed is Observed.INCONCLUSIVE else row.observed is Observed.ALLOW
        out.append(replace(row, intended=intended, intent_verdict=intent_verdict(intended, allowed)))
    return out


def intent_violations(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.intent_verdict is not None and r.intent_verdict.violation]


def mismatching(rows: Iterable[Row]) -> list[str]:
    return [r.job.id for r in rows if r.verdict.mismatch]


def exit_status(rows: Iterable[Row], *, complete: bool = True) -> int:
    """0 every probe ok; 1 any unexpected-* or intent violation; 3 incomplete, any
    inconclusive, or no probe at all.

    A mismatch (or a violated intent) outranks an incomplete run: a hole found is the
    more urgent news, and the summary still says the run was incomplete.
    """
    rows = list(rows)
    if not rows:
        return EXIT_INCOMPLETE  # nothing measured is not a pass (a typo in -n or --from?)
    verdicts = {r.verdict for r in rows}
    if any(v.mismatch for v in verdicts) or intent_violations(rows):
        return EXIT_MISMATCH
    if not complete or Verdict.INCONCLUSIVE in verdicts:
        return EXIT_INCOMPLETE
    return EXIT_OK
