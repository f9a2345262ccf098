"""The plan: one agent per source identity, ports and selectors as the flags say."""

from __future__ import annotations

import pytest

from orchestrator.sweep.plan import DEFAULT_AGENT_UID, PlanOptions, Scope, SourceMode, build_plan
from orchestrator.sweep.selection import PlanError, PodSelector, PortMode, parse_label_selector, port_selection
from probe.schema import Method, PortRef, Protocol
from tests.sweep.conftest import pod_yaml, snapshot_from


def mesh(n=3, ports=(8080,)):
    return snapshot_from([pod_yaml("a", f"p{i}", {"app": f"p{i}"}, f"10.0.0.{i + 1}", ports) for i in range(n)])


def test_one_agent_per_source_pod_runs_every_probe_of_that_source():
    plan = build_plan(mesh(4, ports=(80, 443)), PlanOptions())
    assert len(plan.agents) == 4
    for agent in plan.agents:
        assert {j.source for j in agent.jobs} == {agent.identity.pod_key}
        assert len(agent.jobs) == 3 * 2  # 3 other pods x 2 declared ports
    assert len(plan.jobs) == 4 * 3 * 2
    assert len({j.id for j in plan.jobs}) == len(plan.jobs)


def test_a_pod_is_never_probed_from_itself():
    plan = build_plan(mesh(3), PlanOptions())
    assert all(j.source != j.destination for j in plan.jobs)


def test_destination_ports_default_to_the_declared_container_ports():
    snap = snapshot_from(
        [
            pod_yaml("a", "src", {"app": "s"}, "10.0.0.1", (1,)),
            pod_yaml("a", "dst", {"app": "d"}, "10.0.0.2", (8080, 9090)),
        ]
    )
    plan = build_plan(snap, PlanOptions(sources=(PodSelector.parse("app=s"),)))
    assert sorted(j.port for j in plan.jobs) == [8080, 9090]


def test_port_flag_restricts_to_exactly_those_ports_declared_or_not():
    mode, ports = port_selection(["80/TCP", "53/udp"])
    assert mode is PortMode.EXACT
    plan = build_plan(mesh(2, ports=(8080,)), PlanOptions(ports=ports, port_mode=mode))
    assert sorted((j.port, j.protocol, j.method) for j in plan.jobs) == [
        (53, Protocol.UDP, Method.UDP),
        (53, Protocol.UDP, Method.UDP),
        (80, Protocol.TCP, Method.CONNECT),
        (80, Protocol.TCP, Method.CONNECT),
    ]


def test_plus_port_adds_to_the_declared_ports():
    mode, ports = port_selection(["+9999"])
    assert (mode, ports) == (PortMode.ADD, (PortRef(9999, Protocol.TCP),))
    plan = build_plan(mesh(2, ports=(8080,)), PlanOptions(ports=ports, port_mode=mode))
    assert sorted({j.port for j in plan.jobs}) == [8080, 9999]


@pytest.mark.parametrize("bad", ["0", "70000", "80/ICMP", "http", ""])
def test_bad_port_flags_are_refused_with_the_flag_named(bad):
    with pytest.raises(PlanError, match="--port"):
        port_selection([bad])


def test_mixing_exact_and_additive_ports_is_refused():
    with pytest.raises(PlanError, match="mix"):
        port_selection(["80", "+81"])


@pytest.mark.parametrize(
    "text,labels,ns,expected",
    [
        ("app=web", {"app": "web"}, "x", True),
        ("app=web", {"app": "api"}, "x", False),
        ("shop:app=web", {"app": "web"}, "other", False),
        ("shop:", {"anything": "1"}, "shop", True),
        ("*:tier in (web,api)", {"tier": "api"}, "x", True),
        ("tier notin (web,api)", {}, "x", True),
        ("app!=batch", {"app": "batch"}, "x", False),
        ("app.kubernetes.io/name=x,!canary", {"app.kubernetes.io/name": "x"}, "x", True),
        ("app.kubernetes.io/name=x,!canary", {"app.kubernetes.io/name": "x", "canary": ""}, "x", False),
        ("release", {"release": "1"}, "x", True),
    ],
)
def test_from_and_to_selectors_follow_kubectl_label_selector_syntax(text, labels, ns, expected):
    snap = snapshot_from([pod_yaml(ns, "p", labels, "10.0.0.1")])
    assert PodSelector.parse(text).matches(snap.pods[0]) is expected


def test_unparseable_selector_is_a_plan_error():
    with pytest.raises(PlanError, match="cannot parse"):
        parse_label_selector("app==(x")


def test_from_and_to_scope_sources_and_destinations_independently():
    snap = snapshot_from(
        [
            pod_yaml("a", "web", {"app": "web"}, "10.0.0.1"),
            pod_yaml("a", "api", {"app": "api"}, "10.0.0.2"),
            pod_yaml("b", "db", {"app": "db"}, "10.0.0.3"),
        ]
    )
    plan = build_plan(
        snap, PlanOptions(sources=(PodSelector.parse("app=web"),), destinations=(PodSelector.parse("b:"),))
    )
    assert [(j.source, j.destination) for j in plan.jobs] == [("a/web", "b/db")]


def test_kubereach_managed_pods_are_never_sources_or_targets():
    snap = snapshot_from(
        [
            pod_yaml("a", "web", {"app": "web"}, "10.0.0.1"),
            pod_yaml("a", "kr-probe", {"app": "web", "app.kubernetes.io/managed-by": "kubereach"}, "10.0.0.9"),
        ]
    )
    plan = build_plan(snap, PlanOptions())
    assert plan.jobs == ()
    assert all("kr-probe" not in s.what for s in plan.skipped)


def test_pods_without_ip_or_not_running_are_skipped_with_a_reason():
    snap = snapshot_from(
        [
            pod_yaml("a", "web", {"app": "web"}, "10.0.0.1"),
            pod_yaml("a", "pending", {"app": "x"}, "", phase="Pending"),
            pod_yaml("a", "done", {"app": "y"}, "10.0.0.3", phase="Succeeded"),
        ]
    )
    plan = build_plan(snap, PlanOptions())
    reasons = {s.what: s.reason for s in plan.skipped}
    assert "no pod IP" in reasons["a/pending"]
    assert "Succeeded" in reasons["a/done"]


def test_pod_scope_agent_runs_as_the_pods_own_uid_or_a_non_root_default():
    snap = snapshot_from(
        [
            pod_yaml("a", "web", {"app": "web"}, "10.0.0.1", uid=1234),
            pod_yaml("a", "root", {"app": "r"}, "10.0.0.2", uid=0),
        ]
    )
    uids = {a.identity.pod: a.identity.run_as_user for a in build_plan(snap, PlanOptions()).agents}
    assert uids == {"web": 1234, "root": DEFAULT_AGENT_UID}


def test_demo_intrapod_pod_gets_one_agent_per_source_uid_and_pod_probes_ride_along(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    api1 = [a for a in plan.agents if a.identity.pod_key == "shop-backend/api-1"]
    assert sorted(a.identity.run_as_user for a in api1) == [1001, 1002, 1003]
    assert [a.index for a in api1] == [0, 1, 2]
    assert api1[0].scopes == {Scope.POD, Scope.INTRA_POD}
    intra = [j for a in api1 for j in a.jobs if j.scope is Scope.INTRA_POD]
    assert all(j.address == "127.0.0.1" for j in intra)
    # every (from, to, declared port of to) with from != to: 3 containers, ports 8080, 8081, 15001, 9100
    assert len(intra) == 8
    for a in api1:
        assert {j.source.rsplit("/", 1)[1] for j in a.jobs if j.scope is Scope.INTRA_POD} == set(a.identity.containers)
    # every other pod has exactly one agent
    others = [a for a in plan.agents if a.identity.pod_key != "shop-backend/api-1"]
    assert len({a.identity.pod_key for a in others}) == len(others)


def test_pod_source_mode_cannot_probe_intrapod_rules_and_says_so(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions(source_mode=SourceMode.POD))
    assert not any(j.scope is Scope.INTRA_POD for j in plan.jobs)
    assert any("ephemeral" in s.reason for s in plan.skipped if s.what == "shop-backend/api-1")


def test_intrapod_source_without_uid_or_root_is_not_probed_but_reported():
    ann = {"intrapod.kubereach.io/rules": "default: deny\n"}
    containers = [
        {"name": "app", "ports": [{"containerPort": 8080}], "securityContext": {"runAsUser": 1001}},
        {"name": "rootly", "ports": [{"containerPort": 9000}], "securityContext": {"runAsUser": 0}},
        {"name": "nouid", "ports": [{"containerPort": 9001}]},
    ]
    snap = snapshot_from([pod_yaml("a", "p", {"app": "p"}, "10.0.0.1", containers=containers, annotations=ann)])
    plan = build_plan(snap, PlanOptions())
    sources = {j.source for j in plan.jobs}
    assert sources == {"a/p/app"}
    reasons = " ".join(s.reason for s in plan.skipped)
    assert "root" in reasons and "no runAsUser" in reasons


def test_invalid_intrapod_annotation_is_reported_not_raised():
    ann = {"intrapod.kubereach.io/rules": "rules: [{from: ghost, to: app, action: deny}]"}
    snap = snapshot_from(
        [pod_yaml("a", "p", {"app": "p"}, "10.0.0.1", annotations=ann), pod_yaml("a", "q", {"app": "q"}, "10.0.0.2")]
    )
    plan = build_plan(snap, PlanOptions())
    assert any("ghost" in s.reason for s in plan.skipped)
    assert {j.scope for j in plan.jobs} == {Scope.POD}


def test_agents_grow_with_sources_not_with_ports():
    one = build_plan(mesh(5, ports=(80,)), PlanOptions())
    many = build_plan(mesh(5, ports=tuple(range(80, 100))), PlanOptions())
    assert len(one.agents) == len(many.agents) == 5
    assert len(many.jobs) == 20 * len(one.jobs)


def test_subset_keeps_identities_and_only_the_given_jobs():
    plan = build_plan(mesh(3), PlanOptions())
    ids = [plan.jobs[0].id, plan.jobs[-1].id]
    sub = plan.subset(ids, index_offset=0)
    assert [j.id for j in sub.jobs] == ids
    assert {a.identity for a in sub.agents} <= {a.identity for a in plan.agents}


def test_to_and_exact_ports_also_scope_intrapod_probes(demo_snapshot):
    mode, ports = port_selection(["8080"])
    plan = build_plan(demo_snapshot, PlanOptions(ports=ports, port_mode=mode))
    intra = [j for j in plan.jobs if j.scope is Scope.INTRA_POD]
    assert intra and {j.port for j in intra} == {8080}
    plan = build_plan(demo_snapshot, PlanOptions(destinations=(PodSelector.parse("app=postgres"),)))
    assert not any(j.scope is Scope.INTRA_POD for j in plan.jobs)
