"""The Kubernetes NetworkPolicy conformance scenarios, as truth tables, plus the spec corners around them.

Each upstream e2e test in ``test/e2e/network/netpol/network_policy.go`` (kubernetes/kubernetes)
is translated here the way it is written there: the same pods (``x/a``, ``y/b``: namespaces
x, y, z labelled ``ns=<name>``, pods labelled ``pod=<name>``, one container per
(port, protocol) whose port is named ``serve-<port>-<proto>``), the same policies, and the
same ``Reachability`` truth table, built from "everything allowed" by the same
operations in the same order (``ExpectPeer`` / ``ExpectAllIngress`` / ``ExpectAllEgress``
/ ``Expect`` become ``(source pattern, destination pattern, allowed)``; ``*`` is any pod,
``x/*`` any pod of x). Tests that mutate the cluster (update a policy, relabel a pod or a
namespace, delete policies) become one case per step. Loopback is left out of the
upstream tables (``ignoreLoopback``); here a pod always reaches itself, checked separately.

Every case also names, for some connections, the *deciding rule* of each side: ``-`` not
isolated, ``host`` host-network, ``denied`` isolated and no rule allows it, or the first
allowing rule (``x/p ingress rule 0``; a list means exactly these rules allow it).
The fast matrix (:mod:`orchestrator.model.matrix`) must give the same decision and the
same reason on every cell. The cases after the upstream ones cover what the e2e suite
does not (cyclonus-style): policyTypes defaulting, endPort, named ports on several
containers and on egress, ipBlock against pods without an IP, IPv6, host-network pods,
matchExpressions operators, empty vs absent lists, and policy order independence.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from model_helpers import build

from orchestrator.model import Decision, PolicyModel, SideState, expected_matrix
from orchestrator.model.verdict import SAME_POD_REASON
from orchestrator.snapshot import Snapshot
from probe.schema import Protocol

NAMESPACES = ("x", "y", "z")
NODE_IP = "172.18.0.2"


def pod_ip(key: str, family: int = 4) -> str:
    ns, name = key.split("/")
    i, j = NAMESPACES.index(ns), ord(name[0]) - ord("a") + 10
    return f"10.244.{i}.{j}" if family == 4 else f"fd00:10:244:{i}::{j:x}"


LARGE_CIDR = {4: "10.244.0.0/16", 6: "fd00:10:244::/48"}
HOST_MASK = {4: 32, 6: 128}


def upstream_pod(
    key: str,
    ports: tuple[int, ...],
    protocols: tuple[str, ...],
    family: int = 4,
    labels: dict[str, str] | None = None,
    ip: str | None | bool = True,
    host_network: bool = False,
) -> dict[str, Any]:
    """The pod upstream's model.go builds: one agnhost container per (port, protocol)."""
    ns, name = key.split("/")
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels if labels is not None else {"pod": name}},
        "spec": {
            "hostNetwork": host_network,
            "containers": [
                {
                    "name": f"cont-{port}-{proto.lower()}",
                    "image": "agnhost",
                    "ports": [{"containerPort": port, "protocol": proto, "name": f"serve-{port}-{proto.lower()}"}],
                }
                for port in ports
                for proto in protocols
            ],
        },
    }
    if ip:
        addr = ip if isinstance(ip, str) else (NODE_IP if host_network else pod_ip(key, family))
        obj["status"] = {"podIP": addr, "podIPs": [{"ip": addr}]}
    return obj


@dataclass(frozen=True)
class Case:
    """One step of one upstream test (or one extra scenario).

    ``probes``: ``(port, protocol, truth-table operations)``, one per ``ValidateOrFail``.
    ``rules``: ``(source, destination, port, protocol, egress side, ingress side)``.
    """

    id: str
    pods: tuple[str, ...]
    policies: str
    probes: tuple[tuple[int, str, tuple[tuple[str, str, bool], ...]], ...]
    rules: tuple[tuple[str, str, int, str, Any, Any], ...] = ()
    ports: tuple[int, ...] = (80,)
    protocols: tuple[str, ...] = ("TCP",)
    family: int = 4
    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    custom_pods: tuple[dict[str, Any], ...] = ()  # replace the generated pod of the same key
    no_ip: tuple[str, ...] = ()
    host_network: tuple[str, ...] = ()

    def snapshot(self, policy_order: list[int] | None = None) -> Snapshot:
        objs: list[dict[str, Any]] = []
        for ns in NAMESPACES:
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"ns": ns, **self.ns_labels.get(ns, {})}},
                }
            )
        custom = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in self.custom_pods}
        for key in self.pods:
            if key in custom:
                objs.append(custom[key])
                continue
            labels = {"pod": key.split("/")[1], **self.pod_labels.get(key, {})}
            objs.append(
                upstream_pod(
                    key,
                    self.ports,
                    self.protocols,
                    self.family,
                    labels,
                    ip=key not in self.no_ip,
                    host_network=key in self.host_network,
                )
            )
        docs = [d for d in yaml.safe_load_all(self.policies) if d]
        if policy_order is not None:
            docs = [docs[i] for i in policy_order]
        for d in docs:
            objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **d})
        return build(objs)

    def truth_table(self, ops: tuple[tuple[str, str, bool], ...]) -> dict[tuple[str, str], bool]:
        table = {(s, d): True for s in self.pods for d in self.pods}  # NewReachability(..., true)
        for src_pat, dst_pat, allowed in ops:
            for s, d in table:
                if fnmatch.fnmatchcase(s, src_pat) and fnmatch.fnmatchcase(d, dst_pat):
                    table[(s, d)] = allowed
        return table


def upstream(pods: str, policies: str, *probes, **kw) -> dict[str, Any]:
    return {"pods": tuple(pods.split()), "policies": policies, "probes": probes, **kw}


def tcp(port: int, *ops: tuple[str, str, bool]) -> tuple[int, str, tuple]:
    return (port, "TCP", ops)


def udp(port: int, *ops: tuple[str, str, bool]) -> tuple[int, str, tuple]:
    return (port, "UDP", ops)


def sctp(port: int, *ops: tuple[str, str, bool]) -> tuple[int, str, tuple]:
    return (port, "SCTP", ops)


F, T = False, True

# -- policies shared by several upstream tests (SetSpecIngressRules() => policyTypes [Ingress]) ---------
DENY_INGRESS_X = """
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: []}
"""
DENY_ALL_X = """
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress], ingress: [], egress: []}
"""
ALLOW_81_FROM_Y = """
metadata: {name: allow-client-a-via-ns-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}],
             ports: [{port: 81, protocol: TCP}]}]
"""
ALLOW_80_FROM_Y = """
metadata: {name: allow-client-a-via-ns-selector-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}],
             ports: [{port: 80, protocol: TCP}]}]
"""


def only_from_ns_y(name: str, selector: str, protocol: str = "TCP", port: int | None = None) -> str:
    ports = f", ports: [{{port: {port}, protocol: {protocol}}}]" if port else ""
    return f"""
metadata: {{name: {name}, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{namespaceSelector: {selector}}}]{ports}}}]
"""


NS_Y = "{matchLabels: {kubernetes.io/metadata.name: y}}"
NS_NOT_X = "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}"
ONLY_YA = """
metadata: {name: allow-ns-y-pod-a-via-namespace-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}},
                     podSelector: {matchLabels: {pod: a}}}]}]
"""
EXCEPT_B = """
metadata: {name: allow-client-a-via-cidr-egress-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: "%(large)s", except: ["%(b)s/%(mask)s"]}}]}]
"""
ONLY_B = """
metadata: {name: %(name)s, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: "%(b)s/%(mask)s"}}]}]
"""


def cidr_vars(family: int, pod: str, name: str = "allow-client-a-via-cidr-egress-rule") -> dict[str, Any]:
    return {"large": LARGE_CIDR[family], "b": pod_ip(pod, family), "mask": HOST_MASK[family], "name": name}


UPSTREAM: dict[str, dict[str, Any]] = {
    "default-deny-ingress": upstream(
        "x/a x/b y/a y/b",
        DENY_INGRESS_X,
        tcp(80, ("*", "x/*", F)),
        rules=(("y/a", "x/a", 80, "TCP", "-", "denied"), ("x/a", "y/a", 80, "TCP", "-", "-")),
    ),
    "default-deny-all": upstream(
        "x/a x/b y/a",
        DENY_ALL_X,
        tcp(80, ("*", "x/*", F), ("x/*", "*", F)),
        rules=(("x/a", "y/a", 80, "TCP", "denied", "-"), ("y/a", "x/b", 80, "TCP", "-", "denied")),
    ),
    "allow-from-pods-in-server-namespace-by-podselector": upstream(
        "x/a x/b x/c y/a",
        """
metadata: {name: x-a-allows-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
""",
        tcp(80, ("*", "x/a", F), ("x/b", "x/a", T)),
        rules=(
            ("x/b", "x/a", 80, "TCP", "-", "x/x-a-allows-x-b ingress rule 0"),
            ("y/a", "x/a", 80, "TCP", "-", "denied"),
        ),
    ),
    "allow-ingress-for-a-target": upstream(
        "x/a x/b y/a",
        """
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: []}
---
metadata: {name: allow-all-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]
""",
        tcp(80, ("*", "x/a", T), ("*", "x/b", F)),
        rules=(
            ("y/a", "x/a", 80, "TCP", "-", "x/allow-all-to-a ingress rule 0"),
            ("x/a", "x/b", 80, "TCP", "-", "denied"),
        ),
    ),
    "allow-ingress-from-all-namespaces": upstream(
        "x/a x/b y/a z/a",
        """
metadata: {name: allow-from-another-ns, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {}}}]}]
""",
        tcp(80),
        rules=(("z/a", "x/a", 80, "TCP", "-", "x/allow-from-another-ns ingress rule 0"),),
    ),
    "allow-only-from-other-namespace-by-namespaceselector": upstream(
        "x/a x/b y/a z/a",
        only_from_ns_y("allow-client-a-via-ns-selector", NS_Y),
        tcp(80, ("x/*", "x/a", F), ("z/*", "x/a", F)),
        rules=(
            ("y/a", "x/a", 80, "TCP", "-", "x/allow-client-a-via-ns-selector ingress rule 0"),
            ("x/b", "x/a", 80, "TCP", "-", "denied"),
        ),
    ),
    "podselector-matchexpressions": upstream(
        "x/a x/b y/a",
        """
metadata: {name: x-a-allows-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [b]}]}}]}]
""",
        tcp(80, ("*", "x/a", F), ("x/b", "x/a", T)),
    ),
    "namespaceselector-matchexpressions": upstream(
        "x/a x/b y/a z/a",
        only_from_ns_y(
            "allow-ns-y-match-selector",
            "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [y]}]}",
        ),
        tcp(80, ("x/*", "x/a", F), ("z/*", "x/a", F)),
    ),
    "podselector-or-namespaceselector": upstream(
        "x/a x/b x/c y/a",
        f"""
metadata: {{name: allow-ns-y-match-selector, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{namespaceSelector: {NS_NOT_X}}}, {{podSelector: {{matchLabels: {{pod: b}}}}}}]}}]
""",
        tcp(80, ("x/a", "x/a", F), ("x/c", "x/a", F)),
        rules=(
            ("y/a", "x/a", 80, "TCP", "-", "x/allow-ns-y-match-selector ingress rule 0"),
            ("x/b", "x/a", 80, "TCP", "-", "x/allow-ns-y-match-selector ingress rule 0"),
            ("x/c", "x/a", 80, "TCP", "-", "denied"),
        ),
    ),
    "podselector-and-namespaceselector": upstream(
        "x/a x/b y/a y/b z/b",
        f"""
metadata: {{name: allow-ns-y-podselector-and-nsselector, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{namespaceSelector: {NS_NOT_X}, podSelector: {{matchLabels: {{pod: b}}}}}}]}}]
""",
        tcp(80, ("*", "x/a", F), ("y/b", "x/a", T), ("z/b", "x/a", T)),
        rules=(("x/b", "x/a", 80, "TCP", "-", "denied"), ("y/a", "x/a", 80, "TCP", "-", "denied")),
    ),
    "multiple-podselectors-and-namespaceselectors": upstream(
        "x/a x/b y/a y/b y/c",
        f"""
metadata: {{name: allow-ns-y-z-pod-b-c, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{namespaceSelector: {NS_NOT_X},
                     podSelector: {{matchExpressions: [{{key: pod, operator: In, values: [b, c]}}]}}}}]}}]
""",
        tcp(80, ("x/*", "x/a", F), ("y/a", "x/a", F)),
    ),
    "any-podselectors": upstream(
        "x/a x/b x/c",
        """
metadata: {name: allow-ns-x-pod-b-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}, {podSelector: {matchLabels: {pod: c}}}]}]
""",
        tcp(80, ("*", "x/a", F), ("x/b", "x/a", T), ("x/c", "x/a", T)),
    ),
    "only-from-pod-in-other-namespace-by-pod-and-namespace-selector": upstream(
        "x/a x/b y/a y/b z/a", ONLY_YA, tcp(80, ("*", "x/a", F), ("y/a", "x/a", T))
    ),
    "ports": upstream(
        "x/a x/b y/a y/b z/a",
        ALLOW_81_FROM_Y,
        tcp(81, ("x/*", "x/a", F), ("y/*", "x/a", T), ("z/*", "x/a", F)),
        ports=(81,),
    ),
    "stacked-policies-step1-port-81-only": upstream(
        "x/a x/b y/a y/b z/a",
        ALLOW_81_FROM_Y,
        tcp(81, ("x/*", "x/a", F), ("y/*", "x/a", T), ("z/*", "x/a", F)),
        tcp(80, ("*", "x/a", F)),
        ports=(80, 81),
        rules=(("y/a", "x/a", 80, "TCP", "-", "denied"),),
    ),
    "stacked-policies-step2-port-80-added": upstream(
        "x/a x/b y/a y/b z/a",
        ALLOW_81_FROM_Y + "---" + ALLOW_80_FROM_Y,
        tcp(80, ("x/*", "x/a", F), ("y/*", "x/a", T), ("z/*", "x/a", F)),
        ports=(80, 81),
        rules=(
            ("y/a", "x/a", 80, "TCP", "-", ["x/allow-client-a-via-ns-selector-80 ingress rule 0"]),
            ("y/a", "x/a", 81, "TCP", "-", ["x/allow-client-a-via-ns-selector ingress rule 0"]),
        ),
    ),
    "allow-all": upstream(
        "x/a x/b y/a",
        """
metadata: {name: allow-all, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress], ingress: [{}]}
""",
        tcp(80),
        tcp(81),
        ports=(80, 81),
        rules=(("y/a", "x/a", 81, "TCP", "-", "x/allow-all ingress rule 0"),),
    ),
    "ingress-on-one-named-port": upstream(
        "x/a x/b y/a",
        """
metadata: {name: allow-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: serve-81-tcp}]}]}
""",
        tcp(81),
        tcp(80, ("*", "x/*", F)),
        ports=(80, 81),
        rules=(("y/a", "x/b", 81, "TCP", "-", "x/allow-all ingress rule 0"), ("y/a", "x/b", 80, "TCP", "-", "denied")),
    ),
    "ingress-from-namespace-on-one-named-port": upstream(
        "x/a x/b y/a z/a",
        """
metadata: {name: allow-client-a-via-ns-selector-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}],
             ports: [{port: serve-80-tcp, protocol: TCP}]}]
""",
        tcp(80, ("x/*", "x/a", F), ("z/*", "x/a", F)),
        tcp(81, ("*", "x/a", F)),
        ports=(80, 81),
    ),
    "egress-on-one-named-port": upstream(
        "x/a y/a",
        """
metadata: {name: allow-egress, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: serve-80-tcp}]}]}
""",
        tcp(80),
        tcp(81, ("x/*", "*", F)),
        ports=(80, 81),
        rules=(
            ("x/a", "y/a", 80, "TCP", "x/allow-egress egress rule 0", "-"),
            ("x/a", "y/a", 81, "TCP", "denied", "-"),
        ),
    ),
    "updated-policy-step1-allow-all": upstream(
        "x/a y/a",
        """
metadata: {name: allow-all-mutate-to-deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{}]}
""",
        tcp(81),
        ports=(81,),
    ),
    "updated-policy-step2-deny-all": upstream(
        "x/a y/a",
        """
metadata: {name: allow-all-mutate-to-deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: []}
""",
        tcp(81, ("*", "x/*", F)),
        ports=(81,),
    ),
    "updated-namespace-step1-unlabelled": upstream(
        "x/a y/a",
        only_from_ns_y("allow-client-a-via-ns-selector", "{matchLabels: {ns2: updated}}"),
        tcp(80, ("*", "x/a", F)),
    ),
    "updated-namespace-step2-labelled": upstream(
        "x/a y/a",
        only_from_ns_y("allow-client-a-via-ns-selector", "{matchLabels: {ns2: updated}}"),
        tcp(80, ("*", "x/a", F), ("y/*", "*", T)),
        ns_labels={"y": {"ns2": "updated"}},
    ),
    "updated-pod-step1-unlabelled": upstream(
        "x/a x/b",
        """
metadata: {name: allow-client-a-via-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b, pod2: updated}}}]}]
""",
        tcp(80, ("*", "x/a", F)),
    ),
    "updated-pod-step2-labelled": upstream(
        "x/a x/b",
        """
metadata: {name: allow-client-a-via-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b, pod2: updated}}}]}]
""",
        tcp(80, ("*", "x/a", F), ("x/b", "x/a", T)),
        pod_labels={"x/b": {"pod2": "updated"}},
    ),
    "deny-ingress-from-other-namespaces": upstream(
        "x/a x/b y/a z/a",
        """
metadata: {name: deny-empty-policy, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {matchLabels: {}}}]}]}
""",
        tcp(80, ("y/*", "x/*", F), ("z/*", "x/*", F)),
        rules=(("x/b", "x/a", 80, "TCP", "-", "x/deny-empty-policy ingress rule 0"),),
    ),
    "deny-ingress-to-updated-pod-step1": upstream(
        "x/a y/a",
        """
metadata: {name: deny-ingress-via-label-selector, namespace: x}
spec: {podSelector: {matchLabels: {target: isolated}}, policyTypes: [Ingress], ingress: []}
""",
        tcp(80),
    ),
    "deny-ingress-to-updated-pod-step2": upstream(
        "x/a y/a",
        """
metadata: {name: deny-ingress-via-label-selector, namespace: x}
spec: {podSelector: {matchLabels: {target: isolated}}, policyTypes: [Ingress], ingress: []}
""",
        tcp(80, ("*", "x/a", F)),
        pod_labels={"x/a": {"target": "isolated"}},
    ),
    "deny-egress-by-podselector": upstream(
        "x/a x/b y/a",
        """
metadata: {name: deny-egress-pod-a, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: []}
""",
        tcp(80, ("x/a", "*", F)),
    ),
    "deny-egress-from-all-pods-in-namespace": upstream(
        "x/a x/b y/a",
        """
metadata: {name: deny-egress-ns-x, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress], egress: []}
""",
        tcp(80, ("x/*", "*", F)),
    ),
    "ingress-and-egress-together": upstream(
        "x/a x/b x/c y/a",
        """
metadata: {name: allow-client-a-via-pod-selector, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress, Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{ports: [{port: 80}]}]
""",
        tcp(80, ("*", "x/a", F), ("x/b", "x/a", T)),
        tcp(81, ("*", "x/a", F), ("x/a", "*", F), ("x/b", "x/a", T)),
        ports=(80, 81),
        rules=(
            ("x/a", "y/a", 80, "TCP", "x/allow-client-a-via-pod-selector egress rule 0", "-"),
            ("x/a", "y/a", 81, "TCP", "denied", "-"),
        ),
    ),
    "deny-egress-on-client-even-if-server-allows": upstream(
        "x/a y/a y/b",
        """
metadata: {name: allow-to-ns-y-pod-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}},
                  podSelector: {matchLabels: {pod: a}}}]}]
---
metadata: {name: allow-from-xa-on-ya-match-selector, namespace: y}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}},
                     podSelector: {matchLabels: {pod: a}}}]}]
---
metadata: {name: allow-from-xa-on-yb-match-selector, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}},
                     podSelector: {matchLabels: {pod: a}}}]}]
""",
        tcp(80, ("x/a", "*", F), ("*", "y/a", F), ("x/a", "y/a", T), ("*", "y/b", F)),
        rules=(
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "x/allow-to-ns-y-pod-a egress rule 0",
                "y/allow-from-xa-on-ya-match-selector ingress rule 0",
            ),
            ("x/a", "y/b", 80, "TCP", "denied", "y/allow-from-xa-on-yb-match-selector ingress rule 0"),
        ),
    ),
    "egress-to-server-in-other-namespace-by-pod-and-namespace-selector": upstream(
        "x/a y/a y/b",
        """
metadata: {name: allow-to-ns-y-pod-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}},
                  podSelector: {matchLabels: {pod: a}}}]}]
""",
        tcp(80, ("x/a", "*", F), ("x/a", "y/a", T)),
    ),
    "ingress-any-port-on-a-protocol": upstream(
        "x/a y/a",
        """
metadata: {name: allow-ingress-by-proto, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: [{ports: [{protocol: TCP}]}]}
""",
        tcp(80),
        udp(80, ("*", "x/a", F)),
        protocols=("TCP", "UDP"),
        rules=(
            ("y/a", "x/a", 80, "UDP", "-", "denied"),
            ("y/a", "x/a", 80, "TCP", "-", "x/allow-ingress-by-proto ingress rule 0"),
        ),
    ),
    "ingress-allow-all-takes-precedence-step1": upstream(
        "x/a y/a",
        """
metadata: {name: allow-ingress-port-80, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress], ingress: [{ports: [{port: 80}]}]}
""",
        tcp(81, ("*", "x/*", F)),
        ports=(81,),
    ),
    "ingress-allow-all-takes-precedence-step2": upstream(
        "x/a y/a",
        """
metadata: {name: allow-ingress-port-80, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress], ingress: [{ports: [{port: 80}]}]}
---
metadata: {name: allow-ingress, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress], ingress: [{}]}
""",
        tcp(81),
        ports=(81,),
        rules=(("y/a", "x/a", 81, "TCP", "-", ["x/allow-ingress ingress rule 0"]),),
    ),
    "egress-allow-all-takes-precedence-step1": upstream(
        "x/a y/a",
        """
metadata: {name: allow-egress-port-80, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Egress], egress: [{ports: [{port: 80}]}]}
""",
        tcp(81, ("x/*", "*", F)),
        ports=(81,),
    ),
    "egress-allow-all-takes-precedence-step2": upstream(
        "x/a y/a",
        """
metadata: {name: allow-egress-port-80, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Egress], egress: [{ports: [{port: 80}]}]}
---
metadata: {name: allow-egress, namespace: x}
spec: {podSelector: {matchLabels: {}}, policyTypes: [Egress], egress: [{}]}
""",
        tcp(81),
        ports=(81,),
        rules=(("x/a", "y/a", 81, "TCP", ["x/allow-egress egress rule 0"], "-"),),
    ),
    "stop-enforcing-after-deletion-step1": upstream("x/a y/a", DENY_ALL_X, tcp(80, ("x/*", "*", F), ("*", "x/*", F))),
    "stop-enforcing-after-deletion-step2": upstream("x/a y/a", "", tcp(80)),
    "not-treat-sctp-as-tcp": upstream(
        "x/a y/a",
        DENY_INGRESS_X
        + """---
metadata: {name: allow-only-sctp-ingress-on-port-81, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress],
       ingress: [{ports: [{port: 81, protocol: SCTP}]}]}
""",
        tcp(81, ("*", "x/*", F)),
        ports=(81,),
    ),
    "isolate-pods-selected-by-sctp-policy": upstream(
        "x/a y/a",
        """
metadata: {name: allow-only-sctp-ingress-on-port-80, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress],
       ingress: [{ports: [{port: 80, protocol: SCTP}]}]}
""",
        tcp(81, ("*", "x/a", F)),
        ports=(81,),
    ),
    "no-tcp-when-policy-allows-only-udp": upstream(
        "x/a y/a",
        """
metadata: {name: allow-only-udp-ingress-on-port-81, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress],
       ingress: [{ports: [{port: 81, protocol: UDP}]}]}
""",
        tcp(81, ("*", "x/a", F)),
        ports=(81,),
    ),
    "namespaceselector-matchlabels-default-ns-label": upstream(
        "x/a x/b y/a z/a",
        only_from_ns_y("allow-client-a-via-ns-selector-for-immutable-ns-label", NS_Y),
        tcp(80, ("x/*", "x/a", F), ("z/*", "x/a", F)),
    ),
    "namespaceselector-matchexpressions-default-ns-label-egress": upstream(
        "x/a x/b y/a z/a",
        """
metadata: {name: allow-ns-y-match-selector-for-immutable-ns-label, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchExpressions: [
             {key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]}}]}]
""",
        tcp(80, ("x/a", "y/*", F)),
    ),
    # -- UDP and SCTP variants ------------------------------------------------------------------------
    "udp-default-deny-ingress": upstream(
        "x/a x/b y/a y/b", DENY_INGRESS_X, udp(80, ("*", "x/*", F)), protocols=("UDP",)
    ),
    "udp-ports": upstream(
        "x/a x/b y/a z/a",
        only_from_ns_y("allow-ingress-on-port-81-ns-x", NS_Y, "UDP", 81),
        udp(81, ("x/*", "x/a", F), ("z/*", "x/a", F)),
        ports=(81,),
        protocols=("UDP",),
        rules=(("y/a", "x/a", 81, "UDP", "-", "x/allow-ingress-on-port-81-ns-x ingress rule 0"),),
    ),
    "udp-pod-and-namespace-selector": upstream(
        "x/a x/b y/a", ONLY_YA, udp(80, ("*", "x/a", F), ("y/a", "x/a", T)), protocols=("UDP",)
    ),
    "sctp-default-deny-ingress": upstream(
        "x/a x/b y/a y/b", DENY_INGRESS_X, sctp(80, ("*", "x/*", F)), protocols=("SCTP",)
    ),
    "sctp-ports": upstream(
        "x/a x/b y/a z/a",
        only_from_ns_y("allow-ingress-on-port-81-ns-x", NS_Y, "SCTP", 81),
        sctp(81, ("x/*", "x/a", F), ("z/*", "x/a", F)),
        ports=(81,),
        protocols=("SCTP",),
    ),
    "sctp-pod-and-namespace-selector": upstream(
        "x/a x/b y/a", ONLY_YA, sctp(80, ("*", "x/a", F), ("y/a", "x/a", T)), protocols=("SCTP",)
    ),
}

for _family in (4, 6):
    UPSTREAM[f"egress-to-server-in-cidr-ipv{_family}"] = upstream(
        "x/a y/a y/b",
        ONLY_B % cidr_vars(_family, "y/b"),
        tcp(80, ("x/a", "*", F), ("x/a", "y/b", T)),
        family=_family,
        rules=(
            ("x/a", "y/b", 80, "TCP", "x/allow-client-a-via-cidr-egress-rule egress rule 0", "-"),
            ("x/a", "y/a", 80, "TCP", "denied", "-"),
        ),
    )
    UPSTREAM[f"except-clause-on-egress-cidr-ipv{_family}"] = upstream(
        "x/a x/b x/c",
        EXCEPT_B % cidr_vars(_family, "x/b"),
        tcp(80, ("x/a", "x/b", F)),
        family=_family,
        rules=(
            ("x/a", "x/c", 80, "TCP", "x/allow-client-a-via-cidr-egress-rule egress rule 0", "-"),
            ("x/a", "x/b", 80, "TCP", "denied", "-"),
        ),
    )
    # upstream updates the policy in place (same name): only the /32 rule is left
    UPSTREAM[f"cidr-and-except-overlap-updated-in-place-ipv{_family}"] = upstream(
        "x/a x/b x/c", ONLY_B % cidr_vars(_family, "x/b"), tcp(80, ("x/a", "*", F), ("x/a", "x/b", T)), family=_family
    )
    # the test's stated intent: a second policy allowing the excepted IP
    UPSTREAM[f"cidr-and-except-overlap-two-policies-ipv{_family}"] = upstream(
        "x/a x/b x/c",
        EXCEPT_B % cidr_vars(_family, "x/b") + "---" + ONLY_B % cidr_vars(_family, "x/b", "allow-b"),
        tcp(80),
        family=_family,
        rules=(
            ("x/a", "x/b", 80, "TCP", ["x/allow-b egress rule 0"], "-"),
            ("x/a", "x/c", 80, "TCP", ["x/allow-client-a-via-cidr-egress-rule egress rule 0"], "-"),
        ),
    )

UPSTREAM["ingress-and-egress-controlled-independently-step1"] = upstream(
    "x/a x/b y/a",
    """
metadata: {name: allow-egress-for-target, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{}]}
""",
    tcp(80),
)
UPSTREAM["ingress-and-egress-controlled-independently-step2"] = upstream(
    "x/a x/b y/a",
    """
metadata: {name: allow-egress-for-target, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{}]}
---
metadata: {name: deny-ingress-via-label-selector, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: []}
""",
    tcp(80, ("*", "x/a", F)),
    rules=(
        ("x/a", "x/b", 80, "TCP", "x/allow-egress-for-target egress rule 0", "-"),
        ("x/b", "x/a", 80, "TCP", "-", "denied"),
    ),
)


def named_pod(key: str, containers: list[tuple[str, list[tuple[int, str, str | None]]]]) -> dict[str, Any]:
    """A pod with the given containers: ``(name, [(port, protocol, port name or None)])``."""
    ns, name = key.split("/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"pod": name}},
        "spec": {
            "containers": [
                {
                    "name": c,
                    "ports": [
                        {"containerPort": n, "protocol": p, **({"name": nm} if nm else {})} for n, p, nm in ports
                    ],
                }
                for c, ports in containers
            ]
        },
        "status": {"podIP": pod_ip(key), "podIPs": [{"ip": pod_ip(key)}]},
    }


EXTRA: dict[str, dict[str, Any]] = {
    # policyTypes defaulting: empty => Ingress, plus Egress only if spec.egress is non-empty
    "no-policytypes-empty-egress-list-does-not-isolate-egress": upstream(
        "x/a x/b y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{}], egress: []}
""",
        tcp(80),
        rules=(("x/a", "y/a", 80, "TCP", "-", "-"), ("y/a", "x/a", 80, "TCP", "-", "x/p ingress rule 0")),
    ),
    "no-policytypes-egress-rules-isolate-both-directions": upstream(
        "x/a x/b y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]}
""",
        tcp(80, ("*", "x/a", F), ("x/a", "*", F), ("x/a", "x/b", T)),
        rules=(("x/a", "x/b", 80, "TCP", "x/p egress rule 0", "-"), ("x/b", "x/a", 80, "TCP", "-", "denied")),
    ),
    "no-policytypes-no-rules-isolates-ingress-only": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}}
""",
        tcp(80, ("*", "x/*", F)),
        rules=(("x/a", "y/a", 80, "TCP", "-", "-"), ("y/a", "x/a", 80, "TCP", "-", "denied")),
    ),
    "empty-policytypes-list-is-defaulted-like-absent": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [], egress: []}
""",
        tcp(80, ("*", "x/*", F)),
        rules=(("x/a", "y/a", 80, "TCP", "-", "-"),),
    ),
    "egress-only-policytypes-ignores-ingress-rules": upstream(
        "x/a x/b y/a",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{}]
""",
        tcp(80),
        rules=(("y/a", "x/a", 80, "TCP", "-", "-"), ("x/a", "y/a", 80, "TCP", "x/p egress rule 0", "-")),
    ),
    "ingress-only-policytypes-ignores-egress-rules": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{}], egress: [{ports: [{port: 9}]}]}
""",
        tcp(80),
        rules=(("x/a", "y/a", 80, "TCP", "-", "-"),),
    ),
    # a policy only selects pods of its own namespace
    "policies-in-other-namespaces-do-not-select": upstream(
        "x/a x/b y/a y/b",
        """
metadata: {name: deny-all, namespace: y}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        tcp(80, ("y/*", "*", F), ("*", "y/*", F)),
        rules=(("x/a", "x/b", 80, "TCP", "-", "-"), ("x/a", "y/a", 80, "TCP", "-", "denied")),
    ),
    # empty and absent lists
    "empty-from-and-ports-lists-mean-everything": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [], ports: []}]}
""",
        tcp(80),
        rules=(("y/a", "x/a", 80, "TCP", "-", "x/p ingress rule 0"),),
    ),
    "namespaceselector-empty-and-podselector-is-that-pod-in-every-namespace": upstream(
        "x/a x/b y/a y/b z/c",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]
""",
        tcp(80, ("*", "x/a", F), ("*/b", "x/a", T)),
    ),
    # matchExpressions operators (NotIn and DoesNotExist match pods without the key)
    "matchexpressions-notin-exists-doesnotexist": upstream(
        "x/a x/b x/c x/d y/a",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}}]
      ports: [{port: 80}]
    - from: [{podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]
      ports: [{port: 81}]
    - from: [{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]},
              namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [x, y]}]}}]
      ports: [{port: 82}]
""",
        tcp(80, ("*", "x/a", F), ("x/c", "x/a", T), ("x/d", "x/a", T)),
        tcp(81, ("*", "x/a", F), ("x/b", "x/a", T), ("x/c", "x/a", T)),
        tcp(82, ("*", "x/a", F), ("y/a", "x/a", T), ("x/d", "x/a", T)),
        ports=(80, 81, 82),
        pod_labels={"x/b": {"tier": "db"}, "x/c": {"tier": "web"}},
        rules=(
            ("x/c", "x/a", 80, "TCP", "-", "x/p ingress rule 0"),
            ("x/c", "x/a", 81, "TCP", "-", "x/p ingress rule 1"),
            ("y/a", "x/a", 82, "TCP", "-", "x/p ingress rule 2"),
            ("x/b", "x/a", 80, "TCP", "-", "denied"),
            ("x/d", "x/a", 80, "TCP", "-", "x/p ingress rule 0"),
            ("x/d", "x/a", 81, "TCP", "-", "denied"),
        ),
    ),
    # endPort ranges, in both directions, protocol must match
    "endport-range-ingress": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 80, endPort: 81}, {protocol: UDP, port: 82, endPort: 90}]}]
""",
        tcp(80),
        tcp(81),
        tcp(82, ("*", "x/a", F)),
        udp(82),
        udp(81, ("*", "x/a", F)),
        ports=(80, 81, 82),
        protocols=("TCP", "UDP"),
        rules=(("y/a", "x/a", 81, "TCP", "-", "x/p ingress rule 0"), ("y/a", "x/a", 82, "TCP", "-", "denied")),
    ),
    "endport-range-egress": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 81, endPort: 82, protocol: SCTP}]}]
""",
        sctp(80, ("x/a", "*", F)),
        sctp(81),
        sctp(82),
        ports=(80, 81, 82),
        protocols=("SCTP",),
        rules=(("x/a", "y/a", 82, "SCTP", "x/p egress rule 0", "-"),),
    ),
    # named ports: resolved on the destination pod, protocol must match, several containers
    "named-port-declared-by-two-containers": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: [{ports: [{port: web}]}]}
""",
        tcp(8080),
        tcp(9090),
        tcp(7070, ("*", "x/a", F)),
        udp(8080, ("*", "x/a", F)),
        custom_pods=(
            named_pod(
                "x/a",
                [
                    ("one", [(8080, "TCP", "web"), (8080, "UDP", "web")]),
                    ("two", [(9090, "TCP", "web")]),
                    ("three", [(7070, "TCP", None)]),
                ],
            ),
        ),
        rules=(("y/a", "x/a", 9090, "TCP", "-", "x/p ingress rule 0"),),
    ),
    "named-port-same-name-different-protocols": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: [{ports: [{port: dns, protocol: UDP}]}]}
""",
        udp(53),
        tcp(53, ("*", "x/a", F)),
        tcp(5353, ("*", "x/a", F)),
        custom_pods=(
            named_pod("x/a", [("udp", [(53, "UDP", "dns")]), ("tcp", [(5353, "TCP", "dns"), (53, "TCP", None)])]),
        ),
    ),
    "named-port-protocol-mismatch-never-matches": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: serve-80-tcp, protocol: UDP}]}]}
""",
        tcp(80, ("*", "x/*", F)),
        udp(80, ("*", "x/*", F)),
        protocols=("TCP", "UDP"),
    ),
    "named-egress-port-resolved-on-each-destination": upstream(
        "x/a y/a y/b y/c",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{ports: [{port: web}]}]}
""",
        tcp(8080, ("x/a", "*", F), ("x/a", "y/a", T)),
        tcp(9090, ("x/a", "*", F), ("x/a", "y/c", T)),
        custom_pods=(
            named_pod("y/a", [("c", [(8080, "TCP", "web")])]),
            named_pod("y/b", [("c", [(8080, "TCP", "http")])]),
            named_pod("y/c", [("c", [(9090, "TCP", "web"), (8080, "TCP", None)])]),
        ),
        rules=(
            ("x/a", "y/a", 8080, "TCP", "x/p egress rule 0", "-"),
            ("x/a", "y/b", 8080, "TCP", "denied", "-"),
            ("x/a", "y/c", 8080, "TCP", "denied", "-"),
            ("x/a", "y/c", 9090, "TCP", "x/p egress rule 0", "-"),
        ),
    ),
    "named-and-numbered-ports-in-one-rule-are-ored": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: serve-80-tcp}, {port: 82}]}]}
""",
        tcp(80),
        tcp(81, ("*", "x/*", F)),
        tcp(82),
        ports=(80, 81, 82),
    ),
    # ipBlock: pod IPs, except, address family, pods without an IP
    "ipblock-all-ipv4-does-not-match-ipv6-pods": upstream(
        "x/a y/a",
        """
metadata: {name: p, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}
""",
        tcp(80, ("*", "x/*", F)),
        family=6,
        rules=(("y/a", "x/a", 80, "TCP", "-", "denied"),),
    ),
    "ipblock-with-except-on-ingress-pod-ips": upstream(
        "x/a x/b y/a y/b",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.0/24]}}]}]
""",
        tcp(80, ("y/*", "x/a", F)),
        rules=(("x/b", "x/a", 80, "TCP", "-", "x/p ingress rule 0"),),
    ),
    "ipblock-never-matches-a-pod-without-ip": upstream(
        "x/a x/b y/a",
        """
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]
""",
        tcp(80, ("y/a", "x/a", F), ("x/a", "y/a", F)),
        no_ip=("y/a",),
        rules=(
            ("y/a", "x/a", 80, "TCP", "-", "denied"),
            ("x/a", "y/a", 80, "TCP", "denied", "-"),
            ("x/b", "x/a", 80, "TCP", "-", "x/p ingress rule 0"),
        ),
    ),
    # host-network pods: not isolated, not matched by pod/namespace selectors; an ipBlock sees the node IP
    "host-network-pods": upstream(
        "x/a x/b x/h y/a",
        """
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: allow-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {}}, {ipBlock: {cidr: 172.18.0.0/16}}], ports: [{port: 80}]},
            {from: [{podSelector: {}, namespaceSelector: {}}], ports: [{port: 81}]}]
""",
        tcp(80, ("x/a", "*", F), ("x/b", "*", F), ("x/h", "*", T), ("*", "x/b", F)),
        tcp(
            81,
            ("x/a", "*", F),
            ("x/b", "*", F),
            ("*", "x/b", F),
            ("x/h", "x/b", F),
            ("x/h", "x/a", F),
            ("y/a", "x/a", T),
            ("x/h", "y/a", T),
        ),
        ports=(80, 81),
        host_network=("x/h",),
        rules=(
            ("x/h", "x/a", 80, "TCP", "host", "x/allow-a ingress rule 0"),
            ("x/h", "x/a", 81, "TCP", "host", "denied"),
            ("y/a", "x/h", 80, "TCP", "-", "host"),
        ),
    ),
}

CASES = [Case(id=k, **v) for k, v in UPSTREAM.items()] + [Case(id=k, **v) for k, v in EXTRA.items()]


def side_label(side) -> str:
    if side.state is SideState.NOT_ISOLATED:
        return "-"
    if side.state is SideState.HOST_NETWORK:
        return "host"
    if side.state is SideState.DENIED:
        return "denied"
    return str(side.allowed_by[0])


def check_side(side, expected) -> None:
    if isinstance(expected, list):
        assert side.state is SideState.ALLOWED and [str(r) for r in side.allowed_by] == expected
    else:
        assert side_label(side) == expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_truth_table(case: Case):
    snap = case.snapshot()
    model = PolicyModel(snap)
    pods = {p.key: p for p in snap.pods}
    assert set(pods) == set(case.pods)
    for port, proto, ops in case.probes:
        table = case.truth_table(ops)
        matrix = {(r.source, r.destination): r for r in expected_matrix(snap, [(port, Protocol(proto))], model=model)}
        wrong = []
        for (s, d), allowed in table.items():
            v = model.evaluate(pods[s], pods[d], port, Protocol(proto))
            row = matrix[(s, d)]
            assert (row.decision, row.reason) == (v.decision, v.reason), (s, d, port, proto)
            if s == d:  # upstream ignores loopback; here a pod always reaches itself
                assert v.decision is Decision.ALLOW and v.reason == SAME_POD_REASON
                continue
            if v.allowed != allowed:
                wrong.append(
                    f"{s} -> {d} {port}/{proto}: expected {'allow' if allowed else 'deny'}, "
                    f"model says {v.decision} ({v.reason})"
                )
        assert not wrong, "\n".join(wrong)


RULE_CASES = [(c, r) for c in CASES for r in c.rules]


@pytest.mark.parametrize("case,rule", RULE_CASES, ids=[f"{c.id}:{r[0]}->{r[1]}:{r[2]}/{r[3]}" for c, r in RULE_CASES])
def test_deciding_rules(case: Case, rule):
    src, dst, port, proto, egress, ingress = rule
    model = PolicyModel(case.snapshot())
    v = model.evaluate(model.pod(src), model.pod(dst), port, Protocol(proto))
    check_side(v.egress, egress)
    check_side(v.ingress, ingress)
    assert v.egress.text in v.reason and v.ingress.text in v.reason
    for side in (v.egress, v.ingress):
        if side.state is SideState.ALLOWED:
            assert f"allowed by {side.allowed_by[0]}" in v.reason


def test_reason_says_why_an_ipblock_cannot_match_a_pod_without_ip():
    case = next(c for c in CASES if c.id == "ipblock-never-matches-a-pod-without-ip")
    model = PolicyModel(case.snapshot())
    inbound = model.evaluate(model.pod("y/a"), model.pod("x/a"), 80, Protocol.TCP)
    outbound = model.evaluate(model.pod("x/a"), model.pod("y/a"), 80, Protocol.TCP)
    assert "the source has no pod IP, so no ipBlock can match it" in inbound.reason
    assert "the destination has no pod IP, so no ipBlock can match it" in outbound.reason


MULTI_POLICY = [c for c in CASES if sum(1 for d in yaml.safe_load_all(c.policies) if d) > 1]


@pytest.mark.parametrize("case", MULTI_POLICY, ids=[c.id for c in MULTI_POLICY])
def test_policy_order_changes_nothing_not_even_the_reasons(case: Case):
    """Creating (or listing) the same policies in another order gives the same rows, reasons included."""
    n = sum(1 for d in yaml.safe_load_all(case.policies) if d)
    orders = list(itertools.permutations(range(n)))
    random.Random(case.id).shuffle(orders)
    ports = [(port, Protocol(proto)) for port, proto, _ in case.probes]
    reference = list(expected_matrix(case.snapshot(), ports))
    for order in orders[:6]:
        assert list(expected_matrix(case.snapshot(list(order)), ports)) == reference, order


# -- cyclonus' generated port/protocol cases --------------------------------------------------------------
# Its base policy: x/a isolated both ways; ingress from pods {b, c} of namespaces {x, y} on 80/TCP; egress to
# pods {a, b} of namespaces {y, z} on 80/TCP (plus DNS); then the ports of rule 0 of one direction are
# replaced by each NetworkPolicyPort below, alone or two at a time. Every pod serves 80 and 81 over TCP, UDP
# and SCTP (named serve-<port>-<proto>); every (source, destination, port, protocol) is probed.
CYCLONUS_PORTS = [  # (NetworkPolicyPort, the (port, protocol) probes it matches: stated, not computed)
    ("{}", {(80, "TCP"), (81, "TCP")}),
    ("{protocol: TCP}", {(80, "TCP"), (81, "TCP")}),
    ("{protocol: UDP}", {(80, "UDP"), (81, "UDP")}),
    ("{protocol: SCTP}", {(80, "SCTP"), (81, "SCTP")}),
    ("{port: 81}", {(81, "TCP")}),
    ("{port: 81, protocol: TCP}", {(81, "TCP")}),
    ("{port: 81, protocol: UDP}", {(81, "UDP")}),
    ("{port: 81, protocol: SCTP}", {(81, "SCTP")}),
    ("{port: serve-81-tcp}", {(81, "TCP")}),
    ("{port: serve-81-tcp, protocol: TCP}", {(81, "TCP")}),
    ("{port: serve-81-tcp, protocol: UDP}", set()),  # the name is declared for TCP only
    ("{port: serve-81-tcp, protocol: SCTP}", set()),
]
ALL_PODS = tuple(f"{n}/{p}" for n in NAMESPACES for p in "abc")
INGRESS_PEERS = {k for k in ALL_PODS if k[0] in "xy" and k[2] in "bc"}
EGRESS_PEERS = {k for k in ALL_PODS if k[0] in "yz" and k[2] in "ab"}


def cyclonus_policy(ingress_ports: str, egress_ports: str) -> str:
    return f"""
metadata: {{name: base, namespace: x}}
spec:
  podSelector: {{matchLabels: {{pod: a}}}}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports: {ingress_ports}
      from: [{{podSelector: {{matchExpressions: [{{key: pod, operator: In, values: [b, c]}}]}},
               namespaceSelector: {{matchExpressions: [{{key: ns, operator: In, values: [x, y]}}]}}}}]
  egress:
    - ports: {egress_ports}
      to: [{{podSelector: {{matchExpressions: [{{key: pod, operator: In, values: [a, b]}}]}},
             namespaceSelector: {{matchExpressions: [{{key: ns, operator: In, values: [y, z]}}]}}}}]
    - ports: [{{port: 53, protocol: UDP}}, {{port: 53, protocol: TCP}}]
"""


BASE_PORTS = "[{port: 80, protocol: TCP}]"
CYCLONUS_CASES = [(ingress, [(spec, want)]) for ingress in (True, False) for spec, want in CYCLONUS_PORTS]
CYCLONUS_CASES += [(ingress, [a, b]) for ingress in (True, False) for a, b in itertools.combinations(CYCLONUS_PORTS, 2)]
CYCLONUS_CASES += [(ingress, []) for ingress in (True, False)]  # ports: [] == every port


@pytest.mark.parametrize(
    "ingress,ports",
    CYCLONUS_CASES,
    ids=[f"{'ingress' if i else 'egress'}:{'+'.join(s for s, _ in p) or '[]'}" for i, p in CYCLONUS_CASES],
)
def test_cyclonus_port_protocol_cases(ingress, ports):
    spec = "[" + ", ".join(s for s, _ in ports) + "]"
    matching = (
        set().union(*(want for _, want in ports))
        if ports
        else {(n, p) for n in (80, 81) for p in ("TCP", "UDP", "SCTP")}
    )
    in_ports, out_ports = (spec, BASE_PORTS) if ingress else (BASE_PORTS, spec)
    case = Case(
        id="cyclonus",
        pods=ALL_PODS,
        policies=cyclonus_policy(in_ports, out_ports),
        probes=(),
        ports=(80, 81),
        protocols=("TCP", "UDP", "SCTP"),
    )
    in_match = matching if ingress else {(80, "TCP")}
    out_match = {(80, "TCP")} if ingress else matching
    wrong = []
    for row in expected_matrix(case.snapshot()):
        if row.source == row.destination:
            continue
        pp = (row.port, str(row.protocol))
        ingress_ok = row.destination != "x/a" or (row.source in INGRESS_PEERS and pp in in_match)
        egress_ok = row.source != "x/a" or (row.destination in EGRESS_PEERS and pp in out_match)
        if (row.decision is Decision.ALLOW) != (ingress_ok and egress_ok):
            wrong.append(f"{row.source} -> {row.destination} {row.port}/{row.protocol}: {row.decision} ({row.reason})")
    assert not wrong, "\n".join(wrong)
