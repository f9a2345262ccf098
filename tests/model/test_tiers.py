"""Cluster policy tiers as truth tables, written from the API's own type documentation
(``policy.networking.k8s.io`` ClusterNetworkPolicy v1alpha2/v1beta1, AdminNetworkPolicy and
BaselineAdminNetworkPolicy v1alpha1), one case per rule of the evaluation order.

The cluster: namespaces ``x`` (team=red, env=prod), ``y`` (team=blue, env=prod) and ``z``
(team=green, env=dev), pods ``a`` and ``b`` in each (labels app=a / app=b), every pod
serving 80/TCP "web", 8080/TCP "alt", 53/UDP "dns" and 9003/SCTP "sig". A table starts
from "everything allowed" and applies ``(source pattern, destination pattern, outcome)``
in order (``x/*`` every pod of x); a pod reaching itself is checked apart (hairpin). Every
cell is also computed by the fast matrix, which must give the same decision and reason.
``chains`` pin the words of a reason: ``(source, destination, port, protocol, text)``.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_helpers import build

from orchestrator.model import Decision, PolicyModel, expected_matrix
from orchestrator.model.verdict import SAME_POD_REASON
from probe.schema import Protocol

A, D, U, K = Decision.ALLOW, Decision.DENY, Decision.UNDEFINED, Decision.UNKNOWN
NAMESPACES = {
    "x": {"team": "red", "env": "prod"},
    "y": {"team": "blue", "env": "prod"},
    "z": {"team": "green", "env": "dev"},
}
PODS = ("x/a", "x/b", "y/a", "y/b", "z/a", "z/b")
PORTS = ((80, "TCP", "web"), (8080, "TCP", "alt"), (53, "UDP", "dns"), (9003, "SCTP", "sig"))
NODE_IP = "172.18.0.2"


def pod(key: str, ports=PORTS, *, ip: str | None = None, host_network: bool = False) -> dict[str, Any]:
    ns, name = key.split("/")
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "hostNetwork": host_network,
            "containers": [
                {"name": "c", "ports": [{"containerPort": n, "protocol": p, "name": nm} for n, p, nm in ports]}
            ],
        },
    }
    address = ip or f"10.1.{'xyz'.index(ns)}.{ord(name[0]) - ord('a') + 1}"
    obj["status"] = {"podIP": address, "podIPs": [{"ip": address}]}
    return obj


HOST = pod("z/h", ((10250, "TCP", "kubelet"), (80, "TCP", "web")), ip=NODE_IP, host_network=True)
NODES = [
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"role": "worker"}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": "node-1"}]
        },
    }
]


@dataclass(frozen=True)
class Case:
    id: str
    policies: str
    probes: tuple[tuple[int, str, tuple[tuple[str, str, Decision], ...]], ...]
    chains: tuple[tuple[str, str, int, str, str], ...] = ()
    extra: tuple[dict[str, Any], ...] = ()  # more pods, Nodes
    replace: dict[str, dict[str, Any]] = field(default_factory=dict)  # pod key -> its own manifest

    def pods(self) -> list[str]:
        return list(PODS) + [
            f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in self.extra if o["kind"] == "Pod"
        ]

    def snapshot(self):
        objs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
            for n, labels in NAMESPACES.items()
        ]
        objs += [self.replace.get(k) or pod(k) for k in PODS]
        objs += list(self.extra)
        for doc in yaml.safe_load_all(self.policies):
            if doc:
                doc.setdefault("apiVersion", "policy.networking.k8s.io/v1alpha2")
                doc.setdefault("kind", "ClusterNetworkPolicy")
                objs.append(doc)
        return build(objs)

    def table(self, ops) -> dict[tuple[str, str], Decision]:
        pods = self.pods()
        out = {(s, d): A for s in pods for d in pods if s != d}
        for src, dst, outcome in ops:
            for s, d in out:
                if fnmatch.fnmatchcase(s, src) and fnmatch.fnmatchcase(d, dst):
                    out[(s, d)] = outcome
        return out


def tcp(port: int, *ops) -> tuple:
    return (port, "TCP", ops)


def udp(port: int, *ops) -> tuple:
    return (port, "UDP", ops)


def sctp(port: int, *ops) -> tuple:
    return (port, "SCTP", ops)


def cnp(
    name: str, tier: str, priority: int, subject: str, ingress: str = "", egress: str = "", version: str = "v1alpha2"
) -> str:
    """One ClusterNetworkPolicy as YAML; ``subject``/``ingress``/``egress`` in flow style."""
    spec = f"tier: {tier}, priority: {priority}, subject: {subject}"
    if ingress:
        spec += f", ingress: {ingress}"
    if egress:
        spec += f", egress: {egress}"
    return (
        f"---\napiVersion: policy.networking.k8s.io/{version}\nkind: ClusterNetworkPolicy\n"
        f"metadata: {{name: {name}}}\nspec: {{{spec}}}\n"
    )


def np(namespace: str, name: str, spec: str) -> str:
    return (
        f"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


NS_X, NS_Y, NS_Z = (
    "{namespaces: {matchLabels: {team: red}}}",
    "{namespaces: {matchLabels: {team: blue}}}",
    "{namespaces: {matchLabels: {team: green}}}",
)
FROM_RED, FROM_ALL = "[{namespaces: {matchLabels: {team: red}}}]", "[{namespaces: {}}]"
TO_BLUE, TO_ALL = "[{namespaces: {matchLabels: {team: blue}}}]", "[{namespaces: {}}]"

CASES = [
    # 1. Admin tier: Accept and Deny are final
    Case(
        "admin-deny-egress-is-final",
        cnp("deny-blue", "Admin", 10, NS_X, egress=f"[{{action: Deny, to: {TO_BLUE}}}]"),
        (tcp(80, ("x/*", "y/*", D)),),
        (("x/a", "y/a", 80, "TCP", "egress: [Admin] cnp/deny-blue rule 0 Deny; ingress: not isolated"),),
    ),
    Case(
        "admin-deny-beats-a-networkpolicy-that-allows",
        cnp("deny-red", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]")
        + np("y", "allow-all", "{podSelector: {}, ingress: [{}]}"),
        (tcp(80, ("x/*", "y/*", D)),),
        (("x/a", "y/b", 80, "TCP", "ingress: [Admin] cnp/deny-red rule 0 Deny"),),
    ),
    Case(
        "admin-accept-overrides-a-networkpolicy-deny",
        cnp("accept-red", "Admin", 10, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + np("y", "deny-all", "{podSelector: {}, policyTypes: [Ingress]}"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", A)),),
        (
            ("x/a", "y/a", 80, "TCP", "ingress: [Admin] cnp/accept-red rule 0 Accept"),
            ("z/a", "y/a", 80, "TCP", "ingress: isolated by y/deny-all and no rule allows it"),
        ),
    ),
    Case(
        "egress-accept-is-final-for-egress-only-the-destination-ingress-still-applies",
        cnp("out", "Admin", 10, NS_X, egress=f"[{{action: Accept, to: {TO_ALL}}}]")
        + np("x", "no-egress", "{podSelector: {}, policyTypes: [Egress]}")
        + np("y", "deny-all", "{podSelector: {}, policyTypes: [Ingress]}"),
        (tcp(80, ("*", "y/*", D)),),
        (("x/a", "z/a", 80, "TCP", "egress: [Admin] cnp/out rule 0 Accept; ingress: not isolated"),),
    ),
    # 2. Pass hands over to the NetworkPolicy tier, then the Baseline tier, then allow
    Case(
        "pass-hands-over-to-the-networkpolicy-tier",
        cnp("pass-red", "Admin", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp("deny-rest", "Admin", 20, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]")
        + np(
            "y",
            "red-on-80",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}}}],"
            " ports: [{port: 80}]}]}",
        ),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", A)), tcp(8080, ("*", "y/*", D))),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "ingress: [Admin] cnp/pass-red rule 0 Pass -> [NetworkPolicy] allowed by y/red-on-80 ingress rule 0",
            ),
            (
                "x/a",
                "y/a",
                8080,
                "TCP",
                "ingress: [Admin] cnp/pass-red rule 0 Pass -> "
                "[NetworkPolicy] isolated by y/red-on-80 and no rule allows it",
            ),
            ("z/a", "y/a", 80, "TCP", "ingress: [Admin] cnp/deny-rest rule 0 Deny"),
        ),
    ),
    Case(
        "pass-without-a-networkpolicy-goes-to-the-baseline-tier",
        cnp("pass-red", "Admin", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp(
            "base",
            "Baseline",
            10,
            NS_Y,
            ingress="[{action: Accept, from: [{namespaces: {matchLabels: {team: green}}}]},"
            f" {{action: Deny, from: {FROM_ALL}}}]",
        ),
        (tcp(80, ("*", "y/*", D), ("z/*", "y/*", A)),),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "ingress: [Admin] cnp/pass-red rule 0 Pass -> "
                "[NetworkPolicy] not isolated -> [Baseline] cnp/base rule 1 Deny",
            ),
            ("z/a", "y/a", 80, "TCP", "ingress: [NetworkPolicy] not isolated -> [Baseline] cnp/base rule 0 Accept"),
        ),
    ),
    Case(
        "pass-with-no-later-tier-deciding-is-allowed-by-default",
        cnp("pass-red", "Admin", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp("deny-rest", "Admin", 20, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", A)),),
        (
            (
                "x/b",
                "y/b",
                80,
                "TCP",
                "ingress: [Admin] cnp/pass-red rule 0 Pass -> [NetworkPolicy] not isolated -> allowed by default",
            ),
        ),
    ),
    Case(
        "pass-skips-the-rest-of-the-admin-tier-not-the-baseline-tier",
        cnp("pass-red", "Admin", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp("accept-all", "Admin", 20, NS_Y, ingress=f"[{{action: Accept, from: {FROM_ALL}}}]")
        + cnp("base", "Baseline", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("x/*", "y/*", D)),),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "ingress: [Admin] cnp/pass-red rule 0 Pass -> "
                "[NetworkPolicy] not isolated -> [Baseline] cnp/base rule 0 Deny",
            ),
        ),
    ),
    # 3. the NetworkPolicy tier decides for the pods it selects, for that direction only
    Case(
        "a-networkpolicy-decides-for-its-pods-before-the-baseline-tier",
        np(
            "y",
            "a-from-red",
            "{podSelector: {matchLabels: {app: a}},"
            " ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}}}]}]}",
        )
        + cnp("base", "Baseline", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/a", A)),),
        (
            ("x/a", "y/a", 80, "TCP", "ingress: allowed by y/a-from-red ingress rule 0"),
            ("z/a", "y/a", 80, "TCP", "ingress: isolated by y/a-from-red and no rule allows it"),
            ("x/a", "y/b", 80, "TCP", "ingress: [NetworkPolicy] not isolated -> [Baseline] cnp/base rule 0 Deny"),
        ),
    ),
    Case(
        "a-networkpolicy-of-the-other-direction-does-not-decide",
        np("y", "egress-only", "{podSelector: {}, policyTypes: [Egress], egress: [{}]}")
        + cnp("base", "Baseline", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]"),
        (tcp(80, ("x/*", "y/*", D)),),
    ),
    # 4. Baseline tier: priorities, first match, Pass
    Case(
        "baseline-lower-priority-first",
        cnp("accept-red", "Baseline", 10, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + cnp("deny-all", "Baseline", 20, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", A)),),
    ),
    Case(
        "baseline-priority-reversed",
        cnp("accept-red", "Baseline", 30, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + cnp("deny-all", "Baseline", 20, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D)),),
    ),
    Case(
        "pass-in-the-baseline-tier-goes-to-the-default",
        cnp("pass-red", "Baseline", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp("deny-all", "Baseline", 20, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", A)),),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "ingress: [NetworkPolicy] not isolated -> [Baseline] cnp/pass-red rule 0 Pass -> allowed by default",
            ),
        ),
    ),
    # 5. priorities and rule order in the Admin tier
    Case(
        "admin-lower-priority-value-is-checked-first",
        cnp("accept-all", "Admin", 20, NS_Y, ingress=f"[{{action: Accept, from: {FROM_ALL}}}]")
        + cnp("deny-red", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]"),
        (tcp(80, ("x/*", "y/*", D)),),
    ),
    Case(
        "admin-priority-reversed",
        cnp("accept-all", "Admin", 5, NS_Y, ingress=f"[{{action: Accept, from: {FROM_ALL}}}]")
        + cnp("deny-red", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]"),
        (tcp(80),),
        (("x/a", "y/a", 80, "TCP", "ingress: [Admin] cnp/accept-all rule 0 Accept"),),
    ),
    Case(
        "rules-of-one-policy-in-order-first-match",
        cnp(
            "ordered",
            "Admin",
            10,
            NS_Y,
            ingress="[{action: Deny, from: [{pods: {namespaceSelector: {matchLabels: {team: red}},"
            " podSelector: {matchLabels: {app: a}}}}]},"
            f" {{action: Accept, from: {FROM_RED}}}, {{action: Deny, from: {FROM_ALL}}}]",
        ),
        (tcp(80, ("*", "y/*", D), ("x/b", "y/*", A)),),
        (
            ("x/a", "y/a", 80, "TCP", "ingress: [Admin] cnp/ordered rule 0 Deny"),
            ("x/b", "y/a", 80, "TCP", "ingress: [Admin] cnp/ordered rule 1 Accept"),
            ("z/b", "y/a", 80, "TCP", "ingress: [Admin] cnp/ordered rule 2 Deny"),
        ),
    ),
    # 6. equal priorities: undefined upstream when both match and disagree
    Case(
        "equal-priority-both-match-and-disagree-is-undefined",
        cnp("accept-red", "Admin", 10, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + cnp("deny-all", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", U)),),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "ingress: undefined: [Admin] cnp/accept-red rule 0 Accept or [Admin] cnp/deny-all rule 0 Deny "
                "(cnp/accept-red and cnp/deny-all have equal priority 10 in the Admin tier and both match",
            ),
            ("z/a", "y/a", 80, "TCP", "ingress: [Admin] cnp/deny-all rule 0 Deny"),
        ),
    ),
    Case(
        "equal-priority-both-match-and-agree-is-settled",
        cnp("deny-red", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]")
        + cnp("deny-all", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D)),),
    ),
    Case(
        "equal-priority-with-disjoint-subjects-are-both-applied",
        cnp("y-deny-red", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_RED}}}]")
        + cnp(
            "z-deny-blue",
            "Admin",
            10,
            NS_Z,
            ingress="[{action: Deny, from: [{namespaces: {matchLabels: {team: blue}}}]}]",
        ),
        (tcp(80, ("x/*", "y/*", D), ("y/*", "z/*", D)),),
    ),
    Case(
        "equal-priority-in-the-baseline-tier-too",
        cnp("accept-red", "Baseline", 7, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + cnp("deny-all", "Baseline", 7, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", U)),),
    ),
    Case(
        "a-pass-and-a-deny-of-equal-priority-disagree-when-the-next-tier-allows",
        cnp("pass-red", "Admin", 10, NS_Y, ingress=f"[{{action: Pass, from: {FROM_RED}}}]")
        + cnp("deny-all", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", U)),),
    ),
    # 7. protocols: numbers, inclusive ranges, protocol, named ports on the destination pod
    Case(
        "ports-numbers-ranges-and-protocols",
        cnp(
            "ports",
            "Admin",
            10,
            NS_Y,
            ingress="[{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 80}}},"
            " {udp: {destinationPort: {range: {start: 53, end: 60}}}}, {sctp: {destinationPort: {number: 9003}}}]}]",
        ),
        (
            tcp(80, ("*", "y/*", D)),
            tcp(8080),
            udp(53, ("*", "y/*", D)),
            udp(60, ("*", "y/*", D)),
            udp(61),
            udp(52),
            udp(80),
            sctp(9003, ("*", "y/*", D)),
            sctp(80),
        ),
    ),
    Case(
        "named-port-resolved-on-the-destination-pod",
        cnp(
            "web",
            "Admin",
            10,
            NS_Y,
            ingress="[{action: Deny, from: [{namespaces: {}}], protocols: [{destinationNamedPort: web}]}]",
        ),
        (tcp(80, ("*", "y/a", D)), tcp(8080, ("*", "y/b", D)), udp(80)),
        replace={"y/b": pod("y/b", ((8080, "TCP", "web"), (80, "TCP", "plain")))},
    ),
    Case(
        "named-port-on-egress-resolved-on-the-destination-pod",
        cnp(
            "web-out",
            "Admin",
            10,
            NS_X,
            egress=f"[{{action: Deny, to: {TO_BLUE}, protocols: [{{destinationNamedPort: web}}]}}]",
        ),
        (tcp(80, ("x/*", "y/a", D)), tcp(8080, ("x/*", "y/b", D))),
        replace={"y/b": pod("y/b", ((8080, "TCP", "web"), (80, "TCP", "plain")))},
    ),
    # 8. networks peers match pod IPs too
    Case(
        "networks-zero-slash-zero-covers-pod-traffic",
        cnp(
            "egress-guard",
            "Admin",
            10,
            NS_X,
            egress="[{action: Accept, to: [{pods: {namespaceSelector: {matchLabels: {team: blue}},"
            " podSelector: {matchLabels: {app: a}}}}]},"
            " {action: Deny, to: [{networks: [0.0.0.0/0, '::/0']}]}]",
        ),
        (tcp(80, ("x/*", "*", D), ("x/*", "y/a", A)),),
        (("x/a", "x/b", 80, "TCP", "egress: [Admin] cnp/egress-guard rule 1 Deny"),),
    ),
    Case(
        "networks-of-one-pod-ip",
        cnp("one-ip", "Admin", 10, NS_X, egress="[{action: Deny, to: [{networks: [10.1.1.1/32]}]}]"),
        (tcp(80, ("x/*", "y/a", D)),),
    ),
    Case(
        "networks-of-the-other-family-match-nothing",
        cnp("v6", "Admin", 10, NS_X, egress="[{action: Deny, to: [{networks: ['fd00::/8']}]}]"),
        (tcp(80),),
    ),
    # 9. hairpin, host network
    Case(
        "hairpin-a-pod-reaching-itself-is-not-subject-to-the-tiers",
        cnp(
            "deny-everything",
            "Admin",
            0,
            "{namespaces: {}}",
            ingress=f"[{{action: Deny, from: {FROM_ALL}}}]",
            egress="[{action: Deny, to: [{networks: [0.0.0.0/0]}]}]",
        ),
        (tcp(80, ("*", "*", D)), udp(53, ("*", "*", D))),
    ),
    Case(
        "host-network-pods-are-never-selected-and-never-pod-or-namespace-peers",
        cnp("deny-in", "Admin", 10, "{namespaces: {}}", ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "*", D), ("*", "z/h", A), ("z/h", "*", A)),),
        (("x/a", "z/h", 80, "TCP", "ingress: host-network pod, not subject to NetworkPolicy"),),
        extra=(HOST,),
    ),
    Case(
        "networks-peers-match-a-host-network-pod-by-its-ip",
        cnp("no-nodes", "Admin", 10, NS_X, egress="[{action: Deny, to: [{networks: [172.18.0.0/24]}]}]"),
        (tcp(80, ("x/*", "z/h", D)),),
        extra=(HOST,),
    ),
    # 10. nodes peers: node addresses, from Node objects only
    Case(
        "nodes-peers-match-node-addresses",
        cnp(
            "kubelet",
            "Admin",
            10,
            NS_X,
            egress="[{action: Accept, to: [{nodes: {matchLabels: {role: worker}}}],"
            " protocols: [{tcp: {destinationPort: {number: 10250}}}]},"
            " {action: Deny, to: [{nodes: {}}]}]",
        ),
        (tcp(10250), tcp(80, ("x/*", "z/h", D))),
        (("x/a", "z/h", 10250, "TCP", "egress: [Admin] cnp/kubelet rule 0 Accept"),),
        extra=(HOST, *NODES),
    ),
    Case(
        "nodes-peers-without-node-objects-cannot-be-evaluated",
        cnp("kubelet", "Admin", 10, NS_X, egress="[{action: Deny, to: [{nodes: {}}]}]"),
        (tcp(80, ("x/*", "z/h", K)),),
        (("x/a", "z/h", 80, "TCP", "egress: unknown: [Admin] cnp/kubelet rule 0 Deny if its nodes match or "),),
        extra=(HOST,),
    ),
    # 11. domainNames cannot be evaluated from a snapshot: said, never guessed
    Case(
        "domain-names-before-a-deny-are-unknown",
        cnp("allow-list", "Admin", 10, NS_X, egress="[{action: Accept, to: [{domainNames: ['*.example.com']}]}]")
        + cnp("base", "Baseline", 10, NS_X, egress=f"[{{action: Deny, to: {TO_ALL}}}]"),
        (tcp(80, ("x/*", "*", K)),),
        (
            (
                "x/a",
                "y/a",
                80,
                "TCP",
                "egress: unknown: [Admin] cnp/allow-list rule 0 Accept if its domainNames match or [NetworkPolicy] "
                "not isolated -> [Baseline] cnp/base rule 0 Deny (cannot be evaluated from a snapshot: "
                "cnp/allow-list egress rule 0: its domainNames resolve through DNS at run time)",
            ),
        ),
    ),
    Case(
        "domain-names-where-everything-else-allows-too-are-settled",
        cnp("allow-list", "Admin", 10, NS_X, egress="[{action: Accept, to: [{domainNames: ['*.example.com']}]}]"),
        (tcp(80),),
        (("x/a", "y/a", 80, "TCP", "egress: not isolated; ingress: not isolated"),),
    ),
    Case(
        "a-deny-before-domain-names-is-settled",
        cnp(
            "allow-list",
            "Admin",
            10,
            NS_X,
            egress=f"[{{action: Deny, to: {TO_BLUE}}}, {{action: Accept, to: [{{domainNames: [kubernetes.io]}}]}},"
            f" {{action: Deny, to: {TO_ALL}}}]",
        ),
        (tcp(80, ("x/*", "*", K), ("x/*", "y/*", D)),),
    ),
    # 12. subjects and peers
    Case(
        "a-policy-without-rules-of-a-direction-does-not-affect-it",
        cnp("in-only", "Admin", 10, NS_X, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]"),
        (tcp(80, ("*", "x/*", D)),),
        (("x/a", "y/a", 80, "TCP", "egress: not isolated; ingress: not isolated"),),
    ),
    Case(
        "pods-subject-and-peer-without-namespace-selector-mean-every-namespace",
        cnp(
            "app-a",
            "Admin",
            10,
            "{pods: {podSelector: {matchLabels: {app: a}}}}",
            ingress="[{action: Deny, from: [{pods: {podSelector: {matchLabels: {app: b}}}}]}]",
        ),
        (tcp(80, ("*/b", "*/a", D)),),
    ),
    Case(
        "pods-subject-with-a-namespace-selector",
        cnp(
            "prod-a",
            "Admin",
            10,
            "{pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {app: a}}}}",
            ingress=f"[{{action: Deny, from: {FROM_ALL}}}]",
        ),
        (tcp(80, ("*", "x/a", D), ("*", "y/a", D)),),
    ),
    # 13. the v1alpha1 pair maps onto the same tiers
    Case(
        "admin-and-baseline-admin-network-policies",
        """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: old}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: blue}}}
  ingress:
    - action: Allow
      from: [{namespaces: {matchLabels: {team: red}}}]
      ports: [{portNumber: {protocol: TCP, port: 80}}]
    - action: Pass
      from: [{namespaces: {matchLabels: {team: red}}}]
      ports: [{portRange: {protocol: TCP, start: 8000, end: 8100}}]
    - {action: Deny, from: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: red}}}]}]
""",
        (
            tcp(80, ("*", "y/*", D), ("x/*", "y/*", A), ("x/*", "z/*", D), ("x/*", "x/*", D)),
            tcp(8080, ("*", "y/*", D), ("x/*", "*", D)),
        ),
        (
            ("x/a", "y/a", 80, "TCP", "ingress: [Admin] anp/old rule 0 Allow"),  # as declared (v1alpha1)
            (
                "x/a",
                "y/a",
                8080,
                "TCP",
                "ingress: [Admin] anp/old rule 1 Pass -> "
                "[NetworkPolicy] not isolated -> [Baseline] banp/default rule 0 Deny",
            ),
        ),
    ),
    Case(
        "an-admin-network-policy-and-a-cluster-network-policy-of-equal-priority-are-undefined",
        """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: old}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: blue}}}
  ingress: [{action: Allow, from: [{namespaces: {matchLabels: {team: red}}}]}]
"""
        + cnp("new", "Admin", 10, NS_Y, ingress=f"[{{action: Deny, from: {FROM_ALL}}}]", version="v1beta1"),
        (tcp(80, ("*", "y/*", D), ("x/*", "y/*", U)),),
    ),
    Case(
        "the-baseline-admin-network-policy-comes-after-baseline-cluster-network-policies",
        cnp("base", "Baseline", 1000, NS_Y, ingress=f"[{{action: Accept, from: {FROM_RED}}}]")
        + """
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
""",
        (tcp(80, ("*", "*", D), ("x/*", "y/*", A)),),
    ),
]


def _ports(case: Case) -> list[tuple[int, Protocol]]:
    return [(port, Protocol(proto)) for port, proto, _ in case.probes]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_truth_table(case: Case):
    snap = case.snapshot()
    model = PolicyModel(snap)
    matrix = {
        (r.source, r.destination, r.port, str(r.protocol)): r for r in expected_matrix(snap, _ports(case), model=model)
    }
    wrong = []
    for port, proto, ops in case.probes:
        for (s, d), want in case.table(ops).items():
            v = model.evaluate(model.pod(s), model.pod(d), port, Protocol(proto))
            row = matrix[(s, d, port, proto)]
            assert (row.decision, row.reason) == (v.decision, v.reason), (s, d, port, proto)
            if v.decision is not want:
                wrong.append(f"{s} -> {d} {port}/{proto}: expected {want}, model says {v.decision} ({v.reason})")
        for p in case.pods():
            v = model.evaluate(model.pod(p), model.pod(p), port, Protocol(proto))
            assert v.decision is A and v.reason == SAME_POD_REASON  # hairpin
    assert not wrong, "\n".join(wrong)


CHAINS = [(c, chain) for c in CASES for chain in c.chains]


@pytest.mark.parametrize("case,chain", CHAINS, ids=[f"{c.id}:{ch[0]}->{ch[1]}:{ch[2]}" for c, ch in CHAINS])
def test_reason_names_the_chain(case: Case, chain):
    s, d, port, proto, text = chain
    model = PolicyModel(case.snapshot())
    v = model.evaluate(model.pod(s), model.pod(d), port, Protocol(proto))
    assert text in v.reason, v.reason


def test_without_cluster_policies_nothing_changes_not_even_the_words():
    plain = Case("plain", np("y", "deny-all", "{podSelector: {}, policyTypes: [Ingress]}"), ())
    model = PolicyModel(plain.snapshot())
    v = model.evaluate(model.pod("x/a"), model.pod("y/a"), 80, Protocol.TCP)
    assert v.reason == "egress: not isolated; ingress: isolated by y/deny-all and no rule allows it"
    assert v.egress.tiers is None and v.ingress.tiers is None and not model.cluster_policies


def test_undefined_keeps_every_outcome_and_the_names_of_both_policies():
    case = next(c for c in CASES if c.id == "equal-priority-both-match-and-disagree-is-undefined")
    model = PolicyModel(case.snapshot())
    side = model.evaluate(model.pod("x/a"), model.pod("y/a"), 80, Protocol.TCP).ingress
    assert side.tiers is not None and side.decision is U
    assert {p.decision for p in side.tiers.paths} == {A, D}
    assert {s.policy for p in side.tiers.paths for s in p.steps} == {"cnp/accept-red", "cnp/deny-all"}


def test_an_unsettled_side_does_not_hide_a_definite_deny_on_the_other_side():
    case = next(c for c in CASES if c.id == "domain-names-before-a-deny-are-unknown")
    snap = case.snapshot()
    extra = Case("x", case.policies + np("y", "deny-all", "{podSelector: {}, policyTypes: [Ingress]}"), ())
    model = PolicyModel(extra.snapshot())
    v = model.evaluate(model.pod("x/a"), model.pod("y/a"), 80, Protocol.TCP)
    assert v.egress.decision is K and v.ingress.decision is D and v.decision is D
    assert PolicyModel(snap).evaluate(model.pod("x/a"), model.pod("z/a"), 80, Protocol.TCP).decision is K


def test_egress_to_an_address_outside_the_cluster_goes_through_the_tiers():
    case = Case(
        "ip",
        cnp(
            "out",
            "Admin",
            10,
            NS_X,
            egress="[{action: Accept, to: [{networks: [203.0.113.0/24]}],"
            " protocols: [{tcp: {destinationPort: {number: 443}}}]},"
            " {action: Accept, to: [{domainNames: [api.example.com]}]}, {action: Deny, to: [{networks: [0.0.0.0/0]}]}]",
        ),
        (),
    )
    model = PolicyModel(case.snapshot())
    src = model.pod("x/a")
    ok = model.evaluate_to_ip(src, "203.0.113.7", 443)
    assert ok.decision is A and ok.text == "egress: [Admin] cnp/out rule 0 Accept"
    maybe = model.evaluate_to_ip(src, "198.51.100.1", 443)
    assert maybe.decision is K and "rule 1 Accept if its domainNames match" in maybe.text
    assert model.evaluate_to_ip(model.pod("y/a"), "198.51.100.1", 443).decision is A  # not a subject
