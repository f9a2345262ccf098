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
    assert not [r for r in csv_rows(out.stdout) if r["source"].count("/") == 2]  # no container declares them


def test_explicit_ports_also_restrict_intrapod_rows(demo_csv):
    out = run("predict", "-f", DEMO, "--port", "8081/TCP", "-o", "csv")
    assert out.returncode == 0, out.stderr
    rows = csv_rows(out.stdout)
    intra = [r for r in rows if r["source"].count("/") == 2]
    assert {(r["port"], r["protocol"]) for r in rows} == {("8081", "TCP")}
    every = [r for r in csv_rows(demo_csv.stdout) if r["source"].count("/") == 2 and r["port"] == "8081"]
    assert intra == every and intra


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
    docs = [
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: ns{i % 3}}}\n"
        f"spec: {{containers: [{{name: c, ports: [{{containerPort: 80}}]}}]}}\n"
        for i in range(40)
    ]
    docs.append(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: d, namespace: ns0}\n"
        "spec: {podSelector: {}}\n"
    )
    (tmp_path / "many.yaml").write_text("---\n".join(docs))
    out = run("predict", "-f", str(tmp_path))
    assert out.returncode == 0
    assert "per-namespace summary" in out.stdout and "from namespace" in out.stdout
    assert "isolated pods" in out.stdout and "ns0/d" in out.stdout


def test_bad_manifest_exits_2_with_file_document_object_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\n"
        "spec:\n  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {}\n"
        "        - ipBlock: {cidr: 10.0.0.0/40}\n"
    )
    out = run("predict", "-f", str(bad), "-o", "csv")
    assert out.returncode == 2
    assert out.stdout == ""
    assert str(bad) in out.stderr and "document 2" in out.stderr and "NetworkPolicy a/p" in out.stderr
    assert "spec.ingress[0].from[1].ipBlock.cidr" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (("predict", "-f", "/nonexistent/x.yaml"), "no such file"),
        (("predict",), "no manifests given"),
        (("predict", "-f", DEMO, "--port", "http"), "expected PORT or PORT/PROTOCOL"),
        (("predict", "-f", DEMO, "--port", "80/ICMP"), "unknown protocol"),
        (("explain", "shop-frontend/web-1", "shop-data/nope", "80", "-f", DEMO), "no pod 'shop-data/nope'"),
        (
            ("explain", "shop-frontend/web-1", "shop-backend/api-1", "http/XYZ", "-f", DEMO),
            "port 'http/XYZ': unknown protocol 'XYZ'",
        ),
        (
            ("explain", "shop-frontend/web-1", "shop-backend/api-1", "99999", "-f", DEMO),
            "port '99999': port out of range",
        ),
        (
            ("explain", "shop-frontend/web-1", "shop-backend/api-1", "grpc", "-f", DEMO),
            "pod shop-backend/api-1 declares no TCP port named 'grpc'",
        ),
        (("predict", "-f", DEMO, "-o", "yaml"), "'yaml' is not one of"),
    ],
)
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
    assert "on 5432/TCP (postgres): ALLOW" in out.stdout and "not isolated" in out.stdout


def test_explain_denied_side_lists_every_rule_and_policies_without_rules():
    out = run("explain", "shop-frontend/web-1", "shop-backend/api-2", "9999/udp", "-f", DEMO)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("shop-frontend/web-1 -> shop-backend/api-2 on 9999/UDP: DENY\n")
    assert "egress of shop-frontend/web-1: DENIED" in text and "ingress of shop-backend/api-2: DENIED" in text
    assert "shop-frontend/default-deny: no egress rules (it isolates the pod and allows nothing)" in text
    assert "shop-frontend/allow-frontend-egress egress rule 1: to [namespaceSelector team=data]; any port" in text


def test_deeply_nested_manifest_is_a_clean_usage_error(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 20000 + "]" * 20000 + "\n")
    out = run("predict", "-f", str(deep))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{deep}, document 1: nested too deeply" in out.stderr


def test_help_texts_say_what_the_commands_take_and_print():
    predict_help = run("predict", "--help").stdout
    assert "Examples:" in predict_help and "namespace/pod/container" in predict_help
    assert "source, destination, port, protocol, verdict, reason" in " ".join(predict_help.split())
    explain_help = run("explain", "--help").stdout
    assert "SRC DST PORT/PROTO" in explain_help and "port name" in explain_help and "Examples:" in explain_help


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

    rows = [
        (f"a/p{i}", "b/q", 80, Protocol.TCP, Decision.DENY, "ingress: isolated by b/x, b/y and no rule allows it")
        for i in range(5)
    ]
    pieces = list(iter_csv(rows, chunk_rows=2))
    assert len(pieces) == 3 and "".join(pieces) == render_csv(rows)
    parsed = csv_rows("".join(pieces))
    assert len(parsed) == 5 and parsed[0]["reason"] == rows[0][5] and parsed[0]["verdict"] == "deny"


HOST_AND_PENDING = """
apiVersion: v1
kind: Pod
metadata: {name: node-agent, namespace: x, labels: {app: agent}}
spec: {hostNetwork: true, containers: [{name: c, ports: [{containerPort: 9100, name: metrics}]}]}
status: {podIP: 172.18.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: x, labels: {app: client}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 80, name: http}]}]}
status: {podIP: 10.0.0.5}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}, {podSelector: {}}]}]
"""


def test_explain_says_why_a_pod_without_ip_or_on_the_host_network_is_not_matched(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(HOST_AND_PENDING)
    pending = run("explain", "x/pending", "x/web", "http", "-f", str(path))
    assert pending.returncode == 0, pending.stderr
    assert pending.stdout.startswith("x/pending -> x/web on 80/TCP (http): ALLOW")  # podSelector {} matches it
    host = run("explain", "x/node-agent", "x/web", "80", "-f", str(path))
    assert host.stdout.startswith("x/node-agent -> x/web on 80/TCP: DENY")
    assert "egress of x/node-agent: ALLOWED - a host-network pod" in host.stdout
    assert "note: the source is a host-network pod: pod and namespace selectors never match it" in host.stdout
    back = run("explain", "x/web", "x/node-agent", "metrics", "-f", str(path))
    assert "ingress of x/node-agent: ALLOWED - a host-network pod" in back.stdout and ": ALLOW" in back.stdout
    rows = csv_rows(run("predict", "-f", str(path), "-o", "csv").stdout)
    assert {(r["source"], r["destination"], r["verdict"]) for r in rows if r["port"] == "80"} == {
        ("x/node-agent", "x/web", "deny"),
        ("x/pending", "x/web", "allow"),
        ("x/web", "x/web", "allow"),
    }


def test_explain_port_name_declared_for_one_protocol_needs_no_protocol(tmp_path):
    path = tmp_path / "dns.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: dns, namespace: x}\n"
        "spec: {containers: [{name: c, ports: [{containerPort: 53, name: dns, protocol: UDP}]}]}\n"
        "status: {podIP: 10.0.0.9}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: cli, namespace: x}\nspec: {containers: [{name: c}]}\n"
    )
    assert run("explain", "x/cli", "x/dns", "dns", "-f", str(path)).stdout.startswith(
        "x/cli -> x/dns on 53/UDP (dns): ALLOW"
    )
    wrong = run("explain", "x/cli", "x/dns", "dns/TCP", "-f", str(path))
    assert wrong.returncode == 2 and "declares no TCP port named 'dns'" in wrong.stderr


def test_dash_reads_manifests_from_stdin_like_kubectl(demo_csv):
    docs = "".join("---\n" + p.read_text() for p in sorted(Path(DEMO).glob("*.yaml")))
    out = subprocess.run(
        [str(BIN / "kubereach"), "predict", "-f", "-", "-o", "csv"],
        input=docs,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == demo_csv.stdout
    bad = subprocess.run(
        [str(BIN / "kubereach"), "predict", "-f", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        input='{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": 3}}',
    )
    assert bad.returncode == 2 and "<stdin>, document 1, Pod default/p, field spec.containers" in bad.stderr
