"""What a sweep publishes besides its CSVs, through the real CLI (simulated runner, no cluster):
report.html in every folder, --baseline latest, --metrics-file, --format json, and
``kubereach report``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestrator.reports.html import extract_island

ROOT = Path(__file__).resolve().parents[2]
KUBEREACH = str(Path(sys.executable).parent / "kubereach")
DEMO = ROOT / "manifests" / "demo"


def kr(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([KUBEREACH, *args], capture_output=True, text=True, timeout=180, cwd=cwd)


def test_every_results_folder_gets_its_report(tmp_path):
    p = kr("sweep", "--simulate-from", str(DEMO), "-o", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    data = extract_island((tmp_path / "r" / "report.html").read_text())
    assert data["rows"]["count"] == 85 and data["run"]["exit_code"] == 0
    assert {h["port"] for h in data["heatmaps"]} and data["drift"] is None


def test_baseline_latest_metrics_file_and_json_format_on_a_changed_cluster(tmp_path):
    runs = tmp_path / "runs"
    p = kr("sweep", "--simulate-from", str(DEMO), "-o", str(runs / "1-before"))
    assert p.returncode == 0, p.stderr
    # the data tier is gone in the second run: its cells disappear
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    os.unlink(changed / "30-data-pods.yaml")
    metrics = tmp_path / "kubereach.prom"
    p = kr(
        "sweep",
        "--simulate-from",
        str(changed),
        "-o",
        str(runs / "2-after"),
        "--baseline",
        "latest",
        "--metrics-file",
        str(metrics),
        "--format",
        "json",
    )
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)  # stdout is the JSON document and nothing else
    drift = body["summary"]["drift"]
    assert drift["baseline"] == str(runs / "1-before")
    assert drift["counts"]["disappeared"] > 0 and drift["counts"]["opened"] == 0
    assert len(body["rows"]) == body["summary"]["probes"] and isinstance(body["rows"][0]["port"], int)
    assert body["summary"]["results_dir"] == str(runs / "2-after") and body["summary"]["exit_code"] == 0
    folder = runs / "2-after"
    assert (folder / "drift.csv").read_text().startswith("source,destination,port,protocol,scope,change,old,new\n")
    run = json.loads((folder / "run.json").read_text())
    assert run["baseline"]["counts"] == drift["counts"]
    summary = (folder / "summary.txt").read_text()
    assert f"Drift since {runs / '1-before'}: {drift['counts']['disappeared']} disappeared" in summary
    data = extract_island((folder / "report.html").read_text())
    assert data["drift"]["disappeared_total"] == drift["counts"]["disappeared"]
    text = metrics.read_text()
    assert f'kubereach_sweep_drift_cells{{change="disappeared"}} {float(drift["counts"]["disappeared"])}' in text


def test_report_rebuilds_a_folder_and_writes_where_asked(tmp_path):
    assert kr("sweep", "--simulate-from", str(DEMO), "-o", str(tmp_path / "r"), "-q").returncode == 0
    os.unlink(tmp_path / "r" / "report.html")
    p = kr("report", str(tmp_path / "r"))
    assert p.returncode == 0 and p.stdout.strip() == str(tmp_path / "r" / "report.html")
    assert (tmp_path / "r" / "report.html").exists()
    p = kr("report", str(tmp_path / "r"), "-o", str(tmp_path / "elsewhere.html"))
    assert p.returncode == 0 and (tmp_path / "elsewhere.html").read_text().startswith("<!doctype html>")
    p = kr("report", str(tmp_path / "r"), "-o", "-")
    assert p.stdout.startswith("<!doctype html>")
    p = kr("report", str(tmp_path))
    assert p.returncode == 2 and "not a kubereach results folder" in p.stderr and "Traceback" not in p.stderr


def test_a_wrong_baseline_or_metrics_path_is_refused_before_sweeping(tmp_path):
    p = kr("sweep", "--simulate-from", str(DEMO), "-o", str(tmp_path / "r"), "--baseline", str(tmp_path))
    assert p.returncode == 2 and "not a kubereach results folder" in p.stderr
    p = kr(
        "sweep", "--simulate-from", str(DEMO), "-o", str(tmp_path / "r"), "--metrics-file", str(tmp_path / "x" / "m")
    )
    assert p.returncode == 2 and "does not exist" in p.stderr
    assert not (tmp_path / "r").exists()


def test_a_baseline_that_cannot_be_read_does_not_cost_the_sweep_its_result(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "probes.csv").write_text("source,destination\n")
    p = kr("sweep", "--simulate-from", str(DEMO), "-o", str(tmp_path / "r"), "--baseline", str(broken))
    assert p.returncode == 0, p.stderr
    assert "cannot compare with the baseline, no drift reported" in p.stderr and "missing column(s)" in p.stderr
    assert (tmp_path / "r" / "report.html").exists() and not (tmp_path / "r" / "drift.csv").exists()
