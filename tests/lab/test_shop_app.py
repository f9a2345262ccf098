"""A multi-service application (tests/lab/fixtures/shop), applied unchanged with kubectl.

On the API lab (three fake nodes, no root): ``kubectl apply -f DIR``, ``rollout status``
of every workload, ``scale``, ``rollout restart``, ``delete -f`` cascading to every pod.
On a real two-node lab (root): ``lab up -f DIR`` waits until everything has rolled
out, and traffic between the services follows the NetworkPolicies across nodes and
through the Services' ClusterIPs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from krl_lab_helpers import connect_from, start_real_lab, stop_real_lab

SHOP = Path(__file__).parent / "fixtures" / "shop"
DEPLOYMENTS = ("frontend", "catalog", "cart", "checkout", "payments", "cache")


def _wait(check, timeout=90.0, what="condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def test_kubectl_apply_scale_restart_and_delete_of_the_shop(api_lab):
    out = api_lab.kubectl("apply", "-f", str(SHOP)).stdout
    assert "deployment.apps/frontend created" in out and "statefulset.apps/db created" in out
    assert (
        "cronjob.batch/nightly-report created" in out and "networkpolicy.networking.k8s.io/default-deny created" in out
    )
    try:
        for name in DEPLOYMENTS:
            api_lab.kubectl("rollout", "status", f"deployment/{name}", "-n", "shop", "--timeout=90s")
        api_lab.kubectl("rollout", "status", "statefulset/db", "-n", "shop", "--timeout=90s")
        api_lab.kubectl("rollout", "status", "daemonset/log-agent", "-n", "shop", "--timeout=90s")
        rows = {
            line.split()[0]: line.split()[1:4]
            for line in api_lab.kubectl("get", "deploy", "-n", "shop").stdout.splitlines()[1:]
        }
        assert rows["catalog"] == ["3/3", "3", "3"] and rows["frontend"] == ["2/2", "2", "2"]
        again = api_lab.kubectl("apply", "-f", str(SHOP)).stdout
        assert "deployment.apps/frontend unchanged" in again

        api_lab.kubectl("scale", "deployment/cart", "-n", "shop", "--replicas=4")
        api_lab.kubectl("rollout", "status", "deployment/cart", "-n", "shop", "--timeout=90s")
        api_lab.kubectl("rollout", "restart", "deployment/frontend", "-n", "shop")
        api_lab.kubectl("rollout", "status", "deployment/frontend", "-n", "shop", "--timeout=90s")

        slices = json.loads(
            api_lab.kubectl(
                "get", "endpointslices", "-n", "shop", "-l", "kubernetes.io/service-name=catalog", "-o", "json"
            ).stdout
        )["items"]
        assert sum(len(s["endpoints"]) for s in slices) == 3 and slices[0]["ports"][0]["port"] == 3550
        db = json.loads(api_lab.kubectl("get", "endpoints", "db", "-n", "shop", "-o", "json").stdout)["subsets"][0][
            "addresses"
        ]
        assert sorted(a["hostname"] for a in db) == ["db-0", "db-1"]  # headless: hostnames for the StatefulSet
    finally:
        api_lab.kubectl("delete", "-f", str(SHOP), "--timeout=120s")
    assert api_lab.kubectl("get", "ns", "shop", check=False).returncode == 1


@pytest.mark.lab
def test_lab_up_runs_the_shop_over_two_nodes_and_policies_hold_across_them(tmp_path):
    lab = start_real_lab(tmp_path, "--nodes", "2", "-f", str(SHOP))
    try:
        pods = json.loads(lab.kubectl("get", "pods", "-n", "shop", "-o", "json").stdout)["items"]
        running = [p for p in pods if p["status"]["phase"] == "Running"]
        assert len(running) == 2 + 3 + 2 + 1 + 2 + 1 + 2 + 2  # deployments, db, one log agent per node
        assert {p["spec"]["nodeName"] for p in running} == {"krl-node-0", "krl-node-1"}

        def ip(app: str) -> str:
            return next(p["status"]["podIP"] for p in running if p["metadata"]["labels"].get("app") == app)

        def svc(name: str) -> str:
            got = json.loads(lab.kubectl("get", "svc", name, "-n", "shop", "-o", "json").stdout)
            return got["spec"]["clusterIP"]

        def reaches(src: str, dst: str, port: int) -> bool:
            return not connect_from(lab, ip(src), dst, port).startswith("failed")

        # what the policies allow, directly and through the Services
        assert reaches("frontend", ip("catalog"), 3550)
        assert reaches("frontend", svc("catalog"), 3550)
        assert reaches("checkout", svc("payments"), 50051)
        assert reaches("catalog", ip("db"), 5432)
        assert reaches("cart", svc("cache"), 6379)
        # and what they do not: frontend may only talk to backends, cart may not call payments,
        # nothing reaches the database but the backends
        assert not reaches("frontend", ip("db"), 5432)
        assert not reaches("cart", svc("payments"), 50051)
        assert not reaches("log-agent", ip("catalog"), 3550)
    finally:
        stop_real_lab(lab)
