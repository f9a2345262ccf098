"""No object vanishes quietly: what the loader does not read is counted by kind on stderr.

Issue 9 item 4: duplicate keys are refused (tests/safeyaml); objects of kinds the model
does not read (a ConfigMap, a Calico NetworkPolicy of another API group) are skipped,
and ``predict`` says which kinds and how many, for files and for standard input (live
discovery lists only the kinds it reads, so it has nothing to skip).
"""

from __future__ import annotations

import io
import sys

from orchestrator.cli import main

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
SUMMARY = "skipped ConfigMap x2, NetworkPolicy (crd.projectcalico.org/v1) x1, Secret x1"


def test_predict_names_every_skipped_kind_and_count_for_files(tmp_path, capsys):
    (tmp_path / "all.yaml").write_text(MANIFESTS)
    assert main(["predict", "-f", str(tmp_path / "all.yaml"), "-o", "csv"]) == 0
    out = capsys.readouterr()
    assert SUMMARY in out.err and "skipped" not in out.out


def test_and_for_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MANIFESTS.encode())))
    assert main(["predict", "-f", "-", "-o", "csv"]) == 0
    assert SUMMARY in capsys.readouterr().err
