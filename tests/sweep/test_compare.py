"""Compare: observed state x expected decision -> verdict, confirmation, exit status."""

from __future__ import annotations

import pytest

from orchestrator.sweep.compare import (
    CompareOptions,
    Confirmed,
    Decision,
    Expectation,
    Observation,
    Observed,
    Verdict,
    compare,
    compare_job,
    confirm,
    exit_status,
    observed_of,
    verdict_of,
)
from orchestrator.sweep.plan import ProbeJob, Scope
from probe.schema import Method, ProbeState, Protocol

S = ProbeState


def job(i=1, scope=Scope.POD):
    return ProbeJob(
        f"j{i}", scope, "a/src", f"a/dst{i}", "10.0.0.2", 80, Protocol.TCP, Method.CONNECT, "a/src", "a/dst"
    )


@pytest.mark.parametrize(
    "state,observed",
    [
        (S.OPEN, Observed.ALLOW),
        (S.CLOSED, Observed.ALLOW),
        (S.FILTERED, Observed.DENY),
        (S.UNREACHABLE, Observed.DENY),
        (S.ERROR, Observed.INCONCLUSIVE),
    ],
)
def test_pod_rows_read_states_as_design_md_says(state, observed):
    assert observed_of(state, Scope.POD) is observed


def test_intrapod_rows_read_closed_as_denied_because_the_rules_reject_with_rst():
    assert observed_of(S.CLOSED, Scope.INTRA_POD) is Observed.DENY
    assert observed_of(S.OPEN, Scope.INTRA_POD) is Observed.ALLOW


def test_closed_means_denied_extends_to_pod_rows():
    opts = CompareOptions(frozenset({Scope.POD, Scope.INTRA_POD}))
    assert observed_of(S.CLOSED, Scope.POD, opts) is Observed.DENY


@pytest.mark.parametrize(
    "expected,observed,verdict",
    [
        (Decision.ALLOW, Observed.ALLOW, Verdict.OK),
        (Decision.DENY, Observed.DENY, Verdict.OK),
        (Decision.DENY, Observed.ALLOW, Verdict.UNEXPECTED_ALLOW),
        (Decision.ALLOW, Observed.DENY, Verdict.UNEXPECTED_DENY),
        (Decision.ALLOW, Observed.INCONCLUSIVE, Verdict.INCONCLUSIVE),
        (Decision.DENY, Observed.INCONCLUSIVE, Verdict.INCONCLUSIVE),
    ],
)
def test_verdict_table(expected, observed, verdict):
    assert verdict_of(expected, observed) is verdict


def test_a_job_without_observation_is_inconclusive_never_ok():
    [row] = compare([job()], {"j1": Expectation(Decision.DENY, "denied")}, {})
    assert row.verdict is Verdict.INCONCLUSIVE and row.state is S.ERROR
    assert "not measured" in row.reason


def test_reason_carries_why_a_probe_did_not_measure():
    row = compare_job(
        job(),
        Expectation(Decision.ALLOW, "not isolated"),
        Observation(S.ERROR, "deadline", detail="the pod disappeared"),
    )
    assert row.reason == "not isolated; not measured: the pod disappeared"


def rows_for(states, expected=Decision.DENY):
    jobs = [job(i) for i in range(len(states))]
    return compare(
        jobs,
        {j.id: Expectation(expected, "r") for j in jobs},
        {j.id: Observation(s, str(s)) for j, s in zip(jobs, states, strict=False)},
    )


def test_mismatch_seen_again_is_confirmed():
    first = rows_for([S.OPEN])
    again = {r.job.id: r for r in rows_for([S.OPEN])}
    [row] = confirm(first, again)
    assert (row.verdict, row.confirmed) == (Verdict.UNEXPECTED_ALLOW, Confirmed.YES)


def test_mismatch_that_settles_is_replaced_by_the_reprobe_and_marked_unconfirmed():
    first = rows_for([S.OPEN])
    again = {r.job.id: r for r in rows_for([S.FILTERED])}
    [row] = confirm(first, again)
    assert (row.verdict, row.confirmed, row.state) == (Verdict.OK, Confirmed.NO, S.FILTERED)
    assert "first probe saw open" in row.reason


def test_without_reprobe_mismatches_are_marked_not_reprobed_and_matches_untouched():
    rows = confirm(rows_for([S.OPEN, S.FILTERED]), None)
    assert [r.confirmed for r in rows] == [Confirmed.NOT_REPROBED, Confirmed.NOT_NEEDED]


@pytest.mark.parametrize(
    "states,complete,code",
    [
        ([S.FILTERED, S.UNREACHABLE], True, 0),
        ([S.FILTERED, S.OPEN], True, 1),
        ([S.FILTERED, S.ERROR], True, 3),
        ([S.FILTERED], False, 3),
        ([S.OPEN, S.ERROR], True, 1),
        ([], True, 3),
    ],
)
def test_exit_status(states, complete, code):
    assert exit_status(rows_for(states), complete=complete) == code
