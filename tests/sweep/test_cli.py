"""The sweep CLI through a subprocess: contract columns, exit codes, clear config errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBEREACH = os.path.join(os.path.dirname(sys.executable), "kubereach")


def kr(*args, env=None, cwd=ROOT, timeout=60):
    e = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    e.update(env or {})
    return subprocess.run([KUBEREACH, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)


def test_simulated_sweep_of_the_demo_writes_results_and_exits_0(tmp_path):
    out = tmp_path / "res"
    p = kr("sweep", "--simulate-from", "manifests/demo", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "Exit status 0" in p.stdout and str(out) in p.stdout
    with open(out / "probes.csv") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    assert header[:9] == [
        "source",
        "destination",
        "port",
        "protocol",
        "scope",
        "expected",
        "observed",
        "state",
        "verdict",
    ]
    assert {r[4] for r in rows} == {"pod", "intra-pod"}
    assert {r[8] for r in rows} == {"ok"}
    run = json.loads((out / "run.json").read_text())
    assert run["exit_code"] == 0 and run["probes"] == len(rows)
    assert (out / "summary.txt").read_text() == p.stdout
    assert json.loads((out / "snapshot.json").read_text())["pods"]


def test_quiet_prints_nothing_on_stdout(tmp_path):
    p = kr("sweep", "--simulate-from", "manifests/demo", "-o", str(tmp_path / "r"), "-q")
    assert p.returncode == 0 and p.stdout == ""


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--port", "99999"], "--port"),
        (["--from", "app==(x"], "cannot parse"),
        (["-n", "a", "-A"], "exclude each other"),
        (["--source-mode", "teleport"], "teleport"),
    ],
)
def test_bad_flags_exit_2_with_a_message_and_no_traceback(args, needle, tmp_path):
    p = kr("sweep", "--simulate-from", "manifests/demo", "-o", str(tmp_path / "r"), *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr and "Traceback" not in p.stderr


def test_missing_kubeconfig_file_exits_2(tmp_path):
    p = kr("sweep", "--kubeconfig", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "r"))
    assert p.returncode == 2
    assert "nope.yaml: no such file" in p.stderr and "Traceback" not in p.stderr


def test_garbage_kubeconfig_exits_2(tmp_path):
    cfg = tmp_path / "kc.yaml"
    cfg.write_text("this: [is: not\n")
    p = kr("sweep", "--kubeconfig", str(cfg), "-o", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert "kubeconfig" in p.stderr and "Traceback" not in p.stderr


def write_kubeconfig(path, server="https://127.0.0.1:1"):
    path.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: abc}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u, namespace: shop}}}}]
current-context: lab
""")
    return path


def test_unknown_context_exits_2_and_lists_the_contexts(tmp_path):
    cfg = write_kubeconfig(tmp_path / "kc.yaml")
    p = kr("sweep", "--kubeconfig", str(cfg), "--context", "prod", "-o", str(tmp_path / "r"))
    assert p.returncode == 2
    assert "no context named 'prod'" in p.stderr and "lab" in p.stderr


def test_unreachable_api_server_exits_3_quickly(tmp_path):
    cfg = write_kubeconfig(tmp_path / "kc.yaml")
    p = kr("sweep", "--kubeconfig", str(cfg), "-o", str(tmp_path / "r"), "--request-timeout", "2s")
    assert p.returncode == 3, p.stderr
    assert "cannot reach the API server at https://127.0.0.1:1" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "r").exists()


def test_cleanup_against_an_unreachable_server_exits_3(tmp_path):
    cfg = write_kubeconfig(tmp_path / "kc.yaml")
    p = kr("cleanup", "--kubeconfig", str(cfg), "--request-timeout", "2")
    assert p.returncode == 3 and "cannot reach" in p.stderr


def test_without_o_results_go_to_results_utc_time_and_context_under_the_working_directory(tmp_path):
    import re

    p = kr("sweep", "--simulate-from", os.path.join(ROOT, "manifests/demo"), cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    (made,) = os.listdir(tmp_path / "results")
    assert re.fullmatch(r"\d{8}T\d{6}Z-simulated", made), made
    assert f"Results: results/{made}" in p.stdout
    assert sorted(f for f in os.listdir(tmp_path / "results" / made) if not f.startswith("matrix-")) == [
        "probes.csv",
        "report.html",
        "run.json",
        "snapshot.json",
        "summary.txt",
    ]
