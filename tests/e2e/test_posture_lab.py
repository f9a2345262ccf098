"""Posture in the lab: the demo's hole observed as an intent violation, fixed by applying
``kubereach suggest``'s policies with kubectl, and every row of the next sweep as intended.

Runs its own lab (enforcing CNI, no webhook): applying policies would change the shared
session labs other tests sweep.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DEMO, ROOT, read_rows, read_run, start_lab, stop_lab

pytestmark = pytest.mark.lab
INTENT = str(ROOT / "manifests" / "demo-intent.yaml")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("kr-posture"), "enforce")
    yield lab
    stop_lab(lab)


def test_audit_of_the_live_cluster_finds_the_typo(lab):
    import json

    p = lab.kr("audit", "--kubeconfig", lab.kubeconfig, "-A", "-o", "json")
    assert p.returncode == 1, p.stderr
    found = {f["id"]: f for f in json.loads(p.stdout)["findings"]}
    hole = found["policy-selects-nothing:NetworkPolicy/shop-data/postgres-ingress"]
    assert hole["severity"] == "high" and "Pod/shop-data/postgres-0" in hole["objects"]
    assert "discovered 8 pods" in p.stderr


def test_suggestions_applied_with_kubectl_make_every_swept_row_as_intended(lab, tmp_path):
    before = tmp_path / "before"
    p = lab.sweep(before, "-A", "--scope", "pod", "--intent", INTENT)
    assert p.returncode == 1, p.stdout + p.stderr
    rows = read_rows(before)
    assert all(r["verdict"] == "ok" for r in rows)  # the CNI does what the policies say ...
    hole = {(r["source"], r["destination"]) for r in rows if r["intent_verdict"] == "violation-open"}
    assert hole == {(f"shop-frontend/{p}", "shop-data/postgres-0") for p in ("web-1", "web-2", "checkout-1")}
    assert "Intent violations (3)" in p.stdout  # ... and that is not what the shop intends
    assert any(f["kind"] == "policy-selects-nothing" for f in read_run(before)["findings"])

    fixes = tmp_path / "fixes"
    s = lab.kr("suggest", "-f", DEMO, "--intent", INTENT, "-o", str(fixes))
    assert s.returncode == 0, s.stdout + s.stderr
    lab.kubectl("apply", "-f", str(fixes))

    after = tmp_path / "after"
    p = lab.sweep(after, "-A", "--scope", "pod", "--intent", INTENT)
    rows = read_rows(after)
    assert rows and all(r["intent_verdict"] == "ok" for r in rows), [r for r in rows if r["intent_verdict"] != "ok"]
    assert all(r["verdict"] == "ok" for r in rows)
    assert p.returncode == 0, p.stdout + p.stderr
    assert read_run(after)["intent"]["verdicts"] == {"ok": len(rows)}
