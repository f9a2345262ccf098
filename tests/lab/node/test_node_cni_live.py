"""The lab CNI, live: policies allow and deny exactly as the NetworkPolicy spec says.

Each test starts a node, runs listener pods, hands the node the policies the way the
API server does (``sync_network``) and probes from inside pods. Denied traffic is
dropped, so it shows as ``filtered``.
"""

from __future__ import annotations

import subprocess

import pytest
from krl_node_helpers import listener_pod

from lab.node.netns import in_ns_argv
from lab.runtime import Fault, FaultAction

pytestmark = pytest.mark.netns


def policy(name: str, pod_selector: dict, *, namespace: str = "default", ingress=None, egress=None, types=None) -> dict:
    spec: dict = {"podSelector": pod_selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def app(name: str) -> dict:
    return {"matchLabels": {"app": name}}


@pytest.fixture
def shop(node_factory):
    """web, db (5432, 5433, 8080 named http, 8000-8010 range sample, 53/UDP) and a client."""

    def make(cni="enforce"):
        h = node_factory(cni)
        h.run_pod(listener_pod("web", ports=[(80, "TCP")]))
        h.run_pod(
            listener_pod(
                "db",
                ports=[
                    (5432, "TCP"),
                    (5433, "TCP"),
                    (8080, "TCP"),
                    (8005, "TCP"),
                    (8011, "TCP"),
                    (53, "UDP"),
                    (54, "UDP"),
                ],
                named={8080: "http"},
            )
        )
        h.run_pod(listener_pod("client", ports=[(80, "TCP")]))
        return h

    return make


def states(h, jobs):
    return h.probe_many(
        [
            ((ns_src, src), h.ip(*dst) if isinstance(dst, tuple) else dst, port, proto)
            for (ns_src, src), dst, port, proto in jobs
        ]
    )


WEB, DB, CLIENT = ("default", "web"), ("default", "db"), ("default", "client")


def test_without_policies_everything_is_open(shop):
    h = shop()
    h.sync()
    assert states(h, [(WEB, DB, 5432, "TCP"), (DB, WEB, 80, "TCP"), (CLIENT, DB, 53, "UDP")]) == ["open"] * 3


def test_ingress_policy_allows_only_the_listed_peer_and_port_and_isolates_only_ingress(shop):
    h = shop()
    h.sync(
        policies=[
            policy("db-in", app("db"), ingress=[{"from": [{"podSelector": app("web")}], "ports": [{"port": 5432}]}])
        ]
    )
    got = states(
        h,
        [
            (WEB, DB, 5432, "TCP"),
            (WEB, DB, 5433, "TCP"),
            (CLIENT, DB, 5432, "TCP"),
            (DB, WEB, 80, "TCP"),
            (DB, "192.0.2.10", 80, "TCP"),
        ],
    )
    assert got == ["open", "filtered", "filtered", "open", "open"]


def test_policy_without_rules_denies_all_ingress_and_egress_when_both_types_listed(shop):
    h = shop()
    h.sync(policies=[policy("lock", app("db"), types=["Ingress", "Egress"])])
    assert states(h, [(WEB, DB, 5432, "TCP"), (DB, WEB, 80, "TCP"), (WEB, CLIENT, 80, "TCP")]) == [
        "filtered",
        "filtered",
        "open",
    ]


def test_both_directions_must_allow(shop):
    h = shop()
    h.sync(
        policies=[
            policy("web-out", app("web"), egress=[{"to": [{"podSelector": app("db")}], "ports": [{"port": 5433}]}]),
            policy("db-in", app("db"), ingress=[{"from": [{"podSelector": app("web")}], "ports": [{"port": 5432}]}]),
        ]
    )
    # 5432: db allows it in, web may not send it; 5433: web may send, db refuses.
    assert states(h, [(WEB, DB, 5432, "TCP"), (WEB, DB, 5433, "TCP")]) == ["filtered", "filtered"]
    h.sync(
        policies=[
            policy("web-out", app("web"), egress=[{"to": [{"podSelector": app("db")}], "ports": [{"port": 5432}]}]),
            policy("db-in", app("db"), ingress=[{"from": [{"podSelector": app("web")}], "ports": [{"port": 5432}]}]),
        ]
    )
    assert states(h, [(WEB, DB, 5432, "TCP"), (WEB, CLIENT, 80, "TCP")]) == ["open", "filtered"]


def test_namespace_and_pod_selector_in_one_peer_are_anded_and_peers_ored(node_factory):
    h = node_factory()
    h.run_pod(listener_pod("db", namespace="data", ports=[(5432, "TCP")]))
    h.run_pod(listener_pod("client", namespace="team-a"))
    h.run_pod(listener_pod("other", namespace="team-a"))
    h.run_pod(listener_pod("client", namespace="team-b"))
    h.run_pod(listener_pod("ops", namespace="team-b"))
    namespaces = [
        {"metadata": {"name": "team-a", "labels": {"team": "a"}}},
        {"metadata": {"name": "team-b", "labels": {"team": "b"}}},
        {"metadata": {"name": "data"}},
    ]
    h.sync(
        namespaces,
        [
            policy(
                "db",
                app("db"),
                namespace="data",
                ingress=[
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": app("client")},  # AND
                            {
                                "namespaceSelector": {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-b"]}
                                    ]
                                },
                                "podSelector": app("ops"),
                            },
                        ]
                    }
                ],
            )
        ],
    )
    db = h.ip("data", "db")
    got = h.probe_many(
        [
            (("team-a", "client"), db, 5432, "TCP"),
            (("team-a", "other"), db, 5432, "TCP"),
            (("team-b", "client"), db, 5432, "TCP"),
            (("team-b", "ops"), db, 5432, "TCP"),
        ]
    )
    assert got == ["open", "filtered", "filtered", "open"]


def test_pod_selector_alone_only_selects_the_policys_namespace(node_factory):
    h = node_factory()
    h.run_pod(listener_pod("db", namespace="data"))
    h.run_pod(listener_pod("web", namespace="data"))
    h.run_pod(listener_pod("web", namespace="elsewhere"))
    h.sync(policies=[policy("db", app("db"), namespace="data", ingress=[{"from": [{"podSelector": app("web")}]}])])
    db = h.ip("data", "db")
    assert h.probe_many([(("data", "web"), db, 80, "TCP"), (("elsewhere", "web"), db, 80, "TCP")]) == [
        "open",
        "filtered",
    ]


def test_named_port_resolves_on_the_destination_pod(node_factory):
    h = node_factory()
    h.run_pod(listener_pod("a", ports=[(8080, "TCP"), (9090, "TCP")], named={8080: "http"}))
    h.run_pod(listener_pod("b", ports=[(8080, "TCP"), (9090, "TCP")], named={9090: "http"}))
    h.run_pod(listener_pod("src"))
    h.sync(policies=[policy("src-out", app("src"), egress=[{"ports": [{"port": "http"}]}])])
    a, b = h.ip("default", "a"), h.ip("default", "b")
    src = ("default", "src")
    assert h.probe_many(
        [(src, a, 8080, "TCP"), (src, a, 9090, "TCP"), (src, b, 8080, "TCP"), (src, b, 9090, "TCP")]
    ) == ["open", "filtered", "filtered", "open"]


def test_named_port_on_ingress_uses_the_selected_pods_own_port(shop):
    h = shop()
    h.sync(policies=[policy("db-in", app("db"), ingress=[{"ports": [{"port": "http"}]}])])
    assert states(h, [(WEB, DB, 8080, "TCP"), (WEB, DB, 5432, "TCP")]) == ["open", "filtered"]


def test_end_port_opens_a_range_and_udp_is_its_own_protocol(shop):
    h = shop()
    h.sync(
        policies=[
            policy(
                "db-in",
                app("db"),
                ingress=[{"ports": [{"port": 8000, "endPort": 8010}, {"port": 53, "protocol": "UDP"}]}],
            )
        ]
    )
    assert states(h, [(WEB, DB, 8005, "TCP"), (WEB, DB, 8011, "TCP"), (WEB, DB, 53, "UDP"), (WEB, DB, 54, "UDP")]) == [
        "open",
        "filtered",
        "open",
        "filtered",
    ]


def test_ip_block_with_except_for_egress_to_external_hosts(shop):
    h = shop()
    h.sync(
        policies=[
            policy(
                "web-out",
                app("web"),
                egress=[{"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.20/32"]}}]}],
            )
        ]
    )
    assert states(
        h,
        [
            (WEB, "192.0.2.10", 80, "TCP"),
            (WEB, "192.0.2.20", 80, "TCP"),
            (WEB, "198.51.100.10", 80, "TCP"),
            (WEB, DB, 5432, "TCP"),
        ],
    ) == ["open", "filtered", "filtered", "filtered"]


def test_ip_block_applies_to_pod_addresses_too(shop):
    h = shop()
    web = h.ip(*WEB)
    h.sync(
        policies=[
            policy(
                "db-in",
                app("db"),
                ingress=[{"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"{h.ip(*CLIENT)}/32"]}}]}],
            )
        ]
    )
    assert states(h, [(WEB, DB, 5432, "TCP"), (CLIENT, DB, 5432, "TCP")]) == ["open", "filtered"]
    assert web


def test_a_pod_started_after_the_policy_is_covered_before_it_reports_running(shop):
    h = shop()
    h.sync(policies=[policy("deny-late", {"matchLabels": {"role": "late"}}, types=["Ingress"])])
    h.run_pod(listener_pod("late", labels={"role": "late"}))
    assert h.probe(WEB, h.ip("default", "late"), 80)[0] == "filtered"


def test_cni_none_ignores_policies(shop):
    h = shop("none")
    h.sync(policies=[policy("lock", {}, types=["Ingress", "Egress"])])
    assert states(h, [(WEB, DB, 5432, "TCP"), (DB, WEB, 80, "TCP"), (WEB, "192.0.2.10", 80, "TCP")]) == ["open"] * 3


@pytest.mark.parametrize("cni", ["enforce", "none"])
def test_faults_show_up_exactly_where_injected_and_clear(shop, cni):
    h = shop(cni)
    pols = [policy("db-in", app("db"), ingress=[{"from": [{"podSelector": app("web")}], "ports": [{"port": 5432}]}])]
    faults = [
        Fault(FaultAction.DENY, "default/web", "default/db", 5432, "TCP"),
        Fault(FaultAction.ALLOW, "default/client", "default/db", 5433, "TCP"),
    ]
    h.sync(policies=pols, faults=faults)
    blocked_without_fault = "filtered" if cni == "enforce" else "open"
    assert states(
        h, [(WEB, DB, 5432, "TCP"), (CLIENT, DB, 5433, "TCP"), (CLIENT, DB, 5432, "TCP"), (WEB, DB, 5433, "TCP")]
    ) == ["filtered", "open", blocked_without_fault, blocked_without_fault]
    h.sync(policies=pols)
    assert states(h, [(WEB, DB, 5432, "TCP"), (CLIENT, DB, 5433, "TCP")]) == ["open", blocked_without_fault]


def test_recompiles_keep_only_the_ipsets_in_use(shop):
    h = shop()
    h.sync(policies=[policy("a", app("db"), ingress=[{"from": [{"podSelector": app("web")}]}])])
    h.sync(policies=[policy("b", app("db"), ingress=[{"from": [{"podSelector": app("client")}]}])])
    out = subprocess.run(
        in_ns_argv(h.node.node_netns, ["ipset", "list", "-n"]), capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(out) == sorted(s.name for s in h.node.ruleset.ipsets) and len(out) == 1
    assert states(h, [(CLIENT, DB, 5432, "TCP"), (WEB, DB, 5432, "TCP")]) == ["open", "filtered"]


def service(name: str, selector: dict, cluster_ip: str, ports: list[dict], namespace: str = "default") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports},
    }


def test_service_cluster_ip_reaches_an_endpoint_and_policies_apply_to_the_target_port(shop):
    h = shop()
    svcs = [
        service(
            "db",
            {"app": "db"},
            "10.96.0.10",
            [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "pg", "port": 5432, "targetPort": 5432},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
        ),
        service("web", {"app": "web"}, "10.96.0.11", [{"port": 80}]),
    ]
    h.sync(services=svcs)
    state, ident = h.probe(WEB, "10.96.0.10", 80)
    assert (state, ident["pod"], ident["port"]) == ("open", "db", 8080)  # named targetPort resolved
    assert h.probe(CLIENT, "10.96.0.10", 53, "UDP")[0] == "open"
    state, ident = h.probe(WEB, "10.96.0.11", 80)  # hairpin: web to itself
    assert (state, ident["pod"]) == ("open", "web")
    # A policy on db allowing only 5432 from web: the Service's port 80 (-> 8080) is now filtered.
    h.sync(
        services=svcs,
        policies=[
            policy("db-in", app("db"), ingress=[{"from": [{"podSelector": app("web")}], "ports": [{"port": 5432}]}])
        ],
    )
    assert h.probe_many(
        [(WEB, "10.96.0.10", 80, "TCP"), (WEB, "10.96.0.10", 5432, "TCP"), (CLIENT, "10.96.0.10", 5432, "TCP")]
    ) == ["filtered", "open", "filtered"]
    # A pod reaching itself is always allowed, also through its own Service (hairpin).
    h.sync(services=svcs, policies=[policy("lock", {}, types=["Ingress", "Egress"])])
    assert h.probe_many([(WEB, "10.96.0.11", 80, "TCP"), (CLIENT, "10.96.0.11", 80, "TCP")]) == ["open", "filtered"]
