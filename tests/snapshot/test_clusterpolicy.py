"""Cluster policy tiers in the snapshot: chosen by API group and version, validated as their
CRDs validate them (one case per rule), the v1alpha1 pair rewritten into the v1alpha2 form,
unrelated APIs of the same kind (EKS) refused clearly and counted."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import ManifestError
from orchestrator.snapshot import Origin, Tier, load_manifests, snapshot_from_objects

CNP = """
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
    - name: from-monitoring
      action: Accept
      from: [{namespaces: {matchLabels: {team: monitoring}}}]
      protocols: [{tcp: {destinationPort: {number: 9090}}}, {destinationNamedPort: metrics}]
  egress:
    - action: Deny
      to:
        - networks: [10.0.0.0/8, "fd00::/8"]
        - pods: {podSelector: {matchLabels: {app: db}}}
      protocols: [{udp: {destinationPort: {range: {start: 1000, end: 2000}}}}]
    - action: Accept
      to: [{domainNames: ["*.example.com", "kubernetes.io."]}]
    - action: Pass
      to: [{nodes: {matchLabels: {role: worker}}}]
"""

ANP = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: old-guard}
spec:
  priority: 5
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}
  ingress:
    - action: Allow
      from: [{pods: {namespaceSelector: {}, podSelector: {}}}]
      ports: [{portNumber: {port: 80}}, {portRange: {protocol: UDP, start: 53, end: 60}}, {namedPort: http}]
  egress:
    - action: Pass
      to: [{networks: [192.0.2.0/24]}]
"""

BANP = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
    - {action: Deny, from: [{namespaces: {}}]}
"""


def docs(*texts: str) -> list[dict[str, Any]]:
    return [d for t in texts for d in yaml.safe_load_all(textwrap.dedent(t)) if d]


def snap(*texts: str):
    return snapshot_from_objects((d, Origin("test.yaml", i)) for i, d in enumerate(docs(*texts), 1))


def error(*texts: str) -> ManifestError:
    with pytest.raises(ManifestError) as exc:
        snap(*texts)
    return exc.value


def test_a_v1alpha2_cluster_network_policy_is_kept_in_the_canonical_form():
    (p,) = snap(CNP).cluster_policies
    assert (p.kind, p.api_version, p.key, p.tier, p.priority) == (
        "ClusterNetworkPolicy",
        "policy.networking.k8s.io/v1alpha2",
        "cnp/guard",
        Tier.ADMIN,
        10,
    )
    assert p.spec["subject"] == {"namespaces": {"matchLabels": {"env": "prod"}}}
    assert p.spec["ingress"][0]["protocols"][1] == {"destinationNamedPort": "metrics"}
    assert p.spec["egress"][0]["to"][1] == {
        "pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "db"}}}
    }
    assert [r["action"] for r in p.spec["egress"]] == ["Deny", "Accept", "Pass"]


def test_v1beta1_is_the_same_spec_and_the_same_object_as_v1alpha2():
    beta = CNP.replace("v1alpha2", "v1beta1")
    (p,) = snap(beta).cluster_policies
    assert p.api_version == "policy.networking.k8s.io/v1beta1" and p.key == "cnp/guard"
    assert p.spec == snap(CNP).cluster_policies[0].spec
    err = error(CNP, beta)  # the API server serves both versions of one object
    assert err.field == "metadata.name" and "duplicate ClusterNetworkPolicy guard" in str(err)


def test_the_v1alpha1_pair_maps_onto_the_same_tiers_allow_is_accept_and_ports_are_protocols():
    anp, banp = snap(ANP, BANP).cluster_policies
    assert (anp.key, anp.tier, anp.priority) == ("anp/old-guard", Tier.ADMIN, 5)
    assert (banp.key, banp.tier, banp.priority) == ("banp/default", Tier.BASELINE, None)
    rule = anp.spec["ingress"][0]
    assert rule["action"] == "Accept"
    assert rule["protocols"] == [
        {"tcp": {"destinationPort": {"number": 80}}},  # protocol defaults to TCP
        {"udp": {"destinationPort": {"range": {"start": 53, "end": 60}}}},
        {"destinationNamedPort": "http"},
    ]
    assert anp.spec["egress"][0] == {"action": "Pass", "to": [{"networks": ["192.0.2.0/24"]}]}


EKS = """
apiVersion: networking.k8s.aws/v1alpha1
kind: ClusterNetworkPolicy
metadata: {name: eks-guard}
spec: {tier: Admin, priority: 10, subject: {namespaces: {}}, whatever: [1, 2]}
"""


def test_the_eks_cluster_network_policy_is_refused_by_its_api_group_counted_and_explained():
    s = snap(CNP, EKS, EKS.replace("eks-guard", "eks-2"))
    assert [p.key for p in s.cluster_policies] == ["cnp/guard"]  # never mistaken for the upstream kind
    assert s.skipped_kinds == {"ClusterNetworkPolicy (networking.k8s.aws/v1alpha1)": 2}
    (note,) = s.notes
    assert note.startswith("2 ClusterNetworkPolicy objects of networking.k8s.aws/v1alpha1")
    assert "Amazon EKS" in note and "not understood" in note and "left out of the prediction" in note
    assert "policy.networking.k8s.io/v1alpha2" in note


def test_other_versions_of_the_group_are_not_understood_either():
    s = snap(CNP.replace("v1alpha2", "v1"), ANP.replace("v1alpha1", "v1alpha2"))
    assert not s.cluster_policies
    assert s.skipped_kinds == {
        "ClusterNetworkPolicy (policy.networking.k8s.io/v1)": 1,
        "AdminNetworkPolicy (policy.networking.k8s.io/v1alpha2)": 1,
    }
    assert len(s.notes) == 2 and all("not understood" in n for n in s.notes)


def test_without_api_version_the_kind_alone_is_not_enough():
    obj = docs(CNP)[0]
    del obj["apiVersion"]
    with pytest.raises(ManifestError, match="apiVersion: required for ClusterNetworkPolicy"):
        snapshot_from_objects([(obj, Origin("x.yaml", 3))])


def test_nodes_keep_labels_and_ip_addresses_only():
    (node,) = snap("""
        apiVersion: v1
        kind: Node
        metadata: {name: n1, labels: {role: worker}}
        status:
          addresses:
            - {type: InternalIP, address: 172.18.0.2}
            - {type: Hostname, address: n1}
            - {type: InternalIP, address: "fd00::2"}
        """).nodes
    assert (node.name, dict(node.labels), node.addresses) == ("n1", {"role": "worker"}, ("172.18.0.2", "fd00::2"))


def test_files_on_disk_name_file_document_object_and_field(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text(
        textwrap.dedent(CNP) + "---\n" + textwrap.dedent(CNP).replace("guard", "bad").replace("10", "1001", 1)
    )
    with pytest.raises(ManifestError) as exc:
        load_manifests([str(path)])
    text = str(exc.value)
    assert str(path) in text and "document 2" in text and "ClusterNetworkPolicy bad" in text
    assert "spec.priority" in text and "1001 is out of range 0-1000" in text


def mutate(text: str, path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    """``text``'s first document with ``path`` (dots, [i]) set to ``value`` (or deleted)."""
    obj = copy.deepcopy(docs(text)[0])
    parts = path.replace("[", ".[").split(".")
    node: Any = obj
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    key: Any = int(last[1:-1]) if last.startswith("[") else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return obj


def many(n: int, item: Any) -> list[Any]:
    return [copy.deepcopy(item) for _ in range(n)]


DENY_ALL = {"action": "Deny", "to": [{"namespaces": {}}]}
# (manifest, path, value | DELETE, the field reported, words in the message): one per CRD rule
DELETE = object()
INVALID = [
    (CNP, "spec.tier", "Platform", "spec.tier", "expected Admin, Baseline"),
    (CNP, "spec.tier", DELETE, "spec.tier", "required"),
    (CNP, "spec.priority", -1, "spec.priority", "out of range 0-1000"),
    (CNP, "spec.priority", 1001, "spec.priority", "out of range 0-1000"),
    (CNP, "spec.priority", "10", "spec.priority", "expected an integer"),
    (CNP, "spec.priority", DELETE, "spec.priority", "required"),
    (CNP, "spec.subject", {}, "spec.subject", "exactly one of namespaces, pods"),
    (
        CNP,
        "spec.subject",
        {"namespaces": {}, "pods": {"podSelector": {}}},
        "spec.subject",
        "exactly one of namespaces, pods, got namespaces and pods",
    ),
    (CNP, "spec.subject", {"pods": {"namespaceSelector": {}}}, "spec.subject.pods.podSelector", "required"),
    (CNP, "spec.subject", DELETE, "spec.subject", "required"),
    (CNP, "spec.egress", many(26, DENY_ALL), "spec.egress", "at most 25"),
    (CNP, "spec.egress[0].to", many(26, {"namespaces": {}}), "spec.egress[0].to", "at most 25"),
    (CNP, "spec.egress[0].to", [], "spec.egress[0].to", "at least 1 item"),
    (CNP, "spec.egress[0].to", DELETE, "spec.egress[0].to", "required"),
    (CNP, "spec.egress[0].protocols", [], "spec.egress[0].protocols", "at least 1 item"),
    (
        CNP,
        "spec.egress[0].protocols",
        many(26, {"tcp": {"destinationPort": {"number": 80}}}),
        "spec.egress[0].protocols",
        "at most 25",
    ),
    (CNP, "spec.egress[0].action", "Allow", "spec.egress[0].action", "expected Accept, Deny, Pass"),
    (CNP, "spec.egress[0].name", "x" * 101, "spec.egress[0].name", "longer than 100"),
    (CNP, "spec.egress[0].to[0]", {}, "spec.egress[0].to[0]", "exactly one of namespaces, pods, nodes"),
    (
        CNP,
        "spec.egress[0].to[0]",
        {"namespaces": {}, "networks": ["10.0.0.0/8"]},
        "spec.egress[0].to[0]",
        "got namespaces and networks",
    ),
    (CNP, "spec.ingress[0].from[0]", {"networks": ["10.0.0.0/8"]}, "spec.ingress[0].from[0].networks", "unknown field"),
    (CNP, "spec.egress[0].to[0].networks", [], "spec.egress[0].to[0].networks", "at least 1 item"),
    (CNP, "spec.egress[0].to[0].networks", many(26, "10.0.0.0/8"), "spec.egress[0].to[0].networks", "at most 25"),
    (
        CNP,
        "spec.egress[0].to[0].networks",
        ["10.0.0.0/8", "10.0.0.0/8"],
        "spec.egress[0].to[0].networks[1]",
        "duplicate",
    ),
    (CNP, "spec.egress[0].to[0].networks", ["10.0.0.1"], "spec.egress[0].to[0].networks[0]", "not a CIDR"),
    (CNP, "spec.egress[0].to[0].networks", ["10.0.0.300/8"], "spec.egress[0].to[0].networks[0]", "invalid CIDR"),
    (CNP, "spec.egress[1].to[0].domainNames", ["*example.com"], "spec.egress[1].to[0].domainNames[0]", "not a domain"),
    (CNP, "spec.egress[1].to[0].domainNames", ["localhost"], "spec.egress[1].to[0].domainNames[0]", "not a domain"),
    (CNP, "spec.egress[1].to[0].domainNames", ["a.*.com"], "spec.egress[1].to[0].domainNames[0]", "not a domain"),
    (
        CNP,
        "spec.egress[1].action",
        "Deny",
        "spec.egress[1].action",
        "domainNames peers are only supported with action Accept",
    ),
    (
        CNP,
        "spec.egress[2].protocols",
        [{"destinationNamedPort": "web"}],
        "spec.egress[2]",
        "networks/nodes/domainNames peer cannot be set with named ports",
    ),
    (
        CNP,
        "spec.egress[0].protocols",
        [{"destinationNamedPort": "web"}],
        "spec.egress[0]",
        "networks/nodes/domainNames peer cannot be set with named ports",
    ),
    (CNP, "spec.egress[0].protocols[0]", {}, "spec.egress[0].protocols[0]", "exactly one of tcp, udp, sctp"),
    (
        CNP,
        "spec.egress[0].protocols[0]",
        {"tcp": {"destinationPort": {"number": 80}}, "udp": {"destinationPort": {"number": 80}}},
        "spec.egress[0].protocols[0]",
        "got tcp and udp",
    ),
    (CNP, "spec.egress[0].protocols[0]", {"tcp": {}}, "spec.egress[0].protocols[0].tcp.destinationPort", "required"),
    (
        CNP,
        "spec.egress[0].protocols[0]",
        {"sctp": {"destinationPort": {"number": 0}}},
        "spec.egress[0].protocols[0].sctp.destinationPort.number",
        "out of range 1-65535",
    ),
    (
        CNP,
        "spec.egress[0].protocols[0].udp.destinationPort",
        {"range": {"start": 2000, "end": 2000}},
        "spec.egress[0].protocols[0].udp.destinationPort.range",
        "start port 2000 must be less than end port 2000",
    ),
    (
        CNP,
        "spec.egress[0].protocols[0].udp.destinationPort",
        {"number": 80, "range": {"start": 1, "end": 2}},
        "spec.egress[0].protocols[0].udp.destinationPort",
        "exactly one of number, range",
    ),
    (CNP, "spec.egress[0].protocols[0]", {"icmp": {}}, "spec.egress[0].protocols[0].icmp", "unknown field"),
    (CNP, "spec.ingress[0].portz", [], "spec.ingress[0].portz", "unknown field"),
    (
        CNP,
        "spec.ingress[0].from[0].namespaces",
        {"matchLabels": {"team": 7}},
        "spec.ingress[0].from[0].namespaces.matchLabels.team",
        "must be a string",
    ),
    (
        CNP,
        "spec.egress[2].to[0].nodes",
        {"matchExpressions": [{"key": "a"}]},
        "spec.egress[2].to[0].nodes.matchExpressions[0].operator",
        "unknown operator",
    ),
    (ANP, "spec.priority", 1001, "spec.priority", "out of range 0-1000"),
    (ANP, "spec.tier", "Admin", "spec.tier", "unknown field"),
    (ANP, "spec.ingress[0].action", "Accept", "spec.ingress[0].action", "expected Allow, Deny, Pass"),
    (ANP, "spec.ingress", many(101, {"action": "Deny", "from": [{"namespaces": {}}]}), "spec.ingress", "at most 100"),
    (ANP, "spec.ingress[0].ports", [], "spec.ingress[0].ports", "at least 1 item"),
    (
        ANP,
        "spec.ingress[0].ports[0]",
        {"portNumber": {"protocol": "ICMP", "port": 1}},
        "spec.ingress[0].ports[0].portNumber.protocol",
        "expected TCP, UDP, SCTP",
    ),
    (
        ANP,
        "spec.ingress[0].ports[0]",
        {"portNumber": {"protocol": "TCP"}},
        "spec.ingress[0].ports[0].portNumber.port",
        "required",
    ),
    (
        ANP,
        "spec.ingress[0].ports[1].portRange.start",
        60,
        "spec.ingress[0].ports[1].portRange",
        "must be less than end port 60",
    ),
    (
        ANP,
        "spec.ingress[0].ports[0]",
        {"namedPort": "a", "portNumber": {"port": 1}},
        "spec.ingress[0].ports[0]",
        "exactly one of portNumber, namedPort, portRange",
    ),
    (ANP, "spec.subject.pods", {"podSelector": {}}, "spec.subject.pods.namespaceSelector", "required"),
    (
        ANP,
        "spec.egress[0].to[0].networks",
        ["::ffff:10.0.0.0/104"],
        "spec.egress[0].to[0].networks[0]",
        "IPv4 embedded in IPv6",
    ),
    (ANP, "spec.egress[0].ports", [{"namedPort": "http"}], "spec.egress[0]", "cannot be set with named ports"),
    (
        ANP,
        "spec.egress[0].to",
        [{"domainNames": ["a.example.com"]}],
        "spec.egress[0].action",
        "only supported with action Allow",
    ),
    (BANP, "metadata.name", "strict", "metadata.name", 'metadata.name "default"'),
    (BANP, "spec.ingress[0].action", "Pass", "spec.ingress[0].action", "expected Allow, Deny"),
    (BANP, "spec.priority", 3, "spec.priority", "unknown field"),
    (BANP, "spec.ingress[0].from", [{"networks": ["10.0.0.0/8"]}], "spec.ingress[0].from[0].networks", "unknown field"),
    (
        BANP,
        "spec.egress",
        [{"action": "Allow", "to": [{"domainNames": ["a.example.com"]}]}],
        "spec.egress[0].to[0].domainNames",
        "unknown field",
    ),
    (BANP, "spec", DELETE, "spec", "required"),
]


@pytest.mark.parametrize(
    "manifest,path,value,field,words",
    INVALID,
    ids=[f"{yaml.safe_load(m.split('---')[0])['kind']}:{p}:{w}" for m, p, _, _, w in INVALID],
)
def test_each_crd_rule_is_enforced_with_file_document_object_and_field(manifest, path, value, field, words):
    obj = mutate(manifest, path, None, delete=True) if value is DELETE else mutate(manifest, path, value)
    with pytest.raises(ManifestError) as exc:
        snapshot_from_objects([(obj, Origin("tiers.yaml", 2))])
    err = exc.value
    assert err.field == field, str(err)
    assert words in str(err)
    assert "tiers.yaml, document 2" in str(err) and obj["kind"] in str(err)


def test_the_valid_manifests_of_this_table_are_valid():
    s = snap(CNP, ANP, BANP)
    assert [p.key for p in s.cluster_policies] == ["cnp/guard", "anp/old-guard", "banp/default"]


def test_a_cluster_scoped_object_ignores_metadata_namespace_and_keeps_its_origin():
    obj = docs(CNP)[0]
    obj["metadata"]["namespace"] = "ignored"
    (p,) = snapshot_from_objects([(obj, Origin("f.yaml", 4))]).cluster_policies
    assert p.key == "cnp/guard" and str(p.origin) == "f.yaml, document 4"


def test_a_long_hostile_domain_name_is_refused_quickly_and_quoted_briefly():
    evil = "a" * 50_000 + "!"
    obj = mutate(CNP, "spec.egress[1].to[0].domainNames", [evil])
    with pytest.raises(ManifestError) as exc:
        snapshot_from_objects([(obj, Origin("f.yaml", 1))])
    assert len(str(exc.value)) < 600


# every valid manifest of this file, mutated at random: a snapshot or a clean ManifestError
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.sampled_from(["", "Admin", "Baseline", "Accept", "Pass", "Allow", "TCP", "10.0.0.0/8", "*.x.io", "web"]),
    st.lists(st.sampled_from([{}, {"namespaces": {}}, "x", 3]), max_size=2),
    st.dictionaries(
        st.sampled_from(["number", "range", "start", "tcp", "pods", "namespaces"]), st.integers(0, 3), max_size=2
    ),
)


def _paths(node: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{prefix}.{k}" if prefix else k
            out.append(p)
            out += _paths(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            p = f"{prefix}[{i}]"
            out.append(p)
            out += _paths(v, p)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([CNP, ANP, BANP]), st.data())
def test_mutated_cluster_policies_load_or_fail_cleanly(manifest, data):
    paths = [p for p in _paths(docs(manifest)[0]) if not p.startswith(("apiVersion", "kind"))]
    path = data.draw(st.sampled_from(paths))
    obj = mutate(manifest, path, data.draw(LEAVES))
    try:
        snapshot_from_objects([(obj, Origin("fuzz.yaml", 1))])
    except ManifestError as exc:
        assert exc.field is None or isinstance(exc.field, str)
