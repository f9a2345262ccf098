"""The lab CNI compiler, pure: Kubernetes dicts in, ipsets and iptables rule text out.

Each case reads like the NetworkPolicy spec sentence it checks. Rule text is asserted
on the lines that matter (chain jumps, matches, targets), not on whole documents.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.cni import compile_ruleset
from lab.cni.compile import CHAIN_FAULTS
from lab.cni.selectors import SelectorError, matches
from lab.controllers.endpoints import desired_slices
from lab.runtime import Fault, FaultAction


def pod(name, ip, labels=None, *, ns="default", ports=(), **status):
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "ports": [
                        {"containerPort": p, "protocol": proto, **({"name": n} if n else {})} for p, proto, n in ports
                    ],
                }
            ]
        },
        "status": {
            "podIP": ip,
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            **status,
        },
    }


def routed(services, pods):
    """``compile_ruleset`` keywords for Services: them, and the EndpointSlices the
    EndpointSlice controller makes for them (the CNI routes from slices, like kube-proxy)."""
    slices = []
    for s in services:
        ns = s["metadata"]["namespace"]
        owned = {**s, "metadata": {**s["metadata"], "uid": "svc-" + s["metadata"]["name"]}}
        ns_pods = [
            {**p, "metadata": {**p["metadata"], "uid": p["metadata"]["name"]}}
            for p in pods
            if p["metadata"]["namespace"] == ns
        ]
        for sl in desired_slices(owned, ns_pods) if s["spec"].get("selector") else []:
            slices.append({**sl, "metadata": {**sl["metadata"], "namespace": ns}})
    return {"services": services, "endpoint_slices": slices}


def pol(name, selector, *, ns="default", **spec):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"podSelector": selector, **spec}}


WEB = pod("web", "10.244.0.1")
DB = pod("db", "10.244.0.2", ports=[(5432, "TCP", "pg"), (8080, "TCP", "http")])
API = pod("api", "10.244.0.3", ports=[(9090, "TCP", "http")])
PODS = [WEB, DB, API]


def chain_rules(rs, kind: str, ip: str) -> list[str]:
    """Rules of the per-pod chain (kind I or E) that the pod with ``ip`` jumps to."""
    parent = "KRL-INGRESS" if kind == "I" else "KRL-EGRESS"
    flag = "-d" if kind == "I" else "-s"
    jumps = [r for r in rs.rules if r.startswith(f"-A {parent} {flag} {ip}/32 ")]
    if not jumps:
        return []
    chain = jumps[0].rsplit("-j ", 1)[1]
    return [r for r in rs.rules if r.startswith(f"-A {chain} ")]


def set_members(rs, rule: str) -> set[str]:
    name = re.search(r"--match-set (\S+)", rule).group(1)
    (s,) = [s for s in rs.ipsets if s.name == name]
    return set(s.members)


def test_pods_not_selected_by_any_policy_get_no_chain():
    rs = compile_ruleset([], PODS, [pol("p", {"matchLabels": {"app": "db"}})])
    assert chain_rules(rs, "I", "10.244.0.1") == []
    assert chain_rules(rs, "I", "10.244.0.2")[-1].endswith("-j DROP")


@pytest.mark.parametrize(
    "spec, ingress, egress",
    [
        ({}, True, False),  # default: Ingress
        ({"egress": [{}]}, True, True),  # egress rules imply Egress
        ({"egress": []}, True, False),  # an empty list is no rule
        ({"policyTypes": ["Egress"]}, False, True),
        ({"policyTypes": ["Ingress", "Egress"]}, True, True),
    ],
)
def test_isolation_per_direction_follows_policy_types(spec, ingress, egress):
    rs = compile_ruleset([], PODS, [pol("p", {"matchLabels": {"app": "db"}}, **spec)])
    assert bool(chain_rules(rs, "I", "10.244.0.2")) is ingress
    assert bool(chain_rules(rs, "E", "10.244.0.2")) is egress


def test_policy_with_no_rules_isolates_and_allows_nothing():
    rs = compile_ruleset([], PODS, [pol("deny", {}, policyTypes=["Ingress"])])
    for ip in ("10.244.0.1", "10.244.0.2", "10.244.0.3"):
        (only,) = chain_rules(rs, "I", ip)
        assert only.endswith("-j DROP")


def test_rule_without_from_or_ports_allows_everything_in():
    rs = compile_ruleset([], PODS, [pol("all", {"matchLabels": {"app": "db"}}, ingress=[{}])])
    allow, drop = chain_rules(rs, "I", "10.244.0.2")
    assert "--match-set" not in allow and "-p " not in allow and allow.endswith("-j RETURN")


def test_peers_are_ored_and_selectors_in_one_peer_anded():
    ns = [
        {"metadata": {"name": "default", "labels": {"env": "prod"}}},
        {"metadata": {"name": "other", "labels": {"env": "prod"}}},
    ]
    other_web = pod("web", "10.244.0.9", ns="other")
    rs = compile_ruleset(
        ns,
        PODS + [other_web],
        [
            pol(
                "db",
                {"matchLabels": {"app": "db"}},
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                                "podSelector": {"matchLabels": {"app": "web"}},
                            },
                            {"podSelector": {"matchLabels": {"app": "api"}}},
                        ]
                    }
                ],
            )
        ],
    )
    first, second, drop = chain_rules(rs, "I", "10.244.0.2")
    assert set_members(rs, first) == {"10.244.0.1", "10.244.0.9"}  # web in both prod namespaces
    assert set_members(rs, second) == {"10.244.0.3"}  # api, policy's namespace only
    assert " src " in first + " " and drop.endswith("-j DROP")


def test_namespace_selector_alone_selects_every_pod_of_those_namespaces():
    ns = [{"metadata": {"name": "default"}}, {"metadata": {"name": "mon", "labels": {"team": "ops"}}}]
    mon = [pod("prom", "10.244.1.1", ns="mon"), pod("graf", "10.244.1.2", ns="mon")]
    rs = compile_ruleset(
        ns,
        PODS + mon,
        [
            pol(
                "db",
                {"matchLabels": {"app": "db"}},
                ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}],
            )
        ],
    )
    allow, _ = chain_rules(rs, "I", "10.244.0.2")
    assert set_members(rs, allow) == {"10.244.1.1", "10.244.1.2"}


def test_namespaces_carry_the_automatic_metadata_name_label_even_if_the_store_omits_it():
    rs = compile_ruleset(
        [{"metadata": {"name": "default"}}],
        PODS,
        [
            pol(
                "db",
                {"matchLabels": {"app": "db"}},
                ingress=[
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}}]}
                ],
            )
        ],
    )
    allow, _ = chain_rules(rs, "I", "10.244.0.2")
    assert set_members(rs, allow) == {"10.244.0.1", "10.244.0.2", "10.244.0.3"}


def test_peer_selecting_no_pod_allows_nothing():
    rs = compile_ruleset(
        [],
        PODS,
        [
            pol(
                "db",
                {"matchLabels": {"app": "db"}},
                ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "ghost"}}}]}],
            )
        ],
    )
    (drop,) = chain_rules(rs, "I", "10.244.0.2")
    assert drop.endswith("-j DROP")


@pytest.mark.parametrize(
    "port, expected",
    [
        ({"port": 5432}, "-p tcp -m tcp --dport 5432"),
        ({"port": "5432"}, "-p tcp -m tcp --dport 5432"),
        ({"port": 8000, "endPort": 8010}, "-p tcp -m tcp --dport 8000:8010"),
        ({"protocol": "UDP", "port": 53}, "-p udp -m udp --dport 53"),
        ({"protocol": "SCTP", "port": 9}, "-p sctp -m sctp --dport 9"),
        ({"protocol": "UDP"}, "-p udp -m comment"),  # every UDP port
        ({"port": "pg"}, "-p tcp -m tcp --dport 5432"),  # named, on the selected pod
    ],
)
def test_port_forms(port, expected):
    rs = compile_ruleset([], PODS, [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"ports": [port]}])])
    allow, _ = chain_rules(rs, "I", "10.244.0.2")
    assert expected in allow


def test_named_port_missing_on_the_pod_matches_nothing():
    rs = compile_ruleset([], PODS, [pol("web", {"matchLabels": {"app": "web"}}, ingress=[{"ports": [{"port": "pg"}]}])])
    (drop,) = chain_rules(rs, "I", "10.244.0.1")
    assert drop.endswith("-j DROP")


def test_named_port_on_egress_resolves_per_destination_pod():
    rs = compile_ruleset(
        [],
        PODS,
        [pol("web", {"matchLabels": {"app": "web"}}, policyTypes=["Egress"], egress=[{"ports": [{"port": "http"}]}])],
    )
    *allows, _ = chain_rules(rs, "E", "10.244.0.1")
    by_port = {re.search(r"--dport (\d+)", r).group(1): set_members(rs, r) for r in allows}
    assert by_port == {"8080": {"10.244.0.2"}, "9090": {"10.244.0.3"}}


def test_ip_block_is_a_net_set_with_except_entries_as_nomatch_and_slash_zero_split():
    rs = compile_ruleset(
        [],
        PODS,
        [
            pol(
                "web",
                {"matchLabels": {"app": "web"}},
                policyTypes=["Egress"],
                egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"]}}]}],
            )
        ],
    )
    allow, _ = chain_rules(rs, "E", "10.244.0.1")
    name = re.search(r"--match-set (\S+) dst", allow).group(1)
    (s,) = [s for s in rs.ipsets if s.name == name]
    assert (s.kind, s.members, s.nomatch) == ("hash:net", ("0.0.0.0/1", "128.0.0.0/1"), ("10.244.0.0/16",))
    assert f"add {name} 10.244.0.0/16 nomatch -exist" in rs.ipset_restore()


def test_ipv6_blocks_match_nothing_in_the_ipv4_lab_and_say_so():
    rs = compile_ruleset(
        [], PODS, [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"from": [{"ipBlock": {"cidr": "fd00::/8"}}]}])]
    )
    (drop,) = chain_rules(rs, "I", "10.244.0.2")
    assert drop.endswith("-j DROP") and any("IPv4 only" in n for n in rs.notes)


def test_sctp_rules_are_skipped_with_a_note_where_the_kernel_cannot_load_them():
    rs = compile_ruleset(
        [],
        PODS,
        [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"ports": [{"protocol": "SCTP", "port": 9}]}])],
        sctp=False,
    )
    (drop,) = chain_rules(rs, "I", "10.244.0.2")
    assert drop.endswith("-j DROP") and any("SCTP" in n for n in rs.notes)


@pytest.mark.parametrize("status", [{"podIP": None}, {"phase": "Succeeded"}, {"phase": "Failed"}])
def test_pods_without_an_address_or_finished_are_not_selected_as_peers(status):
    gone = pod("gone", "10.244.0.7", labels={"app": "web"}, **status)
    rs = compile_ruleset(
        [],
        PODS + [gone],
        [
            pol(
                "db",
                {"matchLabels": {"app": "db"}},
                ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
            )
        ],
    )
    allow, _ = chain_rules(rs, "I", "10.244.0.2")
    assert set_members(rs, allow) == {"10.244.0.1"}


def test_host_network_pods_are_not_subject_to_policies():
    host = pod("node-agent", "10.244.0.8")
    host["spec"]["hostNetwork"] = True
    rs = compile_ruleset([], PODS + [host], [pol("deny", {}, policyTypes=["Ingress"])])
    assert chain_rules(rs, "I", "10.244.0.8") == []


def test_policies_in_another_namespace_do_not_select_the_pod():
    rs = compile_ruleset([], PODS, [pol("deny", {}, ns="elsewhere", policyTypes=["Ingress"])])
    assert not [r for r in rs.rules if r.startswith("-A KRL-INGRESS")]


def test_faults_come_before_conntrack_and_policies_and_survive_cni_none():
    faults = [
        Fault(FaultAction.DENY, "default/web", "default/db", 5432, "TCP"),
        Fault(FaultAction.ALLOW, "default/api", "default/db", 22, "UDP").to_dict(),
        Fault(FaultAction.ALLOW, "default/ghost", "default/db", 1),
    ]
    for enforce in (True, False):
        rs = compile_ruleset([], PODS, [pol("deny", {}, policyTypes=["Ingress"])], faults, enforce=enforce)
        forward = [r for r in rs.rules if r.startswith("-A FORWARD")]
        assert forward[0] == f"-A FORWARD -j {CHAIN_FAULTS}" and "ESTABLISHED" in forward[1]
        fault_rules = [r for r in rs.rules if r.startswith(f"-A {CHAIN_FAULTS}")]
        assert len(fault_rules) == 2
        assert fault_rules[0].startswith(
            f"-A {CHAIN_FAULTS} -s 10.244.0.1/32 -d 10.244.0.2/32 -p tcp -m tcp --dport 5432"
        )
        assert fault_rules[0].endswith("-j DROP") and fault_rules[1].endswith("-j ACCEPT")
        assert any("default/ghost" in n for n in rs.notes)
        assert bool(chain_rules(rs, "I", "10.244.0.2")) is enforce


def test_output_is_deterministic_and_sets_are_named_by_content():
    pols = [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"from": [{"podSelector": {}}]}])]
    a = compile_ruleset([], PODS, pols)
    b = compile_ruleset([], list(reversed(PODS)), pols)
    assert a.iptables_restore() == b.iptables_restore() and a.ipsets == b.ipsets
    assert all(len(s.name) <= 31 for s in a.ipsets)
    text = a.iptables_restore()
    assert text.startswith("*filter\n") and text.endswith("COMMIT\n")


@pytest.mark.parametrize(
    "expr, labels, expected",
    [
        ({"key": "tier", "operator": "In", "values": ["a", "b"]}, {"tier": "a"}, True),
        ({"key": "tier", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {"tier": "a"}, False),
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "x"}, False),
    ],
)
def test_match_expressions(expr, labels, expected):
    assert matches({"matchExpressions": [expr]}, labels) is expected


def test_unknown_selector_operator_is_an_error_naming_it():
    with pytest.raises(SelectorError, match="Near"):
        matches({"matchExpressions": [{"key": "k", "operator": "Near"}]}, {})


labels_st = st.dictionaries(st.sampled_from(["app", "tier", "env"]), st.sampled_from(["a", "b", "c"]), max_size=3)


@given(labels_st, labels_st)
def test_match_labels_is_subset_inclusion(selector, labels):
    assert matches({"matchLabels": selector}, labels) is (selector.items() <= labels.items())
    assert matches({}, labels) and matches(None, labels)


def svc(name, selector, cip, ports, ns="default"):
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": selector, "clusterIP": cip, "ports": ports},
    }


def test_service_ports_dnat_to_each_endpoint_with_equal_probability_and_named_target_ports():
    second = pod("db2", "10.244.0.4", labels={"app": "db"}, ports=[(8081, "TCP", "http")])
    rs = compile_ruleset(
        [],
        PODS + [second],
        [],
        **routed([svc("db", {"app": "db"}, "10.96.0.10", [{"port": 80, "targetPort": "http"}])], PODS + [second]),
        hairpin_source="169.254.1.1",
    )
    nat = rs.iptables_restore().split("*nat", 1)[1]
    assert "-A KRL-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80" in nat
    assert "-j DNAT --to-destination 10.244.0.2:8080" in nat and "-j DNAT --to-destination 10.244.0.4:8081" in nat
    assert "--probability 0.50000000000" in nat
    assert "-A KRL-HAIRPIN -j SNAT --to-source 169.254.1.1" in nat


@pytest.mark.parametrize(
    "service, note",
    [
        (svc("none", {"app": "ghost"}, "10.96.0.12", [{"port": 80}]), "no endpoints"),
        (svc("headless", {"app": "db"}, "None", [{"port": 80}]), None),
        (svc("noselector", {}, "10.96.0.13", [{"port": 80}]), None),
    ],
)
def test_services_without_endpoints_or_cluster_ip_get_no_dnat(service, note):
    rs = compile_ruleset([], PODS, [], **routed([service], PODS))
    assert not [r for r in rs.nat_rules if "DNAT" in r]
    assert (note is None) or any(note in n for n in rs.notes)


def test_only_ready_pods_are_service_endpoints():
    pending = pod("db-new", "10.244.0.5", labels={"app": "db"}, phase="Pending")
    unready = pod("db-slow", "10.244.0.6", labels={"app": "db"}, conditions=[{"type": "Ready", "status": "False"}])
    pods = PODS + [pending, unready]
    rs = compile_ruleset([], pods, [], **routed([svc("db", {"app": "db"}, "10.96.0.10", [{"port": 5432}])], pods))
    dnat = [r for r in rs.nat_rules if "DNAT" in r]
    assert dnat == [r for r in dnat if "10.244.0.2:5432" in r] and len(dnat) == 1


@pytest.mark.parametrize(
    "block, matches_anything, nomatch",
    [
        ({"cidr": "10.1.0.0/16", "except": ["10.0.0.0/8"]}, False, None),  # all of it excepted
        ({"cidr": "10.1.0.0/16", "except": ["192.168.0.0/16"]}, True, ()),  # except elsewhere: no effect
        ({"cidr": "10.1.0.0/16", "except": ["10.1.2.0/24", "fd00::/8"]}, True, ("10.1.2.0/24",)),
    ],
)
def test_ip_block_except_entries_only_count_inside_the_block(block, matches_anything, nomatch):
    rs = compile_ruleset(
        [], PODS, [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"from": [{"ipBlock": block}]}])]
    )
    rules = chain_rules(rs, "I", "10.244.0.2")
    assert (len(rules) == 2) is matches_anything
    if matches_anything:
        (s,) = rs.ipsets
        assert s.nomatch == nomatch


def test_named_port_on_a_native_sidecar_resolves_like_a_container_port():
    """An init container with restartPolicy Always keeps running: its named ports count;
    a plain init container's do not."""
    db = pod("db", "10.244.0.2", ports=[(5432, "TCP", "pg")])
    db["spec"]["initContainers"] = [
        {"name": "setup", "ports": [{"containerPort": 7000, "name": "setup"}]},
        {"name": "proxy", "restartPolicy": "Always", "ports": [{"containerPort": 9901, "name": "metrics"}]},
    ]
    rs = compile_ruleset(
        [],
        [WEB, db],
        [pol("db", {"matchLabels": {"app": "db"}}, ingress=[{"ports": [{"port": "metrics"}, {"port": "setup"}]}])],
    )
    *allows, drop = chain_rules(rs, "I", "10.244.0.2")
    assert [re.search(r"--dport (\d+)", r).group(1) for r in allows] == ["9901"]
    assert drop.endswith("-j DROP")
    rs = compile_ruleset(
        [],
        [WEB, db],
        [],
        **routed([svc("db", {"app": "db"}, "10.96.0.10", [{"port": 80, "targetPort": "metrics"}])], [WEB, db]),
        hairpin_source="169.254.1.1",
    )
    assert "-j DNAT --to-destination 10.244.0.2:9901" in rs.iptables_restore().split("*nat", 1)[1]
