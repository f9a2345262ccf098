"""``kubereach predict`` and ``explain`` with cluster policy tiers, through the installed CLI:
the chain in CSV reasons, undefined and unknown verdicts, policies per tier in JSON and in
the table, explain in plain words, and the EKS kind refused with a clear note."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: data, labels: {team: blue}}
---
apiVersion: v1
kind: Namespace
metadata: {name: mon, labels: {team: monitoring}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 80, name: http}, {containerPort: 9090, name: metrics}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db}}
spec: {containers: [{name: c, ports: [{containerPort: 5432, name: pg}, {containerPort: 9090, name: metrics}]}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: mon, labels: {app: prom}}
spec: {containers: [{name: c, ports: [{containerPort: 9090, name: web}]}]}
status: {podIP: 10.0.2.1}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: allow-monitoring}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
    - action: Accept
      from: [{namespaces: {matchLabels: {team: monitoring}}}]
      protocols: [{destinationNamedPort: metrics}]
    - action: Pass
      from: [{namespaces: {matchLabels: {team: red}}}]
---
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: default-deny}
spec:
  tier: Baseline
  priority: 100
  subject: {namespaces: {matchLabels: {team: blue}}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-app, namespace: data}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}}}], ports: [{port: 5432}]}]
"""

TIE = """
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: quarantine}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: blue}}}
  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: monitoring}}}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: egress-allow-list}
spec:
  tier: Admin
  priority: 20
  subject: {namespaces: {matchLabels: {team: red}}}
  egress:
    - {action: Accept, to: [{domainNames: [api.example.com]}]}
    - {action: Deny, to: [{namespaces: {matchLabels: {team: blue}}}]}
---
apiVersion: networking.k8s.aws/v1alpha1
kind: ClusterNetworkPolicy
metadata: {name: eks-style}
spec: {policyType: Admin}
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kubereach"), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "more.yaml").write_text(CLUSTER + TIE)
    return tmp_path


def rows(text: str) -> dict[tuple[str, str, str], dict[str, str]]:
    return {(r["source"], r["destination"], r["port"]): r for r in csv.DictReader(io.StringIO(text))}


def test_csv_reasons_name_the_chain_of_tiers(files):
    out = run("predict", "-f", str(files / "cluster.yaml"), "-o", "csv")
    assert out.returncode == 0, out.stderr
    assert "2 cluster policies" in out.stderr
    r = rows(out.stdout)
    assert r[("mon/prom", "data/db", "9090")]["verdict"] == "allow"
    assert "ingress: [Admin] cnp/allow-monitoring rule 0 Accept" in r[("mon/prom", "data/db", "9090")]["reason"]
    passed = r[("app/web", "data/db", "5432")]
    assert passed["verdict"] == "allow"
    assert (
        "ingress: [Admin] cnp/allow-monitoring rule 1 Pass -> "
        "[NetworkPolicy] allowed by data/db-from-app ingress rule 0" in passed["reason"]
    )
    baseline = r[("mon/prom", "data/db", "5432")]
    assert baseline["verdict"] == "deny"
    assert "isolated by data/db-from-app and no rule allows it" in baseline["reason"]  # the NetworkPolicy decides
    assert {v["verdict"] for v in r.values()} == {"allow", "deny"}


def test_undefined_and_unknown_verdicts_and_the_eks_note(files):
    out = run("predict", "-f", str(files / "more.yaml"), "-o", "csv")
    assert out.returncode == 0, out.stderr
    assert "note: 1 ClusterNetworkPolicy object of networking.k8s.aws/v1alpha1" in out.stderr
    assert "skipped ClusterNetworkPolicy (networking.k8s.aws/v1alpha1) x1" in out.stderr
    r = rows(out.stdout)
    tie = r[("mon/prom", "data/db", "9090")]
    assert tie["verdict"] == "undefined"
    assert "cnp/allow-monitoring and cnp/quarantine have equal priority 10 in the Admin tier" in tie["reason"]
    unknown = r[("app/web", "data/db", "5432")]  # Accept if api.example.com is db's address, else Deny
    assert (
        unknown["verdict"] == "unknown"
        and "if its domainNames match or [Admin] cnp/egress-allow-list rule 1 Deny" in (unknown["reason"])
    )
    settled = r[("app/web", "mon/prom", "9090")]  # Accept if it is, else nothing denies: allowed either way
    assert settled["verdict"] == "allow" and settled["reason"].startswith("egress: not isolated; ingress: [Admin]")


def test_json_lists_the_policies_of_each_tier(files):
    out = run("predict", "-f", str(files / "more.yaml"), "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tiers = doc["tiers"]
    assert list(tiers) == ["Admin", "NetworkPolicy", "Baseline"]
    assert [(p["name"], p["priority"]) for p in tiers["Admin"]] == [
        ("cnp/allow-monitoring", 10),
        ("cnp/quarantine", 10),
        ("cnp/egress-allow-list", 20),
    ]
    assert tiers["Admin"][0] == {
        "name": "cnp/allow-monitoring",
        "kind": "ClusterNetworkPolicy",
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "priority": 10,
        "ingress_rules": 2,
        "egress_rules": 0,
        "selects": 3,
    }
    assert tiers["NetworkPolicy"] == [
        {"name": "data/db-from-app", "kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1", "selects": 1}
    ]
    assert tiers["Baseline"][0]["name"] == "cnp/default-deny" and tiers["Baseline"][0]["selects"] == 1
    assert any("networking.k8s.aws" in n for n in doc["notes"])
    assert {row["verdict"] for row in doc["rows"]} >= {"allow", "deny", "undefined", "unknown"}


def test_networkpolicy_only_json_has_no_tier_keys(tmp_path):
    plain = CLUSTER.split("---\napiVersion: policy.networking.k8s.io")[0]
    (tmp_path / "np.yaml").write_text(plain + CLUSTER[CLUSTER.index("---\napiVersion: networking.k8s.io/v1") :])
    doc = json.loads(run("predict", "-f", str(tmp_path / "np.yaml"), "-o", "json").stdout)
    assert set(doc) == {"rows", "findings", "isolated", "skipped_kinds", "pods"}


def test_table_shows_the_tiers_and_the_glyphs_of_unsettled_cells(files):
    out = run("predict", "-f", str(files / "more.yaml"))
    assert out.returncode == 0, out.stderr
    assert "evaluation order: Admin tier -> NetworkPolicy -> Baseline tier -> allowed" in out.stdout
    assert "cnp/egress-allow-list" in out.stdout and "'*' undefined" in out.stdout and "'?' unknown" in out.stdout
    plain = run("predict", "-f", str(files / "cluster.yaml"))
    assert "'*' undefined" not in plain.stdout  # no such cell: no such legend


def test_explain_tells_the_tiers_in_plain_words(files):
    out = run("explain", "app/web", "data/db", "pg", "-f", str(files / "cluster.yaml"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("app/web -> data/db on 5432/TCP (pg): ALLOW")
    assert "ingress of data/db: ALLOWED - decided in tier order" in text
    assert (
        "1. Admin tier: cnp/allow-monitoring (ClusterNetworkPolicy policy.networking.k8s.io/v1alpha2, priority 10)"
        in text
    )
    assert "ingress rule 1 matches: Pass from [namespaces team=red]; any port" in text
    assert "-> passed: the rest of this tier is skipped and the next tier decides" in text
    assert "2. NetworkPolicy tier: allowed (isolated by data/db-from-app)" in text


def test_explain_an_undefined_connection_lists_both_ways(files):
    out = run("explain", "mon/prom", "data/db", "metrics", "-f", str(files / "more.yaml"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "mon/prom -> data/db on 9090/TCP (metrics): UNDEFINED" in text
    assert "the API lets the implementation apply either" in text
    assert "way 1: ALLOW" in text and "way 2: DENY" in text
    assert "cnp/quarantine" in text and "cnp/allow-monitoring" in text
