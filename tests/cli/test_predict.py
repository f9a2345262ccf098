"""``kubereach predict`` and ``kubereach explain`` through the installed console script."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
DEMO = str(Path(__file__).resolve().parents[2] / "manifests" / "demo")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kubereach"), *args], capture_output=True, text=True, timeout=120)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def demo_csv() -> subprocess.CompletedProcess:
    return run("predict", "-f", DEMO, "-o", "csv")


def test_csv_has_exact_columns_and_pod_and_intrapod_rows(demo_csv):
    assert demo_csv.returncode == 0, demo_csv.stderr
    assert demo_csv.stdout.splitlines()[0] == "source,destination,port,protocol,verdict,reason"
    rows = csv_rows(demo_csv.stdout)
    assert {r["verdict"] for r in rows} == {"allow", "deny"}
    pod_rows = [r for r in rows if r["source"].count("/") == 1]
    intra = [r for r in rows if r["source"].count("/") == 2]
    assert pod_rows and intra
    assert all(r["destination"].count("/") == 2 for r in intra)
    assert "loaded 8 pods" in demo_csv.stderr and "loaded" not in demo_csv.stdout


def test_demo_misconfiguration_is_visible(demo_csv):
    rows = {(r["source"], r["destination"], r["port"], r["protocol"]): r for r in csv_rows(demo_csv.stdout)}
    hole = rows[("shop-frontend/web-1", "shop-data/postgres-0", "5432", "TCP")]
    assert hole["verdict"] == "allow" and "ingress: not isolated" in hole["reason"]
    intended = rows[("shop-frontend/web-1", "shop-backend/api-1", "8080", "TCP")]
    assert intended["verdict"] == "allow"
    assert "allowed by shop-backend/allow-api-from-frontend ingress rule 0" in intended["reason"]
    blocked = rows[("shop-frontend/checkout-1", "shop-data/redis-0", "6379", "TCP")]
    assert blocked["verdict"] == "deny" and "isolated by shop-data/redis-ingress" in blocked["reason"]
    intra = rows[("shop-backend/api-1/metrics-exporter", "shop-backend/api-1/app", "8081", "TCP")]
    assert intra["verdict"] == "deny" and intra["reason"] == "intra-pod rule 0 (deny)"


def test_explicit_ports_evaluate_every_destination(tmp_path):
    out = run("predict", "-f", DEMO, "--port", "80/TCP", "--port", "53/udp", "-o", "csv")
    assert out.returncode == 0, out.stderr
    pod_rows = [r for r in csv_rows(out.stdout) if r["source"].count("/") == 1]
    assert len(pod_rows) == 8 * 8 * 2
    assert {(r["port"], r["protocol"]) for r in pod_rows} == {("80", "TCP"), ("53", "UDP")}


def test_json_output_has_rows_and_findings():
    out = run("predict", "-f", DEMO, "-o", "json")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert {"rows", "findings", "isolated"} <= set(doc)
    assert {"source", "destination", "port", "protocol", "verdict", "reason", "scope"} == set(doc["rows"][0])
    assert {r["scope"] for r in doc["rows"]} == {"pod", "intra-pod"}


def test_table_shows_glyph_matrix_and_legend():
    out = run("predict", "-f", DEMO)
    assert out.returncode == 0
    assert "5432/TCP" in out.stdout and "legend" in out.stdout
    assert " X " in out.stdout or "X\n" in out.stdout
    assert "intra-pod shop-backend/api-1" in out.stdout


def test_table_for_many_pods_is_a_summary(tmp_path):
    docs = [f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: ns{i % 3}}}\n"
            f"spec: {{containers: [{{name: c, ports: [{{containerPort: 80}}]}}]}}\n" for i in range(40)]
    docs.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: d, namespace: ns0}\n"
                "spec: {podSelector: {}}\n")
    (tmp_path / "many.yaml").write_text("---\n".join(docs))
    out = run("predict", "-f", str(tmp_path))
    assert out.returncode == 0
    assert "per-namespace summary" in out.stdout and "from namespace" in out.stdout
    assert "isolated pods" in out.stdout and "ns0/d" in out.stdout


def test_bad_manifest_exits_2_with_file_document_object_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
                   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\n"
                   "spec:\n  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {}\n"
                   "        - ipBlock: {cidr: 10.0.0.0/40}\n")
    out = run("predict", "-f", str(bad), "-o", "csv")
    assert out.returncode == 2
    assert out.stdout == ""
    assert str(bad) in out.stderr and "document 2" in out.stderr and "NetworkPolicy a/p" in out.stderr
    assert "spec.ingress[0].from[1].ipBlock.cidr" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("args,message", [
    (("predict", "-f", "/nonexistent/x.yaml"), "no such file"),
    (("predict",), "no manifests given"),
    (("predict", "-f", DEMO, "--port", "http"), "expected PORT or PORT/PROTOCOL"),
    (("predict", "-f", DEMO, "--port", "80/ICMP"), "unknown protocol"),
    (("explain", "shop-frontend/web-1", "shop-data/nope", "80", "-f", DEMO), "no pod 'shop-data/nope'"),
])
def test_usage_errors_exit_2_without_traceback(args, message):
    out = run(*args)
    assert out.returncode == 2, out
    assert message in out.stderr and "Traceback" not in out.stderr


def test_explain_pod_to_pod_names_both_sides_and_rules():
    out = run("explain", "shop-frontend/checkout-1", "shop-data/redis-0", "6379/TCP", "-f", DEMO)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("shop-frontend/checkout-1 -> shop-data/redis-0 on 6379/TCP: DENY")
    assert "egress of shop-frontend/checkout-1: ALLOWED" in text
    assert "allowed by shop-frontend/allow-frontend-egress egress rule 1 (spec.egress[1])" in text
    assert "ingress of shop-data/redis-0: DENIED" in text
    assert "shop-data/redis-ingress ingress rule 0" in text


def test_explain_named_port_and_not_isolated_side():
    out = run("explain", "shop-frontend/web-1", "shop-data/postgres-0", "postgres", "-f", DEMO)
    assert out.returncode == 0, out.stderr
    assert "on 5432/TCP: ALLOW" in out.stdout and "not isolated" in out.stdout


def test_explain_intra_pod():
    out = run("explain", "shop-backend/api-1/metrics-exporter", "shop-backend/api-1/app", "admin", "-f", DEMO)
    assert out.returncode == 0, out.stderr
    assert "8081/TCP: DENY" in out.stdout and "rule 0" in out.stdout
    ok = run("explain", "shop-backend/api-1/sidecar", "shop-backend/api-1/app", "8080/TCP", "-f", DEMO)
    assert "ALLOW" in ok.stdout and "default allow" in ok.stdout


def test_csv_streams_in_chunks_and_quotes_reasons_with_commas():
    from orchestrator.model import Decision
    from orchestrator.reports.predict import iter_csv, render_csv
    from probe.schema import Protocol

    rows = [(f"a/p{i}", "b/q", 80, Protocol.TCP, Decision.DENY, "ingress: isolated by b/x, b/y and no rule allows it")
            for i in range(5)]
    pieces = list(iter_csv(rows, chunk_rows=2))
    assert len(pieces) == 3 and "".join(pieces) == render_csv(rows)
    parsed = csv_rows("".join(pieces))
    assert len(parsed) == 5 and parsed[0]["reason"] == rows[0][5] and parsed[0]["verdict"] == "deny"
