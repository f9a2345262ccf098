"""Service scope: ClusterIP probes judged by the backends' policies (kube-proxy DNATs first)."""

from __future__ import annotations

import asyncio

from orchestrator.sweep.compare import Decision, Verdict
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.plan import PlanOptions, Scope, build_plan
from orchestrator.sweep.run import SweepOptions, ambiguous_services, execute, expectations_for
from orchestrator.sweep.runner import SimulatedRunner
from orchestrator.sweep.selection import PodSelector, port_selection
from tests.sweep.conftest import pod_yaml, snapshot_from


def db_pod(name, ip, labels):
    return pod_yaml(
        "d",
        name,
        labels,
        ip,
        containers=[
            {"name": "pg", "ports": [{"containerPort": 5432, "name": "pg"}], "securityContext": {"runAsUser": 70}}
        ],
    )


def service(selector, target="pg"):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": "d"},
        "spec": {
            "selector": selector,
            "clusterIP": "10.96.0.10",
            "ports": [{"port": 5432, "targetPort": target, "protocol": "TCP"}],
        },
    }


ALLOW_FROM_A = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "d"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "db"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"team": "a"}}}]}],
    },
}


def snap(extra=()):
    return snapshot_from(
        [
            pod_yaml("c", "a", {"team": "a"}, "10.0.0.1"),
            pod_yaml("c", "b", {"team": "b"}, "10.0.0.2"),
            db_pod("db-0", "10.0.1.1", {"app": "db"}),
            db_pod("db-1", "10.0.1.2", {"app": "db"}),
            service({"app": "db"}),
            ALLOW_FROM_A,
            *extra,
        ]
    )


def test_service_ports_are_probed_on_the_cluster_ip_with_named_target_ports_resolved_per_backend():
    plan = build_plan(snap(), PlanOptions(sources=(PodSelector.parse("c:"),)))
    svc = [j for j in plan.jobs if j.scope is Scope.SERVICE]
    assert {(j.source, j.destination, j.address, j.port) for j in svc} == {
        ("c/a", "d/db", "10.96.0.10", 5432),
        ("c/b", "d/db", "10.96.0.10", 5432),
    }
    assert svc[0].backends == (("d/db-0", 5432), ("d/db-1", 5432))


def test_service_expectation_is_the_backends_common_verdict():
    s = snap()
    plan = build_plan(s, PlanOptions(sources=(PodSelector.parse("c:"),)))
    exp = expectations_for(s, plan)
    by_src = {j.source: exp[j.id] for j in plan.jobs if j.scope is Scope.SERVICE}
    assert by_src["c/a"].decision is Decision.ALLOW and "all 2 backends" in by_src["c/a"].reason
    assert by_src["c/b"].decision is Decision.DENY


def test_backends_that_policies_treat_differently_are_not_probed_and_say_why():
    # db-1 gets a second label that an allow-all policy selects: a -> db varies by backend for b
    s = snapshot_from(
        [
            pod_yaml("c", "b", {"team": "b"}, "10.0.0.2"),
            db_pod("db-0", "10.0.1.1", {"app": "db"}),
            db_pod("db-1", "10.0.1.2", {"app": "db", "open": "1"}),
            service({"app": "db"}),
            ALLOW_FROM_A,
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "open", "namespace": "d"},
                "spec": {"podSelector": {"matchLabels": {"open": "1"}}, "ingress": [{}]},
            },
        ]
    )
    plan = build_plan(s, PlanOptions(sources=(PodSelector.parse("c:"),)))
    exp = expectations_for(s, plan)
    [skip] = ambiguous_services(plan, exp)
    assert skip.what == "c/b -> service d/db:5432/TCP" and "kube-proxy" in skip.reason
    result = asyncio.run(
        execute(
            s,
            SimulatedRunner(exp),
            SweepMeta("x", "img"),
            SweepOptions(plan=PlanOptions(sources=(PodSelector.parse("c:"),))),
            sleep=lambda _: asyncio.sleep(0),
        )
    )
    assert not any(r.job.scope is Scope.SERVICE for r in result.rows)
    assert skip in result.plan.skipped and result.exit_code == 0


def test_exact_ports_and_to_selectors_scope_services_too():
    mode, ports = port_selection(["80"])
    plan = build_plan(snap(), PlanOptions(ports=ports, port_mode=mode))
    assert not any(j.scope is Scope.SERVICE for j in plan.jobs)
    plan = build_plan(snap(), PlanOptions(destinations=(PodSelector.parse("team=a"),)))
    assert not any(j.scope is Scope.SERVICE for j in plan.jobs)


def test_simulated_sweep_with_services_reports_service_rows():
    s = snap()
    plan = build_plan(s, PlanOptions())
    result = asyncio.run(
        execute(
            s,
            SimulatedRunner(expectations_for(s, plan)),
            SweepMeta("x", "img"),
            SweepOptions(),
            sleep=lambda _: asyncio.sleep(0),
        )
    )
    svc = [r for r in result.rows if r.job.scope is Scope.SERVICE]
    assert svc and all(r.verdict is Verdict.OK for r in svc)


def test_huge_sources_are_split_into_agents_that_fit_a_command_line():
    plan = build_plan(snap(), PlanOptions(max_targets_per_agent=2))
    a_agents = [a for a in plan.agents if a.identity.pod_key == "c/a"]
    assert len(a_agents) > 1 and [a.index for a in a_agents] == list(range(len(a_agents)))
    assert all(len(a.jobs) <= 2 for a in plan.agents)
