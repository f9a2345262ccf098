"""``suggest`` on small realistic clusters: what the written policies look like."""

from __future__ import annotations

import pytest
from posture_helpers import DEMO, DEMO_INTENT, intent, ns, pod, shop, snap

from orchestrator.audit import audit
from orchestrator.audit.intent import load_intent
from orchestrator.audit.suggest import suggest
from orchestrator.snapshot import load_manifests


@pytest.fixture(scope="module")
def demo():
    return load_manifests([DEMO])


def spec(result, name_part):
    (obj,) = [o for n, o in result.policies if name_part in n]
    return obj["spec"]


def test_the_demo_hole_is_closed_by_isolating_postgres_and_keeping_the_backend(demo):
    result = suggest(demo, load_intent(DEMO_INTENT))
    assert result.violations_before == 3 and result.remaining.count == 0 and result.safe
    postgres = spec(result, "ingress-postgres")
    assert postgres == {
        "podSelector": {"matchLabels": {"app": "postgres"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop-backend"}}}]}
        ],
    }


LOCKED_API = """
metadata: {name: api-in, namespace: app}
spec: {podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}
"""


def test_opening_uses_the_destinations_port_name_and_the_sources_workload_labels():
    objs = shop()
    for o in objs:
        if o["kind"] == "Pod":
            o["metadata"]["labels"]["pod-template-hash"] = o["metadata"]["name"]  # per replica: never selected on
    s = snap(objs, LOCKED_API)
    i = intent(
        [
            {
                "action": "allow",
                "from": {"podSelector": {"matchLabels": {"app": "web"}}},
                "to": "app/api-1",
                "ports": [8000],
            }
        ]
    )
    result = suggest(s, i)
    assert result.remaining.count == 0 and result.safe and result.opened.count == 2
    api = spec(result, "ingress-api")
    assert api["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "api"}]}]
    assert "policyTypes" in api and "Egress" not in api["policyTypes"]


def test_newly_isolated_egress_keeps_cluster_dns():
    s = snap(shop())
    i = intent([{"action": "deny", "from": "app/api-1", "to": "data/*"}])
    # the destination's ingress is free, so it is what closes the cell
    assert "Egress" not in str(suggest(s, i).policies)
    lockdown = """
metadata: {name: db-in, namespace: data}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}]}]
"""
    result = suggest(snap(shop(), lockdown), i)  # db ingress admits everyone already: close on egress
    egress = spec(result, "egress-api")
    assert {"port": 53, "protocol": "UDP"} in egress["egress"][-1]["ports"]
    assert result.remaining.count == 0 and result.safe


def test_cells_both_sides_allow_through_existing_rules_are_reported_not_written():
    both = """
metadata: {name: out, namespace: app}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}
---
metadata: {name: in, namespace: data}
spec: {podSelector: {}, ingress: [{}]}
"""
    result = suggest(snap(shop(), both), intent([{"action": "deny", "from": "app/web-1", "to": "data/db-0"}]))
    assert result.remaining.count == 1 and not result.policies
    (u,) = result.unresolved
    assert str(u.cell) == "app/web-1 -> data/db-0 5432/TCP" and "existing rules" in u.why


def test_twins_the_intent_treats_differently_are_withdrawn_not_guessed():
    s = snap(shop())
    i = intent([{"action": "deny", "from": "app/web-1", "to": "data/db-0"}])  # web-2 carries the same labels
    result = suggest(s, i)
    assert result.safe and not result.closed.count and result.remaining.count == 1
    assert "withdrew 1 suggested policy" in result.notes[0] and "relabel" in result.notes[0]


def test_tighten_writes_a_default_deny_with_dns_and_only_the_intended_allows():
    s = snap(shop())
    i = intent(
        [
            {
                "action": "allow",
                "from": {"podSelector": {"matchLabels": {"app": "api"}}},
                "to": "data/db-0",
                "ports": ["pg"],
            }
        ]
    )
    result = suggest(s, i, tighten=True)
    names = [n for n, _ in result.policies]
    assert any("default-deny-ingress-egress" in n for n in names)
    assert result.safe and result.remaining.count == 0
    assert result.opened.count == 0 and result.closed.count > 0


def test_person_fixes_come_from_the_audit(demo):
    result = suggest(demo, load_intent(DEMO_INTENT), findings=audit(demo))
    assert [f.id for f in result.person_fixes] == ["policy-selects-nothing:NetworkPolicy/shop-data/postgres-ingress"]
    dns = [n for n, _ in result.policies if "allow-dns" in n]
    assert len(dns) == 3  # the audit's mechanical DNS fixes change no cell: they come along
    assert result.remaining.count == 0 and not result.changed_unspecified.count


def test_a_host_network_source_cannot_be_admitted_by_a_selector():
    objs = shop() + [pod("app", "agent", {"app": "agent"}, "10.0.0.9", [], host_network=True)]
    s = snap(objs, "metadata: {name: db-in, namespace: data}\nspec: {podSelector: {}, policyTypes: [Ingress]}")
    i = intent([{"action": "allow", "from": "app/agent", "to": "data/db-0"}])
    result = suggest(s, i)
    assert result.remaining.count == 1 and result.safe


def test_namespaces_without_objects_and_pods_without_ips_are_handled():
    objs = [ns("a"), pod("a", "x", {"app": "x"}, None, [(80, "TCP", "http")]), pod("b", "y", {"app": "y"}, None, [])]
    result = suggest(snap(objs), intent([{"action": "deny", "from": "b/y", "to": "a/x"}]))
    assert result.remaining.count == 0 and result.closed.count == 1
