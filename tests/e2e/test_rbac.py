"""Every API call a sweep (both source modes) and cleanup make is granted by manifests/rbac.yaml."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import ROOT, read_run

pytestmark = pytest.mark.lab


def roles():
    docs = list(yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text()))
    return {d["kind"]: d for d in docs if d}


def granted(role: dict, verb: str, group: str, resource: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and (verb in r["verbs"] or "*" in r["verbs"])
        for r in role["rules"]
    )


def check(calls: list[dict]) -> None:
    rs = roles()
    assert calls
    for c in calls:
        assert granted(rs["ClusterRole"], c["verb"], c["group"], c["resource"]), c
        if c["namespace"] is not None and c["resource"] != "namespaces":
            assert granted(rs["Role"], c["verb"], c["group"], c["resource"]), c


def test_rbac_manifest_grants_no_wildcards_and_no_secrets():
    for kind, role in roles().items():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], (kind, rule)
            assert "secrets" not in rule["resources"]


def test_every_call_of_a_sweep_in_both_modes_is_covered(enforce_lab, tmp_path):
    calls = []
    for i, args in enumerate([["-A"], ["-n", "shop-frontend", "--source-mode", "pod"]]):
        out = tmp_path / f"r{i}"
        p = enforce_lab.sweep(out, *args)
        assert p.returncode in (0, 1), p.stderr
        calls += read_run(out)["api_calls"]["log"]
    seen = {(c["verb"], c["resource"]) for c in calls}
    assert {
        ("patch", "pods/ephemeralcontainers"),
        ("get", "pods/log"),
        ("create", "pods"),
        ("delete", "pods"),
        ("create", "configmaps"),
        ("delete", "configmaps"),
        ("list", "networkpolicies"),
        ("watch", "pods"),
    } <= seen
    check(calls)


def test_every_call_of_cleanup_is_covered(enforce_lab):
    from orchestrator.cluster.kube import load_cluster
    from orchestrator.sweep.deploy import cleanup_leftovers

    with load_cluster(enforce_lab.kubeconfig) as kube:
        cleanup_leftovers(kube, None)
        cleanup_leftovers(kube, ["shop-data"])
        check([c.to_dict() for c in kube.calls])


def test_api_calls_grow_with_sources_not_probes(enforce_lab, tmp_path):
    """Probing 1 port or 30 ports per destination costs the same agent API calls."""
    counts = {}
    for n in (1, 30):
        out = tmp_path / f"p{n}"
        ports = [f"--port={8000 + i}" for i in range(n)]
        p = enforce_lab.sweep(out, "-n", "shop-frontend", *ports, "--settle", "0")
        assert p.returncode in (0, 1), p.stderr
        run = read_run(out)
        by = run["api_calls"]["by_call"]
        counts[n] = (run["probes"], by["patch pods/ephemeralcontainers"], by["get pods/log"])
    assert counts[30][0] == 30 * counts[1][0]
    assert counts[30][1:] == counts[1][1:] == (3, 3)
