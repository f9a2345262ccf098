"""``apply_intent``: observed reachability against the intent, row by row (pure)."""

from __future__ import annotations

from orchestrator.audit.intent import Intended, IntentVerdict
from orchestrator.model.verdict import Decision
from orchestrator.sweep.compare import Observed, Row, Verdict, apply_intent, exit_status
from orchestrator.sweep.plan import ProbeJob, Scope
from probe.schema import Method, ProbeState, Protocol


def row(scope=Scope.POD, observed=Observed.ALLOW, backends=(), source="a/x", destination="b/y"):
    job = ProbeJob(
        "j", scope, source, destination, "10.0.0.1", 80, Protocol.TCP, Method.CONNECT, "a/x", "b/y", None, backends
    )
    state = {Observed.ALLOW: ProbeState.OPEN, Observed.DENY: ProbeState.FILTERED}.get(observed, ProbeState.ERROR)
    return Row(job, Decision.ALLOW, observed, state, Verdict.OK, "", None, "")


def test_pod_rows_compare_observed_with_the_intent():
    deny = {("a/x", "b/y"): Intended.DENY}

    def intended(src, dst, port, proto):
        return deny.get((src, dst), Intended.UNSPECIFIED)

    (open_,) = apply_intent([row()], intended)
    assert (open_.intended, open_.intent_verdict) == (Intended.DENY, IntentVerdict.VIOLATION_OPEN)
    assert open_.as_record()["intent_verdict"] == "violation-open"
    (unmeasured,) = apply_intent([row(observed=Observed.INCONCLUSIVE)], intended)
    assert unmeasured.intent_verdict is IntentVerdict.INCONCLUSIVE
    assert exit_status([open_]) == 1 and exit_status([row()]) == 0


def test_service_rows_take_their_backends_verdict_when_they_agree_and_intrapod_rows_are_unspecified():
    def intended(src, dst, port, proto):
        return Intended.DENY if dst == "b/one" else Intended.ALLOW

    (agree,) = apply_intent([row(Scope.SERVICE, backends=(("b/one", 8080),))], intended)
    assert agree.intended is Intended.DENY
    (differ,) = apply_intent([row(Scope.SERVICE, backends=(("b/one", 8080), ("b/two", 8080)))], intended)
    assert differ.intended is Intended.UNSPECIFIED
    (intra,) = apply_intent([row(Scope.INTRA_POD, source="a/x/c1", destination="a/x/c2")], intended)
    assert intra.intent_verdict is IntentVerdict.UNSPECIFIED
    assert "intended" not in row().as_record()  # no intent: the columns of DESIGN.md only
