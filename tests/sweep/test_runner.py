"""Runners: every job yields a result; the cluster runner against an in-memory API."""

from __future__ import annotations

import asyncio

from orchestrator.sweep.compare import Decision, Verdict
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.plan import PlanOptions, Scope, SourceMode, build_plan
from orchestrator.sweep.run import SweepOptions, execute, expectations_for
from orchestrator.sweep.runner import ClusterRunner, SimulatedRunner, container_outcome, parse_result_log
from probe.schema import ProbeState
from tests.sweep.conftest import fake_kube_for

META = SweepMeta("ab12cd34", "ghcr.io/kubereach/agent:0.1.0")


def no_sleep(_):
    return asyncio.sleep(0)


def run(coro):
    return asyncio.run(coro)


def model_answer(snapshot, plan):
    """What a perfectly enforcing cluster answers, keyed by (address, port)."""
    exp = expectations_for(snapshot, plan)
    by_target = {}
    for j in plan.jobs:
        state = (
            "open" if exp[j.id].decision is Decision.ALLOW else ("closed" if j.scope is Scope.INTRA_POD else "filtered")
        )
        by_target[(j.address, j.port, j.id)] = state
    return lambda t: by_target[(t["address"], t["port"], t["id"])]


def test_simulated_runner_agrees_with_the_model_everywhere(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    result = run(
        execute(
            demo_snapshot, SimulatedRunner(expectations_for(demo_snapshot, plan)), META, SweepOptions(), sleep=no_sleep
        )
    )
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    assert result.exit_code == 0


def test_injected_discrepancies_are_flagged_exactly_with_their_direction(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    exp = expectations_for(demo_snapshot, plan)
    deny = next(j for j in plan.jobs if j.scope is Scope.POD and exp[j.id].decision is Decision.DENY)
    allow = next(j for j in plan.jobs if j.scope is Scope.POD and exp[j.id].decision is Decision.ALLOW)
    overrides = {
        (deny.source, deny.destination, deny.port, "TCP"): ProbeState.OPEN,
        (allow.source, allow.destination, allow.port, "TCP"): ProbeState.FILTERED,
    }
    result = run(execute(demo_snapshot, SimulatedRunner(exp, overrides), META, SweepOptions(), sleep=no_sleep))
    flagged = {
        (r.job.source, r.job.destination, r.job.port): r.verdict for r in result.rows if r.verdict is not Verdict.OK
    }
    assert flagged == {
        (deny.source, deny.destination, deny.port): Verdict.UNEXPECTED_ALLOW,
        (allow.source, allow.destination, allow.port): Verdict.UNEXPECTED_DENY,
    }
    assert result.exit_code == 1 and result.reprobed == 2


def test_unmeasured_probes_make_the_sweep_exit_3(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    runner = SimulatedRunner(expectations_for(demo_snapshot, plan), unmeasured=frozenset({plan.jobs[3].id}))
    result = run(execute(demo_snapshot, runner, META, SweepOptions(), sleep=no_sleep))
    assert [r.verdict for r in result.rows].count(Verdict.INCONCLUSIVE) == 1
    assert result.exit_code == 3


class FlappingRunner(SimulatedRunner):
    """Open on the first pass, as the model says on the re-probe: a policy still applying."""

    async def run(self, plan, meta, *, progress=None):
        out = await super().run(plan, meta, progress=progress)
        if meta.round == 0:
            out = {k: type(v)(ProbeState.OPEN, "early") for k, v in out.items()}
        return out


def test_mismatches_are_reprobed_after_settle_and_the_report_says_they_were_not_confirmed(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    slept = []

    async def sleep(s):
        slept.append(s)

    result = run(
        execute(
            demo_snapshot,
            FlappingRunner(expectations_for(demo_snapshot, plan)),
            META,
            SweepOptions(settle_s=3),
            sleep=sleep,
        )
    )
    assert slept == [3]
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    assert {str(r.confirmed) for r in result.rows} == {"", "no"}
    assert result.exit_code == 0


def test_cluster_runner_ephemeral_mode_one_patch_and_one_log_per_agent(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    runner = ClusterRunner(kube, max_agents=4)
    result = run(execute(demo_snapshot, runner, META, SweepOptions(), sleep=no_sleep))
    assert {r.verdict for r in result.rows} == {Verdict.OK}, [r for r in result.rows if r.verdict is not Verdict.OK][:3]
    calls = [(v, r) for v, r, _ in kube.calls]
    assert calls.count(("patch", "pods/ephemeralcontainers")) == len(plan.agents)
    assert calls.count(("get", "pods/log")) == len(plan.agents)
    assert calls.count(("create", "configmaps")) == len(plan.namespaces)
    run(runner.close())
    assert kube.configmaps == {}


def test_cluster_runner_pod_mode_creates_owned_probe_pods_and_deletes_them(demo_snapshot):
    from dataclasses import replace

    opts = PlanOptions(source_mode=SourceMode.POD)
    plan = build_plan(demo_snapshot, opts)
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    before = set(kube.pods)
    runner = ClusterRunner(kube)
    result = run(
        execute(
            demo_snapshot, runner, replace(META, source_mode=SourceMode.POD), SweepOptions(plan=opts), sleep=no_sleep
        )
    )
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    created = set(kube.pods) - before
    assert len(created) == len(plan.agents)
    for key in created:
        ref = kube.pods[key]["metadata"]["ownerReferences"][0]
        assert ref["uid"] == kube.configmaps[(key[0], ref["name"])]["metadata"]["uid"]
    deleted = run(runner.close())
    assert set(kube.pods) == before and kube.configmaps == {}
    assert len(deleted) == len(plan.agents) + len(plan.namespaces)


def test_a_pod_that_disappears_makes_its_probes_inconclusive_and_the_sweep_goes_on(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.fail_patch.add("web-1")
    result = run(execute(demo_snapshot, ClusterRunner(kube), META, SweepOptions(), sleep=no_sleep))
    bad = {r.job.source for r in result.rows if r.verdict is Verdict.INCONCLUSIVE}
    assert bad == {"shop-frontend/web-1"}
    assert all(r.verdict is Verdict.OK for r in result.rows if r.job.source != "shop-frontend/web-1")
    assert result.exit_code == 3


def test_an_agent_that_never_finishes_is_cut_by_the_sweep_deadline(demo_snapshot):
    import time

    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.never_finish.add("web-2")
    runner = ClusterRunner(kube, deadline=time.monotonic() + 1.0)
    started = time.monotonic()
    result = run(execute(demo_snapshot, runner, META, SweepOptions(), sleep=no_sleep))
    assert time.monotonic() - started < 5
    bad = {r.job.source for r in result.rows if r.verdict is Verdict.INCONCLUSIVE}
    assert bad == {"shop-frontend/web-2"}
    assert result.exit_code == 3


def test_parse_result_log_finds_the_document_among_stderr_lines():
    from orchestrator.snapshot import load_manifests

    plan = build_plan(load_manifests(["manifests/demo"]), PlanOptions())
    agent = plan.agents[0]
    import json

    doc = {
        "kind": "KubereachProbeResult",
        "version": 1,
        "notes": ["syn needs NET_RAW"],
        "results": [
            {
                "id": j.id,
                "state": "filtered",
                "evidence": "timeout",
                "method": "connect",
                "method_used": "connect",
                "latency_ms": 1000.0,
            }
            for j in agent.jobs[1:]
        ],
    }
    obs, notes = parse_result_log(agent, "warn: x\n" + json.dumps(doc) + "\nbye\n")
    assert obs[agent.jobs[0].id].state is ProbeState.ERROR
    assert all(obs[j.id].state is ProbeState.FILTERED for j in agent.jobs[1:])
    assert notes == [f"{agent.identity.key}: syn needs NET_RAW"]
    obs, _ = parse_result_log(agent, "Traceback: boom\n", exit_info="exit code 1")
    assert "no result document (exit code 1): Traceback: boom" in obs[agent.jobs[0].id].detail


def test_container_outcome_reads_ephemeral_and_pod_statuses():
    eph = {
        "status": {
            "phase": "Running",
            "ephemeralContainerStatuses": [
                {"name": "kr-1-0", "state": {"terminated": {"exitCode": 0}}},
                {"name": "kr-1-1", "state": {"waiting": {"reason": "InvalidImageName", "message": "bad"}}},
            ],
        }
    }
    assert container_outcome(eph, "kr-1-0", ephemeral=True)[0] == "done"
    assert container_outcome(eph, "kr-1-1", ephemeral=True)[0] == "failed"
    assert container_outcome(eph, "kr-1-2", ephemeral=True)[0] == "running"
    assert container_outcome(None, "x", ephemeral=True)[0] == "gone"
    done = {"status": {"phase": "Failed", "reason": "DeadlineExceeded"}}
    assert container_outcome(done, "agent", ephemeral=False) == ("done", "pod Failed: DeadlineExceeded")


def syn_plan_and_kube(demo_snapshot, refuse):
    from dataclasses import replace

    from orchestrator.sweep.selection import PodSelector
    from probe.schema import Method

    opts = PlanOptions(method=Method.SYN, sources=(PodSelector.parse("shop-frontend:"),))
    plan = build_plan(demo_snapshot, opts)
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    kube.refuse_net_raw.update(refuse)
    runner = ClusterRunner(kube)
    result = run(
        execute(demo_snapshot, runner, replace(META, method=Method.SYN), SweepOptions(plan=opts), sleep=no_sleep)
    )
    run(runner.close())
    return plan, kube, runner, result


def test_syn_refused_in_ephemeral_containers_falls_back_to_probe_pods_with_syn(demo_snapshot):
    plan, kube, runner, result = syn_plan_and_kube(demo_snapshot, {"ephemeral"})
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    calls = [(v, r) for v, r, _ in kube.calls]
    assert calls.count(("create", "pods")) == len(plan.agents)
    assert all("falling back to pod mode with syn" in n for n in runner.notes)


def test_syn_refused_everywhere_falls_back_to_connect_and_says_so(demo_snapshot):
    plan, kube, runner, result = syn_plan_and_kube(demo_snapshot, {"ephemeral", "pod"})
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    assert any("falling back to ephemeral mode with connect" in n for n in runner.notes)
    assert kube.configmaps == {}


def test_a_destination_pod_deleted_mid_sweep_makes_the_probes_to_it_inconclusive(demo_snapshot):
    """Its address answers 'unreachable' or nothing: that measures no policy, so neither
    an ok deny nor an unexpected-deny; the rest of the sweep goes on."""
    plan = build_plan(demo_snapshot, PlanOptions(intrapod=False))
    model = model_answer(demo_snapshot, plan)
    kube = fake_kube_for(demo_snapshot, None)

    def answer(target):
        kube.pods.pop(("shop-backend", "api-2"), None)  # deleted while the first agent runs
        return model(target)

    kube.answer = answer
    result = run(
        execute(
            demo_snapshot,
            ClusterRunner(kube),
            META,
            SweepOptions(plan=PlanOptions(intrapod=False)),
            sleep=no_sleep,
        )
    )
    to_gone = [r for r in result.rows if r.job.destination == "shop-backend/api-2"]
    assert to_gone and {r.verdict for r in to_gone} == {Verdict.INCONCLUSIVE}
    assert all("shop-backend/api-2 was deleted during the sweep" in r.reason for r in to_gone)
    rest = [r for r in result.rows if "shop-backend/api-2" not in (r.job.source, r.job.destination)]
    assert rest and {r.verdict for r in rest} == {Verdict.OK}
    assert result.exit_code == 3


def test_destination_change_reads_deletion_replacement_and_phase():
    from orchestrator.sweep.runner import destination_change

    pod = {
        "metadata": {"name": "db"},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]},
    }
    assert destination_change(pod, "10.0.0.5") == "" and destination_change(pod, "fd00::5") == ""
    assert destination_change(pod, "fd00:0:0::5") == ""  # the same address, spelled longer
    assert destination_change(None, "10.0.0.5") == "was deleted"
    assert "replaced" in destination_change(pod, "10.0.0.9")
    assert destination_change({**pod, "metadata": {"deletionTimestamp": "now"}}, "10.0.0.5") == "was being deleted"
    assert "Failed" in destination_change({"status": {"phase": "Failed", "podIP": "10.0.0.5"}}, "10.0.0.5")


def test_max_agents_bounds_the_agents_alive_at_once(demo_snapshot):
    """--max-agents is what keeps a lab (or a node) bounded: never more agents between
    their start and their log read than it allows."""
    plan = build_plan(demo_snapshot, PlanOptions())
    kube = fake_kube_for(demo_snapshot, model_answer(demo_snapshot, plan))
    alive, peak = [0], [0]
    start, read = kube.add_ephemeral_container, kube.read_log

    def started(*a):
        with kube.lock:
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
        return start(*a)

    def finished(*a):
        out = read(*a)
        with kube.lock:
            alive[0] -= 1
        return out

    kube.add_ephemeral_container, kube.read_log = started, finished
    result = run(
        execute(
            demo_snapshot,
            ClusterRunner(kube, max_agents=2),
            META,
            SweepOptions(max_agents=2),
            sleep=no_sleep,
        )
    )
    assert {r.verdict for r in result.rows} == {Verdict.OK}
    assert len(plan.agents) > 2 and peak[0] == 2
