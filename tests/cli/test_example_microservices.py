"""``kubereach predict`` on manifests/examples/microservices: known connections, and the
documented mistake (Prometheus cannot scrape the frontend's ``http-metrics`` port)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
EXAMPLE = str(Path(__file__).resolve().parents[2] / "manifests" / "examples" / "microservices")
WORKLOADS = 15  # 13 Deployments, 1 StatefulSet, 1 CronJob
REPLICAS = 3 + 2 + 2 + 2 + 2 + 1 + 1 + 2 + 1 + 2 + 2 + 1 + 1 + 2 + 1  # see the README's table


def predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "kubereach"), "predict", "-f", EXAMPLE, *args], capture_output=True, text=True, timeout=180
    )


def verdicts(out: subprocess.CompletedProcess) -> dict[tuple[str, str, str], dict]:
    assert out.returncode == 0, out.stderr
    return {
        (r["source"], r["destination"], f"{r['port']}/{r['protocol']}"): r
        for r in csv.DictReader(io.StringIO(out.stdout))
    }


@pytest.fixture(scope="module")
def representative():
    return predict("-o", "csv")


@pytest.fixture(scope="module")
def replicas():
    return predict("--replicas", "-o", "csv")


@pytest.mark.parametrize(
    "source,destination,port,verdict,reason",
    [
        (
            "ingress-nginx/ingress-nginx-controller",
            "shop-web/frontend",
            "8080/TCP",
            "allow",
            "shop-web/frontend ingress rule 0",
        ),
        ("shop-web/frontend", "shop-core/catalog", "3550/TCP", "allow", "shop-core/catalog ingress rule 0"),
        ("shop-core/checkout", "shop-core/payment", "50051/TCP", "allow", "shop-core/checkout-only ingress rule 0"),
        ("shop-web/frontend", "shop-core/payment", "50051/TCP", "deny", "isolated by shop-web/allow-dns"),
        ("shop-core/cart", "shop-data/cart-redis", "6379/TCP", "allow", "shop-data/cart-redis ingress rule 0"),
        ("shop-web/frontend", "shop-data/orders-db", "5432/TCP", "deny", "no rule allows it"),
        ("shop-core/nightly-report", "shop-data/orders-db", "5432/TCP", "allow", "shop-core/nightly-report-egress"),
        ("shop-core/recommendation", "shop-core/catalog", "3550/TCP", "allow", "recommendation-egress egress rule 0"),
        ("shop-core/recommendation", "shop-core/payment", "50051/TCP", "deny", "no rule allows it"),
        ("monitoring/prometheus", "shop-core/catalog", "9090/TCP", "allow", "shop-core/allow-prometheus-scrape"),
        ("monitoring/prometheus", "shop-data/orders-db", "9187/TCP", "allow", "shop-data/allow-prometheus-scrape"),
        # the mistake: the policy allows the port *named* metrics, the frontend names it http-metrics
        ("monitoring/prometheus", "shop-web/frontend", "9113/TCP", "deny", "shop-web/allow-prometheus-scrape"),
        ("shop-core/checkout/log-shipper", "shop-core/checkout/checkout", "5050/TCP", "deny", "intra-pod rule 0"),
        ("shop-core/checkout/checkout", "shop-core/checkout/log-shipper", "2020/TCP", "allow", "default"),
    ],
)
def test_known_connections_of_the_shop(representative, source, destination, port, verdict, reason):
    row = verdicts(representative)[(source, destination, port)]
    assert row["verdict"] == verdict and reason in row["reason"], row


def test_every_workload_is_one_row_with_its_kind_and_the_load_summary_says_what_was_made_up(representative):
    rows = verdicts(representative)
    assert len({s for s, _, _ in rows if s.count("/") == 1}) == WORKLOADS
    err = representative.stderr
    assert "15 workloads as one representative pod each: CronJob x1, Deployment x13, StatefulSet x1" in err
    assert "skipped Kustomization x1" in err and "kubectl kustomize" in err
    assert "got one from 198.18.0.0/15" in err
    table = predict()
    assert "shop-data/orders-db [StatefulSet]" in table.stdout and "shop-core/nightly-report [CronJob]" in table.stdout


def test_the_mistake_is_the_only_metrics_port_prometheus_cannot_scrape(representative):
    metrics_ports = {"9090/TCP", "9113/TCP", "9121/TCP", "9187/TCP"}
    scrapes = {
        (d, p): r["verdict"]
        for (s, d, p), r in verdicts(representative).items()
        if s == "monitoring/prometheus" and p in metrics_ports and d.startswith("shop-")
    }
    assert [k for k, v in scrapes.items() if v == "deny"] == [("shop-web/frontend", "9113/TCP")]
    assert len(scrapes) == 12  # every shop workload but the CronJob declares a metrics port


def test_replicas_expand_to_the_declared_counts_and_the_database_replicas_reach_each_other(replicas):
    rows = verdicts(replicas)
    pods = {s for s, _, _ in rows if s.count("/") == 1}
    assert len(pods) == REPLICAS
    assert {"shop-data/orders-db-0", "shop-data/orders-db-1"} <= pods
    assert rows[("shop-data/orders-db-0", "shop-data/orders-db-1", "5432/TCP")]["verdict"] == "allow"
    assert rows[("shop-data/orders-db-1", "shop-data/orders-db-0", "9187/TCP")]["verdict"] == "deny"
    frontends = sorted(p for p in pods if p.startswith("shop-web/frontend-"))
    assert len(frontends) == 3
    assert rows[(frontends[0], frontends[1], "8080/TCP")]["verdict"] == "deny"  # default-deny between replicas
    prometheus = next(p for p in pods if p.startswith("monitoring/prometheus-"))
    assert {rows[(prometheus, f, "9113/TCP")]["verdict"] for f in frontends} == {"deny"}


def test_the_representative_run_notes_which_replicas_cannot_reach_each_other(representative):
    assert "cannot reach one another (Deployment shop-web/frontend on 8080/TCP, 9113/TCP" in representative.stderr


def test_explain_shows_the_scrape_policy_allows_a_port_name_the_frontend_does_not_declare():
    out = subprocess.run(
        [str(BIN / "kubereach"), "explain", "monitoring/prometheus", "shop-web/frontend", "9113", "-f", EXAMPLE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("monitoring/prometheus -> shop-web/frontend on 9113/TCP: DENY")
    assert "shop-web/allow-prometheus-scrape ingress rule 0" in out.stdout and "ports metrics/TCP" in out.stdout
    replica = subprocess.run(
        [str(BIN / "kubereach"), "explain", "shop-data/orders-db-1", "shop-data/orders-db-0", "postgres", "--replicas"]
        + ["-f", EXAMPLE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replica.returncode == 0, replica.stderr
    assert replica.stdout.startswith("shop-data/orders-db-1 -> shop-data/orders-db-0 on 5432/TCP (postgres): ALLOW")
