"""No object vanishes quietly: what the loader does not read is counted by kind on stderr.

Issue 9 item 4: duplicate keys are refused (tests/safeyaml); objects of kinds the model
does not read (a ConfigMap, a Calico NetworkPolicy of another API group) are skipped,
and ``predict`` says which kinds and how many, the same way for files, standard input
and a live cluster (one summary function, ``describe_load``).
"""

from __future__ import annotations

import io
import sys

from orchestrator.cli import main
from orchestrator.reports.predict import describe_load
from orchestrator.snapshot import Origin, snapshot_from_objects

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: more, namespace: shop}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: calico, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: web, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
"""
SUMMARY = (
    "loaded 1 pods, 0 network policies, 1 namespaces; skipped 4 objects of kinds kubereach does not read: "
    "ConfigMap x2, NetworkPolicy (crd.projectcalico.org/v1) x1, Secret x1"
)


def test_predict_names_every_skipped_kind_and_count_for_files(tmp_path, capsys):
    (tmp_path / "all.yaml").write_text(MANIFESTS)
    assert main(["predict", "-f", str(tmp_path / "all.yaml"), "-o", "csv"]) == 0
    out = capsys.readouterr()
    assert SUMMARY in out.err and "skipped" not in out.out


def test_and_for_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MANIFESTS.encode())))
    assert main(["predict", "-f", "-", "-o", "csv"]) == 0
    assert SUMMARY in capsys.readouterr().err


def test_a_live_snapshot_is_summarised_by_the_same_function():
    import yaml

    snap = snapshot_from_objects((doc, Origin("context lab")) for doc in yaml.safe_load_all(MANIFESTS))
    line = describe_load(snap, verb="discovered", where="in shop (context lab)")
    assert line.startswith("discovered 1 pods, 0 network policies, 1 namespaces in shop (context lab); skipped 4")
