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
