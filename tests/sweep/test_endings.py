"""Whatever stops the cluster runner, every probe gets a row and the cause is said.

The cluster runner against the in-memory API of conftest.FakeKube: a watch that cannot
go on, a deadline that expires inside an API call, an interrupt, RBAC refusing a call
mid-sweep, an agent that dies. Finished probes stay measured; unfinished ones are
inconclusive with the cause at the head of their detail; ``ending`` says why it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time

from orchestrator.cluster.kube import ApiUnreachable, DeadlinePassed, Gone, RbacRefused
from orchestrator.sweep.compare import Verdict
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.ending import COMPLETED, EndCause, Ending
from orchestrator.sweep.plan import PlanOptions, SourceMode, build_plan
from orchestrator.sweep.run import SweepOptions, execute
from orchestrator.sweep.runner import ClusterRunner
from tests.sweep.conftest import fake_kube_for
from tests.sweep.test_runner import model_answer

META = SweepMeta("ab12cd34", "ghcr.io/kubereach/agent:0.1.0")
ALL_SCOPES = PlanOptions()


def sweep(snapshot, kube, *, opts=ALL_SCOPES, meta=META, deadline_s=30.0, during=None):
    """Run the whole sweep; ``during(runner)`` runs beside it (an interrupt, say)."""

    async def main():
        runner = ClusterRunner(kube, max_agents=4, deadline=time.monotonic() + deadline_s)
        side = asyncio.ensure_future(during(runner)) if during else None
        result = await execute(snapshot, runner, meta, SweepOptions(plan=opts, settle_s=0))
        if side:
            await side
        await runner.close()
        return result

    return asyncio.run(main())


def test_a_watch_that_loses_the_api_server_ends_the_sweep_at_once_with_the_cause(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.never_finish.update(p.name for p in demo_snapshot.pods)  # agents that would run to the deadline
    kube.watch_error = ApiUnreachable(
        "cannot reach the API server at https://fake (watch pods in namespace shop-frontend): connection refused",
        cause="connection refused",
    )
    started = time.monotonic()
    result = sweep(demo_snapshot, kube, deadline_s=60)
    assert time.monotonic() - started < 10  # not the 60 s deadline
    assert result.ending.cause is EndCause.API_UNREACHABLE and result.ending.label == "api-unreachable"
    assert {r.verdict for r in result.rows} == {Verdict.INCONCLUSIVE}
    assert all(r.reason.endswith("not measured: api-unreachable: connection refused") for r in result.rows)
    assert {r.evidence for r in result.rows} == {"api-unreachable"}
    assert result.exit_code == 3


def test_a_deadline_that_expires_inside_an_api_call_keeps_what_finished(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    patch = kube.add_ephemeral_container

    def slow_then_late(ns, pod, container):
        if pod == "web-2":
            raise DeadlinePassed("deadline passed before patch pods/ephemeralcontainers in namespace shop-frontend")
        return patch(ns, pod, container)

    kube.add_ephemeral_container = slow_then_late
    result = sweep(demo_snapshot, kube, opts=PlanOptions(intrapod=False))
    assert result.ending.cause is EndCause.DEADLINE
    by_source = {}
    for r in result.rows:
        by_source.setdefault(r.job.source, set()).add(r.verdict)
    assert by_source["shop-frontend/web-2"] == {Verdict.INCONCLUSIVE}
    measured = [s for s, v in by_source.items() if v == {Verdict.OK}]
    assert measured, "agents that finished before the deadline keep their results"
    late = [r for r in result.rows if r.verdict is Verdict.INCONCLUSIVE]
    assert all("not measured: deadline: the sweep deadline passed" in r.reason for r in late)
    assert result.exit_code == 3


def test_an_interrupt_stops_waiting_at_once_and_keeps_finished_probes(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.never_finish.add("postgres-0")

    async def ctrl_c(runner):
        while len([c for c in kube.calls if c[0] == "get"]) < len(plan.agents) - 1:
            await asyncio.sleep(0.01)  # every other agent's log was read
        runner.request_stop(Ending(EndCause.INTERRUPTED, "SIGINT"))

    started = time.monotonic()
    result = sweep(demo_snapshot, kube, opts=PlanOptions(intrapod=False), deadline_s=120, during=ctrl_c)
    assert time.monotonic() - started < 10
    assert result.ending.label == "interrupted (SIGINT)"
    stuck = [r for r in result.rows if r.job.source == "shop-data/postgres-0"]
    assert stuck and {r.verdict for r in stuck} == {Verdict.INCONCLUSIVE}
    assert all("interrupted: SIGINT arrived before this probe's agent finished" in r.reason for r in stuck)
    rest = [r for r in result.rows if r.job.source != "shop-data/postgres-0"]
    assert rest and {r.verdict for r in rest} == {Verdict.OK}
    assert result.exit_code == 3


def test_rbac_refusing_a_call_mid_sweep_ends_it_with_exit_2_and_keeps_the_rest(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    patch = kube.add_ephemeral_container
    message = 'RBAC refused: cannot patch pods/ephemeralcontainers (apiGroup "" (core)) in namespace shop-data: no'

    def refuse_in_shop_data(ns, pod, container):
        if ns == "shop-data":
            raise RbacRefused(message)
        return patch(ns, pod, container)

    kube.add_ephemeral_container = refuse_in_shop_data
    result = sweep(demo_snapshot, kube, opts=PlanOptions(intrapod=False))
    assert result.ending.cause is EndCause.RBAC_REFUSED and message in result.ending.message
    assert result.exit_code == 2
    refused = [r for r in result.rows if r.job.source.startswith("shop-data/")]
    assert refused and all("not measured: rbac-refused: RBAC refused" in r.reason for r in refused)


def test_an_agent_that_dies_is_agent_died_with_its_exit_code_and_the_sweep_goes_on(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.never_finish.add("web-1")  # it starts, then the kernel kills it
    patch = kube.add_ephemeral_container

    def killed(ns, pod, container):
        out = patch(ns, pod, container)
        if pod == "web-1":
            kube.logs[(ns, pod, container["name"])] = "agent starting\nKilled\n"
            for status in kube.pods[(ns, pod)]["status"]["ephemeralContainerStatuses"]:
                status["state"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
            kube._event("MODIFIED", ns, kube.pods[(ns, pod)])
        return out

    kube.add_ephemeral_container = killed
    result = sweep(demo_snapshot, kube, opts=PlanOptions(intrapod=False))
    assert result.ending == COMPLETED
    dead = [r for r in result.rows if r.job.source == "shop-frontend/web-1"]
    assert dead and {r.evidence for r in dead} == {"agent-died"}
    died = "agent-died: the agent printed no result document (exit code 137, OOMKilled): "
    assert all(died in r.reason for r in dead)
    assert {r.verdict for r in result.rows if r.job.source != "shop-frontend/web-1"} == {Verdict.OK}
    assert result.exit_code == 3


def test_a_410_on_the_watch_relists_and_still_sees_every_agent_finish(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    watch = kube.watch_pods
    gone_once = {"shop-frontend", "shop-data"}

    def expired(ns, **kw):
        if ns in gone_once:
            gone_once.discard(ns)
            raise Gone("watch pods: 410 Expired: too old resource version", status=410)
        return watch(ns, **kw)

    kube.watch_pods = expired
    relists = []
    listed = kube.list_pods_versioned
    kube.list_pods_versioned = lambda ns=None, **kw: relists.append(ns) or listed(ns, **kw)
    result = sweep(demo_snapshot, kube)
    assert {r.verdict for r in result.rows} == {Verdict.OK} and result.ending == COMPLETED
    assert sorted(relists) == ["shop-data", "shop-frontend"]


def test_a_watch_the_server_ends_is_resumed_from_the_last_resource_version(demo_snapshot):
    """The server closes every watch after window_s (here 1 s, the request timeout); an agent
    that finishes later is still seen, and no event is replayed from the start."""
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.request_timeout = 1.0
    kube.never_finish.add("redis-0")
    starts: list[tuple[str, int]] = []
    watch = kube.watch_pods

    def recording(ns, *, resource_version, **kw):
        starts.append((ns, int(resource_version)))
        return watch(ns, resource_version=resource_version, **kw)

    kube.watch_pods = recording

    async def finish_redis_late(runner):
        await asyncio.sleep(2.5)  # after two server-side timeouts of its namespace's watch
        pod = kube.pods[("shop-data", "redis-0")]
        name = pod["status"]["ephemeralContainerStatuses"][0]["name"]
        kube.never_finish.discard("redis-0")
        kube._run_agent("shop-data", "redis-0", name, pod["spec"]["ephemeralContainers"][0]["command"])
        pod["status"]["ephemeralContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}
        kube._event("MODIFIED", "shop-data", pod)

    result = sweep(demo_snapshot, kube, opts=PlanOptions(intrapod=False), during=finish_redis_late)
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    data = [rv for ns, rv in starts if ns == "shop-data"]
    assert len(data) >= 3 and data == sorted(data) and data[-1] > data[0]


def test_cleanup_waits_for_a_create_in_flight_so_an_interrupt_leaves_no_probe_pod(demo_snapshot):
    from dataclasses import replace

    opts = PlanOptions(source_mode=SourceMode.POD, intrapod=False)
    plan = build_plan(demo_snapshot, opts)
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    before = set(kube.pods)
    create = kube.create_pod

    def slow_create(ns, body):
        time.sleep(0.5)  # the interrupt arrives while this create is on the wire
        return create(ns, body)

    kube.create_pod = slow_create

    async def interrupt(runner):
        while not any(c[:2] == ("create", "pods") for c in kube.calls):
            await asyncio.sleep(0.01)
        runner.request_stop(Ending(EndCause.INTERRUPTED, "SIGTERM"))

    result = sweep(demo_snapshot, kube, opts=opts, meta=replace(META, source_mode=SourceMode.POD), during=interrupt)
    assert result.ending.label == "interrupted (SIGTERM)"
    assert set(kube.pods) == before and kube.configmaps == {}


def test_ending_words_are_what_the_results_say():
    assert Ending(EndCause.INTERRUPTED, "SIGTERM").label == "interrupted (SIGTERM)"
    assert Ending(EndCause.INTERRUPTED, "SIGTERM").sentence() == "Ended: interrupted (SIGTERM)"
    message = "cannot reach the API server at x: connection refused"
    gone = Ending(EndCause.API_UNREACHABLE, "connection refused", message)
    assert gone.unfinished() == "api-unreachable: connection refused"
    assert gone.sentence() == "Ended: api-unreachable: cannot reach the API server at x: connection refused"
    assert COMPLETED.sentence() == "Ended: completed" and COMPLETED.completed
    assert json.dumps(Ending(EndCause.DEADLINE).label) == '"deadline"'
