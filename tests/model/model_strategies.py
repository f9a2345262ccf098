"""Hypothesis strategies for small random clusters (namespaces, pods, NetworkPolicies as API dicts)."""

from __future__ import annotations

from hypothesis import strategies as st

LABEL_KEYS = ["app", "tier"]
LABEL_VALUES = ["a", "b", "c"]
PORTS = [
    (80, "TCP", "http"),
    (8080, "TCP", "http"),
    (53, "UDP", "dns"),
    (53, "TCP", "dns"),
    (9000, "SCTP", None),
    (443, "TCP", None),
]
IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.1.0.1", "fd00::1", "fd00::2:1", None]

labels = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=2)

requirement = st.one_of(
    st.builds(
        lambda k, vs: {"key": k, "operator": "In", "values": vs},
        st.sampled_from(LABEL_KEYS),
        st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2),
    ),
    st.builds(
        lambda k, vs: {"key": k, "operator": "NotIn", "values": vs},
        st.sampled_from(LABEL_KEYS),
        st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2),
    ),
    st.builds(lambda k: {"key": k, "operator": "Exists"}, st.sampled_from(LABEL_KEYS)),
    st.builds(lambda k: {"key": k, "operator": "DoesNotExist"}, st.sampled_from(LABEL_KEYS)),
)
selector = st.one_of(
    st.just({}),
    st.builds(lambda m: {"matchLabels": m}, labels),
    st.builds(lambda e: {"matchExpressions": e}, st.lists(requirement, min_size=1, max_size=2)),
)
ns_selector = st.one_of(
    st.just({}),
    st.builds(lambda v: {"matchLabels": {"team": v}}, st.sampled_from(["x", "y"])),
    st.just({"matchLabels": {"kubernetes.io/metadata.name": "n1"}}),
)
ip_block = st.sampled_from(
    [
        {"cidr": "10.0.0.0/16"},
        {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]},
        {"cidr": "0.0.0.0/0"},
        {"cidr": "fd00::/64"},
        {"cidr": "fd00::/16", "except": ["fd00::/64"]},
        {"cidr": "10.0.0.1/32"},
    ]
)
peer = st.one_of(
    st.builds(lambda s: {"podSelector": s}, selector),
    st.builds(lambda n: {"namespaceSelector": n}, ns_selector),
    st.builds(lambda s, n: {"podSelector": s, "namespaceSelector": n}, selector, ns_selector),
    st.builds(lambda b: {"ipBlock": b}, ip_block),
)
port = st.one_of(
    st.builds(lambda p: {"port": p}, st.sampled_from([80, 53, 443, 8080, 9000])),
    st.builds(
        lambda p, proto: {"port": p, "protocol": proto},
        st.sampled_from([53, 9000, 80]),
        st.sampled_from(["UDP", "SCTP", "TCP"]),
    ),
    st.builds(
        lambda n, proto: {"port": n, "protocol": proto},
        st.sampled_from(["http", "dns"]),
        st.sampled_from(["TCP", "UDP"]),
    ),
    st.just({"port": 50, "endPort": 100}),
    st.just({"protocol": "UDP"}),
)


def rule(peer_key: str):
    return st.builds(
        lambda peers, ports: {k: v for k, v in ((peer_key, peers), ("ports", ports)) if v is not None},
        st.one_of(st.none(), st.lists(peer, max_size=2)),
        st.one_of(st.none(), st.lists(port, max_size=2)),
    )


policy_spec = st.builds(
    lambda sel, types, ing, eg: {
        k: v
        for k, v in (("podSelector", sel), ("policyTypes", types), ("ingress", ing), ("egress", eg))
        if v is not None
    },
    selector,
    st.one_of(st.none(), st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]])),
    st.one_of(st.none(), st.lists(rule("from"), max_size=2)),
    st.one_of(st.none(), st.lists(rule("to"), max_size=2)),
)


@st.composite
def clusters(draw, max_pods: int = 5, max_policies: int = 3):
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1", "labels": {"team": "x"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n2", "labels": {"team": "y"}}},
    ]
    n = draw(st.integers(1, max_pods))
    used_ips: set[str] = set()
    for i in range(n):
        ns = draw(st.sampled_from(["n1", "n2", "n3"]))  # n3 has no Namespace object
        ip = draw(st.sampled_from(IPS))
        if ip in used_ips:
            ip = None
        if ip:
            used_ips.add(ip)
        ports = draw(st.lists(st.sampled_from(PORTS), max_size=2, unique_by=lambda p: (p[0], p[1])))
        names = set()
        cports = []
        for number, proto, name in ports:
            entry = {"containerPort": number, "protocol": proto}
            if name and name not in names:
                entry["name"] = name
                names.add(name)
            cports.append(entry)
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": ns, "labels": draw(labels)},
            "spec": {
                "containers": [{"name": "c", "ports": cports}],
                "hostNetwork": draw(st.sampled_from([False] * 5 + [True])),
            },
        }
        if ip:
            obj["status"] = {"podIP": ip}
        objs.append(obj)
    for j in range(draw(st.integers(0, max_policies))):
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{j}", "namespace": draw(st.sampled_from(["n1", "n2", "n3"]))},
                "spec": draw(policy_spec),
            }
        )
    return objs


# -- cluster policy tiers ---------------------------------------------------------------------
# Few distinct priorities, so equal-priority pairs (undefined upstream) come up often.
PRIORITIES = [0, 5, 10]
CIDRS = ["10.0.0.0/16", "10.0.0.1/32", "0.0.0.0/0", "fd00::/64", "10.1.0.0/24"]
NODE_LABELS = st.sampled_from([{}, {"role": "worker"}, {"role": "control"}])

cnp_pods = st.builds(
    lambda ns, pods: {"pods": {**({"namespaceSelector": ns} if ns is not None else {}), "podSelector": pods}},
    st.one_of(st.none(), ns_selector),
    selector,
)
cnp_pod_peer = st.one_of(st.builds(lambda n: {"namespaces": n}, ns_selector), cnp_pods)
cnp_address_peer = st.one_of(
    st.builds(lambda c: {"networks": c}, st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2, unique=True)),
    st.builds(lambda n: {"nodes": n}, st.sampled_from([{}, {"matchLabels": {"role": "worker"}}])),
)
DOMAIN_PEER = {"domainNames": ["*.example.com"]}
cnp_number = st.one_of(
    st.builds(lambda p: {"number": p}, st.sampled_from([80, 53, 9000, 443])),
    st.just({"range": {"start": 50, "end": 100}}),
)
cnp_protocol = st.one_of(
    st.builds(lambda k, p: {k: {"destinationPort": p}}, st.sampled_from(["tcp", "udp", "sctp"]), cnp_number),
    st.builds(lambda n: {"destinationNamedPort": n}, st.sampled_from(["http", "dns"])),
)


@st.composite
def cnp_rule(draw, ingress: bool):
    """A valid v1alpha2 rule: domainNames only on Accept, no named port towards addresses."""
    action = draw(st.sampled_from(["Accept", "Deny", "Pass"]))
    kinds = [cnp_pod_peer] if ingress else [cnp_pod_peer, cnp_address_peer]
    peers = draw(st.lists(st.one_of(*kinds), min_size=1, max_size=2))
    if not ingress and action == "Accept" and draw(st.booleans()) and draw(st.booleans()):
        peers.append(DOMAIN_PEER)
    rule = {"action": action, "from" if ingress else "to": peers}
    protocols = draw(st.one_of(st.none(), st.lists(cnp_protocol, min_size=1, max_size=2)))
    if protocols and any(("networks" in p or "nodes" in p or "domainNames" in p) for p in peers):
        protocols = [p for p in protocols if "destinationNamedPort" not in p] or None
    if protocols:
        rule["protocols"] = protocols
    return rule


def _v1alpha1_rule(rule: dict, baseline: bool) -> dict | None:
    """The same rule in the v1alpha1 shape (Allow, ports); None where v1alpha1 cannot say it."""
    action = {"Accept": "Allow"}.get(rule["action"], rule["action"])
    if baseline and action == "Pass":
        return None
    out = {k: v for k, v in rule.items() if k != "protocols"}
    out["action"] = action
    for peer in out.get("from", []) + out.get("to", []):
        if "pods" in peer and "namespaceSelector" not in peer["pods"]:
            return None  # required in v1alpha1
        if baseline and "domainNames" in peer:
            return None
    if "protocols" in rule:
        ports = []
        for p in rule["protocols"]:
            if "destinationNamedPort" in p:
                ports.append({"namedPort": p["destinationNamedPort"]})
                continue
            ((key, match),) = p.items()
            port = match["destinationPort"]
            if "number" in port:
                ports.append({"portNumber": {"protocol": key.upper(), "port": port["number"]}})
            else:
                ports.append({"portRange": {"protocol": key.upper(), **port["range"]}})
        out["ports"] = ports
    return out


@st.composite
def cluster_policy(draw, index: int, banp_taken: list[bool]):
    """A ClusterNetworkPolicy (v1alpha2 or v1beta1), an AdminNetworkPolicy or the BaselineAdminNetworkPolicy."""
    subject = draw(
        st.one_of(
            st.builds(lambda n: {"namespaces": n}, ns_selector),
            st.builds(lambda n, p: {"pods": {"namespaceSelector": n, "podSelector": p}}, ns_selector, selector),
        )
    )
    ingress = draw(st.lists(cnp_rule(True), max_size=2))
    egress = draw(st.lists(cnp_rule(False), max_size=3))
    flavour = draw(st.sampled_from(["v1alpha2", "v1beta1", "v1alpha2", "anp", "banp"]))
    if flavour == "banp" and banp_taken[0]:
        flavour = "anp"
    if flavour in ("anp", "banp"):
        baseline = flavour == "banp"
        ingress1 = [_v1alpha1_rule(r, baseline) for r in ingress]
        egress1 = [_v1alpha1_rule(r, baseline) for r in egress]
        if None not in ingress1 + egress1:
            spec = {"subject": subject, "ingress": ingress1, "egress": egress1}
            if baseline:
                banp_taken[0] = True
                return {
                    "apiVersion": "policy.networking.k8s.io/v1alpha1",
                    "kind": "BaselineAdminNetworkPolicy",
                    "metadata": {"name": "default"},
                    "spec": spec,
                }
            spec["priority"] = draw(st.sampled_from(PRIORITIES))
            return {
                "apiVersion": "policy.networking.k8s.io/v1alpha1",
                "kind": "AdminNetworkPolicy",
                "metadata": {"name": f"anp{index}"},
                "spec": spec,
            }
        flavour = "v1alpha2"
    return {
        "apiVersion": f"policy.networking.k8s.io/{flavour}",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": f"cnp{index}"},
        "spec": {
            "tier": draw(st.sampled_from(["Admin", "Baseline"])),
            "priority": draw(st.sampled_from(PRIORITIES)),
            "subject": subject,
            "ingress": ingress,
            "egress": egress,
        },
    }


@st.composite
def tiered_clusters(draw, max_pods: int = 5, max_policies: int = 2, max_cluster_policies: int = 3):
    """``clusters()`` plus cluster policies of both tiers and, sometimes, Nodes whose addresses
    are pod IPs (so ``nodes`` peers match host-network pods)."""
    objs = draw(clusters(max_pods=max_pods, max_policies=max_policies))
    banp_taken = [False]
    for k in range(draw(st.integers(1, max_cluster_policies))):
        objs.append(draw(cluster_policy(k, banp_taken)))
    for k in range(draw(st.integers(0, 2))):
        addresses = draw(st.lists(st.sampled_from([ip for ip in IPS if ip]), max_size=2, unique=True))
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"node{k}", "labels": draw(NODE_LABELS)},
                "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]},
            }
        )
    return objs
