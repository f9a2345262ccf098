"""Each finding kind from a small realistic manifest that has it, and not from one that does not."""

from __future__ import annotations

import pytest
from posture_helpers import ns, pod, shop, snap

from orchestrator.audit import KINDS, Severity, audit


def kinds(snapshot) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in audit(snapshot):
        out.setdefault(f.kind, []).append(f)
    return out


LOCKED = """
metadata: {name: default-deny, namespace: app}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: default-deny, namespace: data}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: dns, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
            podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
---
metadata: {name: dns, namespace: data}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
            podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{port: 53, protocol: UDP}]
---
metadata: {name: web-to-api, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: api}]}]
---
metadata: {name: web-egress, namespace: app}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: api}]}]
"""


def test_a_locked_down_shop_has_no_finding():
    assert kinds(snap(shop(), LOCKED)) == {}


def test_pods_no_policy_selects_are_not_isolated_in_either_direction():
    found = kinds(snap(shop()))
    by_ns = {f.subject: f for f in found["pods-not-isolated"]}
    app = by_ns["Namespace/app ingress+egress"]
    assert app.severity is Severity.MEDIUM
    assert set(app.objects) == {"Namespace/app", "Pod/app/web-1", "Pod/app/web-2", "Pod/app/api-1"}
    assert "kind: NetworkPolicy" in app.fix and "policyTypes:\n  - Ingress\n  - Egress" in app.fix
    assert {f.subject for f in found["namespace-without-default-deny"]} == {
        "Namespace/app ingress+egress",
        "Namespace/data ingress+egress",
    }


def test_pods_isolated_in_one_direction_only_are_low():
    found = kinds(snap(shop(), "metadata: {name: in, namespace: data}\nspec: {podSelector: {}}"))
    data = next(f for f in found["pods-not-isolated"] if f.subject.startswith("Namespace/data"))
    assert data.subject == "Namespace/data egress" and data.severity is Severity.LOW


def test_a_typo_in_a_pod_selector_is_high_and_names_the_near_miss():
    found = kinds(
        snap(shop(), "metadata: {name: db-in, namespace: data}\nspec: {podSelector: {matchLabels: {app: dbb}}}")
    )
    (f,) = found["policy-selects-nothing"]
    assert f.severity is Severity.HIGH
    assert f.objects == ("NetworkPolicy/data/db-in", "Pod/data/db-0")
    assert "data/db-0 has app=db" in f.message and "not isolated" in f.message
    assert "does not guess" in f.fix


def test_a_selector_far_from_every_label_is_medium_and_a_matching_one_is_no_finding():
    far = kinds(snap(shop(), "metadata: {name: x, namespace: data}\nspec: {podSelector: {matchLabels: {app: kafka}}}"))
    assert far["policy-selects-nothing"][0].severity is Severity.MEDIUM
    ok = kinds(snap(shop(), "metadata: {name: x, namespace: data}\nspec: {podSelector: {matchLabels: {app: db}}}"))
    assert "policy-selects-nothing" not in ok


PEERS = """
metadata: {name: db-in, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: ap}}
        - namespaceSelector: {matchLabels: {team: app}}
          podSelector: {matchLabels: {app: apii}}
        - namespaceSelector: {matchLabels: {team: app}}
          podSelector: {matchLabels: {app: api}}
"""


def test_dead_peers_name_the_namespace_or_pod_they_probably_meant():
    found = kinds(snap(shop(), PEERS))
    dead = {f.subject: f for f in found["peer-matches-nothing"]}
    assert set(dead) == {
        "NetworkPolicy/data/db-in spec.ingress[0].from[0]",
        "NetworkPolicy/data/db-in spec.ingress[0].from[1]",
    }
    assert "namespace app has team=app" in dead["NetworkPolicy/data/db-in spec.ingress[0].from[0]"].message
    assert "app/api-1 has app=api" in dead["NetworkPolicy/data/db-in spec.ingress[0].from[1]"].message


OR_PEERS = """
metadata: {name: db-in, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: app}}
        - podSelector: {matchLabels: {app: api}}
"""


def test_a_lone_namespace_selector_and_a_lone_pod_selector_are_an_or_and_it_says_what_it_admits():
    found = kinds(snap(shop() + [pod("data", "cache", {"app": "api"}, "10.0.1.2", [(6379, "TCP", None)])], OR_PEERS))
    (f,) = found["peers-or-instead-of-and"]
    assert "every pod of app (3 pods" in f.message
    assert "with app=api in data (1 pod (data/cache))" in f.message
    assert "As one peer (AND) it would admit 1 pod (app/api-1)" in f.message
    assert "- namespaceSelector:\n    matchLabels:\n      team: app\n  podSelector:" in f.fix
    anded = OR_PEERS.replace("        - podSelector", "          podSelector")
    assert "peers-or-instead-of-and" not in kinds(snap(shop(), anded))


def test_redundant_rules_are_found_and_distinct_ones_are_not():
    text = """
metadata: {name: broad, namespace: app}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
---
metadata: {name: narrow, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8000}]}]
"""
    found = kinds(snap(shop(), text))
    (f,) = found["rule-redundant"]
    assert f.subject == "NetworkPolicy/app/narrow spec.ingress[0]" and "app/broad spec.ingress[0]" in f.title
    distinct = text.replace(
        "ingress: [{from: [{podSelector: {}}]}]", "ingress: [{from: [{podSelector: {}}], ports: [{port: 9}]}]"
    )
    assert "rule-redundant" not in kinds(snap(shop(), distinct))


@pytest.mark.parametrize(
    "peer,needle,severity",
    [
        ("{}", "admits every source", Severity.MEDIUM),
        ("{from: [{namespaceSelector: {}}]}", "admits every pod of every namespace", Severity.MEDIUM),
        ("{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}", "admits every address (0.0.0.0/0)", Severity.MEDIUM),
        ("{from: [{ipBlock: {cidr: 10.0.0.0/24}}]}", "10.0.0.0/24 covers pod IPs", Severity.MEDIUM),
        (
            "{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]}",
            "of every namespace",
            Severity.LOW,
        ),
    ],
)
def test_broad_allows(peer, needle, severity):
    text = f"metadata: {{name: db-in, namespace: data}}\nspec:\n  podSelector: {{}}\n  ingress: [{peer}]"
    (f,) = kinds(snap(shop(), text))["broad-allow"]
    assert needle in f.title and f.severity is severity


def test_narrow_allows_are_not_broad():
    text = (
        "metadata: {name: db-in, namespace: data}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: "
        "{cidr: 203.0.113.0/24}}, {namespaceSelector: {matchLabels: {team: app}}}]}]"
    )
    assert "broad-allow" not in kinds(snap(shop(), text))


def test_egress_isolation_without_dns_and_its_fix():
    text = "metadata: {name: out, namespace: data}\nspec: {podSelector: {}, policyTypes: [Egress]}"
    (f,) = kinds(snap(shop(), text))["egress-without-dns"]
    assert f.objects == ("Namespace/data", "Pod/data/db-0")
    assert "k8s-app: kube-dns" in f.fix and "port: 53" in f.fix
    with_dns = LOCKED.split("---")[3]
    assert "egress-without-dns" not in kinds(snap(shop(), text + "\n---\n" + with_dns))


def test_a_real_dns_pod_in_the_snapshot_is_what_dns_means():
    dns = [ns("kube-system"), pod("kube-system", "coredns", {"k8s-app": "kube-dns"}, "10.0.9.9", [(53, "UDP", "dns")])]
    text = (
        "metadata: {name: out, namespace: data}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
        "  egress: [{to: [{ipBlock: {cidr: 10.0.9.9/32}}], ports: [{port: 53, protocol: UDP}]}]"
    )
    assert "egress-without-dns" not in kinds(snap(shop() + dns, text))
    assert "egress-without-dns" in kinds(snap(shop(), text))  # the stand-in has no IP: only selectors reach it


def test_named_ports_that_resolve_nowhere():
    text = (
        "metadata: {name: api-in, namespace: app}\nspec:\n  podSelector: {matchLabels: {app: api}}\n"
        "  ingress: [{ports: [{port: http}, {port: api}]}]"
    )
    (f,) = kinds(snap(shop(), text))["named-port-unresolved"]
    assert f.subject.endswith("spec.ingress[0].ports[0]") and "'http'" in f.title


def services(*svcs):
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": "app"}, "spec": s} for n, s in svcs
    ]


def test_services_that_select_nothing_or_target_undeclared_ports():
    objs = shop() + services(
        ("web", {"selector": {"app": "wbe"}, "ports": [{"port": 80, "targetPort": "http"}]}),
        (
            "api",
            {
                "selector": {"app": "api"},
                "ports": [{"name": "a", "port": 80, "targetPort": "http"}, {"name": "b", "port": 81, "targetPort": 9}],
            },
        ),
        ("ok", {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "api"}]}),
        ("external", {"ports": [{"port": 80}]}),
    )
    found = kinds(snap(objs))
    (nothing,) = found["service-selects-nothing"]
    assert nothing.subject == "Service/app/web" and "app/web-1 has app=web" in nothing.message
    undeclared = {f.subject: f.severity for f in found["service-target-port-undeclared"]}
    assert undeclared == {
        "Service/app/api spec.ports[0]": Severity.MEDIUM,
        "Service/app/api spec.ports[1]": Severity.LOW,
    }


def test_host_network_pods_a_policy_selects():
    objs = shop() + [pod("app", "agent", {"app": "agent"}, "192.0.2.5", [], host_network=True)]
    found = kinds(snap(objs, "metadata: {name: all, namespace: app}\nspec: {podSelector: {}}"))
    (f,) = found["host-network-pod-selected"]
    assert f.objects == ("Pod/app/agent", "NetworkPolicy/app/all")
    assert "host-network-pod-selected" not in kinds(snap(objs))


def _with_rules(uids, annotation="default: deny\nrules: []\n"):
    p = pod("app", "multi", {"app": "multi"}, "10.0.0.9", [])
    p["metadata"]["annotations"] = {"intrapod.kubereach.io/rules": annotation}
    p["spec"]["containers"] = [
        {"name": f"c{i}", "ports": [{"containerPort": 9000 + i}], "securityContext": {"runAsUser": uid}}
        for i, uid in enumerate(uids)
    ]
    return p


def test_intrapod_rules_that_cannot_be_enforced():
    found = kinds(snap(shop() + [_with_rules([0, 1001])]))
    (f,) = found["intrapod-unenforceable"]
    assert f.severity is Severity.HIGH and "root-uid" in f.id
    shared = kinds(snap(shop() + [_with_rules([1001, 1001])]))["intrapod-unenforceable"]
    assert shared[0].severity is Severity.MEDIUM and "shared-uid" in shared[0].id
    assert "intrapod-unenforceable" not in kinds(snap(shop() + [_with_rules([1001, 1002])]))


def test_invalid_intrapod_rules_are_a_finding_and_hide_no_other_pod():
    bad = _with_rules([1001, 1002], "default: maybe\n")
    other = _with_rules([0, 1001])
    other["metadata"]["name"] = "other"
    found = kinds(snap(shop() + [bad, other]))["intrapod-unenforceable"]
    assert {f.id.split(":")[1].split()[0] for f in found} == {"Pod/app/multi", "Pod/app/other"}


def test_skipped_kinds_are_an_info_finding():
    objs = shop() + [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "d"}}]
    (f,) = kinds(snap(objs))["objects-skipped"]
    assert f.severity is Severity.INFO and "Ingress x1" in f.message


def test_every_kind_is_documented_and_ids_are_unique_and_stable():
    findings = audit(snap(shop(), PEERS))
    assert {f.kind for f in findings} <= set(KINDS)
    assert len({f.id for f in findings}) == len(findings)
    assert [f.id for f in findings] == [f.id for f in audit(snap(shop(), PEERS))]
