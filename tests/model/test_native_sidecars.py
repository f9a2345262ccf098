"""Native sidecars (KEP-753): an init container with ``restartPolicy: Always`` keeps running
with the pod, so its declared ports are the pod's ports, named ones included; a plain init
container has exited by then and contributes no port."""

from __future__ import annotations

from model_helpers import build, ns, pod

from orchestrator.model import Decision, PolicyModel, expected_matrix
from orchestrator.sweep.plan import PlanOptions, build_plan, destination_ports
from probe.schema import PortRef, Protocol


def with_init(obj: dict, name: str, ports: list[tuple[int, str, str | None]], restart_policy: str | None) -> dict:
    c = {
        "name": name,
        "image": "envoy",
        "ports": [{"containerPort": n, "protocol": p, **({"name": nm} if nm else {})} for n, p, nm in ports],
    }
    if restart_policy is not None:
        c["restartPolicy"] = restart_policy
    obj["spec"].setdefault("initContainers", []).append(c)
    return obj


def policy(name: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "a"},
        "spec": spec,
    }


ALLOW_METRICS = policy(
    "metrics", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"ports": [{"port": "metrics"}]}]}
)


def cluster(restart_policy: str | None = "Always", *extra: dict):
    db = with_init(
        pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", "pg")]),
        "proxy",
        [(9901, "TCP", "metrics"), (15001, "UDP", None)],
        restart_policy,
    )
    return build([ns("a"), pod("a", "web", {"app": "web"}, "10.0.0.1", [(80, "TCP", "http")]), db, *extra])


def test_serving_containers_are_regular_then_native_sidecars():
    snap = cluster("Always")
    db = snap.pod("a/db")
    assert [c.name for c in db.serving_containers] == ["main", "proxy"]
    assert db.init_containers[0].restart_policy == "Always"
    plain = cluster(None).pod("a/db")
    assert plain.init_containers[0].restart_policy is None
    assert [c.name for c in plain.serving_containers] == ["main"]


def test_named_port_on_native_sidecar_is_allowed_by_ingress_rule_with_that_name():
    model = PolicyModel(cluster("Always", ALLOW_METRICS))
    web, db = model.pod("a/web"), model.pod("a/db")
    assert model.evaluate(web, db, 9901).decision is Decision.ALLOW
    assert model.evaluate(web, db, 5432).decision is Decision.DENY
    assert model.evaluate_named(web, db, "metrics").port == 9901


def test_plain_init_container_contributes_no_ports():
    snap = cluster(None, ALLOW_METRICS)
    model = PolicyModel(snap)
    assert model.evaluate(model.pod("a/web"), model.pod("a/db"), 9901).decision is Decision.DENY
    assert destination_ports(snap.pod("a/db"), PlanOptions()) == [(PortRef(5432, Protocol.TCP), "pg")]
    rows = expected_matrix(snap)
    assert {(r.destination, r.port) for r in rows} == {("a/web", 80), ("a/db", 5432)}


def test_default_port_plan_includes_the_sidecar_ports():
    snap = cluster("Always")
    assert destination_ports(snap.pod("a/db"), PlanOptions()) == [
        (PortRef(5432, Protocol.TCP), "pg"),
        (PortRef(9901, Protocol.TCP), "metrics"),
        (PortRef(15001, Protocol.UDP), None),
    ]
    plan = build_plan(snap, PlanOptions(services=False, intrapod=False))
    probed = {(j.source, j.destination, j.port, j.protocol) for j in plan.jobs}
    assert ("a/web", "a/db", 9901, Protocol.TCP) in probed
    assert ("a/web", "a/db", 15001, Protocol.UDP) in probed


def test_matrix_equals_evaluate_for_a_pod_with_a_native_sidecar():
    snap = cluster(
        "Always",
        ALLOW_METRICS,
        policy(
            "out",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": "metrics"}, {"port": 15001, "protocol": "UDP"}]}],
            },
        ),
    )
    rows = expected_matrix(snap)
    assert {(r.destination, r.port, r.protocol) for r in rows} >= {
        ("a/db", 9901, Protocol.TCP),
        ("a/db", 15001, Protocol.UDP),
    }
    model = PolicyModel(snap)
    for r in rows:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason), r
    by_key = {(r.source, r.destination, r.port): r.decision for r in rows}
    assert by_key[("a/web", "a/db", 9901)] is Decision.ALLOW
    assert by_key[("a/web", "a/db", 15001)] is Decision.DENY  # ingress allows 'metrics' only
    explicit = expected_matrix(snap, [(9901, Protocol.TCP), (5432, Protocol.TCP)])
    for r in explicit:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason), r


def test_service_named_target_port_resolves_on_native_sidecar():
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db-metrics", "namespace": "a"},
        "spec": {
            "selector": {"app": "db"},
            "clusterIP": "10.96.0.10",
            "ports": [{"port": 80, "targetPort": "metrics"}],
        },
    }
    plan = build_plan(cluster("Always", svc), PlanOptions(pods=False, intrapod=False))
    jobs = [j for j in plan.jobs if j.destination == "a/db-metrics"]
    assert jobs and all(j.backends == (("a/db", 9901),) for j in jobs)
    plain = build_plan(cluster(None, svc), PlanOptions(pods=False, intrapod=False))
    assert not [j for j in plain.jobs if j.destination == "a/db-metrics"]
    assert any("no running backend" in s.reason for s in plain.skipped)
