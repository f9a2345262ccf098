"""A lab whose CNI ignores NetworkPolicies: the sweep flags every cell the model denies."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import read_rows

pytestmark = pytest.mark.lab


def test_unexpected_allow_exactly_where_the_model_says_deny(open_lab, tmp_path):
    out = tmp_path / "r"
    p = open_lab.sweep(out, "-A")
    assert p.returncode == 1, p.stderr
    rows = read_rows(out)
    pod_rows = [r for r in rows if r["scope"] == "pod"]
    assert {r["expected"] for r in pod_rows} == {"allow", "deny"}
    for r in pod_rows:
        want = "unexpected-allow" if r["expected"] == "deny" else "ok"
        assert r["verdict"] == want, r
        assert r["observed"] == "allow"
    for r in rows:
        if r["verdict"] == "unexpected-allow":
            assert r["confirmed"] == "yes", r
    # no webhook in this lab, so no init container applied api-1's intra-pod rules:
    # exactly the pairs the rules deny are reachable
    intra = [r for r in rows if r["scope"] == "intra-pod"]
    assert intra and {r["expected"] for r in intra} == {"allow", "deny"}
    for r in intra:
        assert r["verdict"] == ("unexpected-allow" if r["expected"] == "deny" else "ok"), r
    assert open_lab.kubereach_objects() == []


def test_pod_mode_sees_the_same_holes(open_lab, tmp_path):
    out = tmp_path / "r"
    p = open_lab.sweep(out, "-A", "--source-mode", "pod", "--settle", "0")
    assert p.returncode == 1, p.stderr
    rows = read_rows(out)
    assert rows
    for r in rows:
        assert r["verdict"] == ("unexpected-allow" if r["expected"] == "deny" else "ok"), r
        assert r["confirmed"] in ("", "not-reprobed")
    assert open_lab.kubereach_objects() == []
