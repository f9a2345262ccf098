"""A sweep that stops early still reports; cleanup keeps its promise. The real CLI, the lab.

Each way of stopping — SIGINT, SIGTERM, the deadline, the API server going away, an
agent dying — leaves a results folder with every finished probe measured and every
unfinished one inconclusive with its cause, ``ended`` in run.json and the summary, the
exit status DESIGN.md gives, and nothing of the sweep's left in the cluster (or a line
pointing at ``kubereach cleanup`` when the cluster could not be reached).

The mix: ``--scope pod --to app=postgres --port 5432``. Six sources may reach postgres
(open at once: their agents finish in a moment); redis-0 may not (filtered: its agent
waits out ``--timeout``), so a stop catches the sweep with both kinds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import bulk
from tests.e2e.conftest import KUBEREACH, ROOT, read_rows, read_run, start_lab, stop_lab

pytestmark = pytest.mark.lab

SLOW = "shop-data/redis-0"
FAST_AGENTS = 6  # api-1, api-2, orders-worker, checkout-1, web-1, web-2


def mix_args(lab, out: Path, *extra: str, timeout: str = "60") -> list[str]:
    return [
        KUBEREACH,
        "sweep",
        "--kubeconfig",
        lab.kubeconfig,
        "-A",
        "-o",
        str(out),
        "--scope",
        "pod",
        "--to",
        "app=postgres",
        "--port",
        "5432",
        "--timeout",
        timeout,
        "--retries",
        "0",
        "--settle",
        "0",
        *extra,
    ]


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(what: str, check, timeout: float = 60) -> None:
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def logs_read(lab) -> int:
    """How many agent logs the lab API served so far (the fast agents' results are in)."""
    return int(bulk.traffic(str(lab.state_dir), settled=False)["byCall"].get("get pods/log", 0))


def assert_mix(out: Path, *, cause: str) -> list[dict]:
    rows = read_rows(out)
    slow = [r for r in rows if r["source"] == SLOW]
    fast = [r for r in rows if r["source"] != SLOW]
    assert slow and all(r["verdict"] == "inconclusive" and r["evidence"] == cause.split(":")[0] for r in slow), slow
    assert all(f"not measured: {cause}" in r["reason"] for r in slow), slow
    assert len(fast) == FAST_AGENTS and all(r["verdict"] == "ok" and r["state"] == "open" for r in fast), fast
    return rows


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_keeps_the_finished_probes_writes_the_results_and_cleans_up(enforce_lab, tmp_path, sig):
    out = tmp_path / "r"
    reads = logs_read(enforce_lab)
    proc = start(mix_args(enforce_lab, out, "--source-mode", "pod"))
    try:
        wait_until("the fast agents' results", lambda: logs_read(enforce_lab) - reads >= FAST_AGENTS)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, stderr
    assert f"interrupted by {sig.name}" in stderr and "Traceback" not in stderr
    assert_mix(out, cause=f"interrupted: {sig.name} arrived before this probe's agent finished")
    run = read_run(out)
    assert run["ended"] == f"interrupted ({sig.name})" and run["complete"] is False and run["exit_code"] == 3
    assert f"Ended: interrupted ({sig.name})" in (out / "summary.txt").read_text()
    assert f"Ended: interrupted ({sig.name})" in stdout
    assert run["cleaned"] and run["cleanup_error"] == ""
    assert enforce_lab.kubereach_objects() == []


def test_the_deadline_keeps_the_finished_probes_and_says_it_ended_the_sweep(enforce_lab, tmp_path):
    out = tmp_path / "r"
    started = time.monotonic()
    p = enforce_lab.kr(*mix_args(enforce_lab, out, "--deadline", "8")[1:], timeout=120)
    assert time.monotonic() - started < 40
    assert p.returncode == 3, p.stdout + p.stderr
    assert_mix(out, cause="deadline: the sweep deadline passed before this probe's agent finished")
    run = read_run(out)
    assert run["ended"] == "deadline" and "1 agent(s) unfinished" in run["ended_detail"]
    assert "Ended: deadline: the sweep deadline passed with 1 agent(s) unfinished" in p.stdout
    assert "the sweep ended early (deadline)" in p.stderr
    assert enforce_lab.kubereach_objects() == []


def agent_pids(sweep_id: str, pod: str) -> list[int]:
    """The lab processes running this sweep's agent in ``pod`` (found by their environment)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"KUBEREACH_POD={pod}".encode() in env and any(
            e.startswith(f"KUBEREACH_CONTAINER=kr-{sweep_id}-".encode()) for e in env
        ):
            pids.append(int(entry))
    return pids


def test_an_agent_killed_mid_sweep_is_agent_died_and_the_sweep_goes_on(enforce_lab, tmp_path):
    out = tmp_path / "r"
    proc = start(mix_args(enforce_lab, out, timeout="30"))
    try:
        first = proc.stderr.readline()  # "kubereach: sweep <id>: ephemeral source mode, ..."
        sweep_id = first.split("sweep ", 1)[1].split(":", 1)[0]
        found: list[int] = []
        wait_until("redis-0's agent", lambda: bool(found.extend(agent_pids(sweep_id, "redis-0")) or found))
        for pid in found:
            os.kill(pid, signal.SIGKILL)  # the kernel's OOM killer, say
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, stderr
    assert_mix(out, cause="agent-died: the agent printed no result document (exit code 137")
    run = read_run(out)
    assert run["ended"] == "completed" and run["exit_code"] == 3


def test_request_timeout_0_sweeps_and_ends_its_watches_cleanly(enforce_lab, tmp_path):
    """No per-request timeout (kubectl's 0): watches then last the server's 5 minutes, and
    still the sweep ends as soon as its agents are done."""
    out = tmp_path / "r"
    started = time.monotonic()
    p = enforce_lab.sweep(out, "-n", "shop-frontend", "--request-timeout", "0")
    assert p.returncode == 0, p.stdout + p.stderr
    assert time.monotonic() - started < 60
    assert read_run(out)["options"]["sweep"]["deadline_s"] == 300.0


@pytest.mark.parametrize(
    ("how", "cause"),
    [(signal.SIGKILL, "connection refused"), (signal.SIGSTOP, "timed out")],
    ids=["killed", "hung"],
)
def test_the_api_server_going_away_is_noticed_within_a_few_request_timeouts(tmp_path, how, cause):
    """Killed (connections refused) or hung (connections accepted by the kernel, never
    answered): either way the sweep notices within a few request timeouts (2 s here), not at
    its 300 s deadline, and reports what it measured."""
    lab = start_lab(tmp_path, "enforce")
    daemon = json.loads((lab.state_dir / "instance.json").read_text())["pid"]
    try:
        out = tmp_path / "r"
        proc = start(mix_args(lab, out, "--deadline", "300", "--source-mode", "pod", "--request-timeout", "2s"))
        try:
            wait_until("the fast agents' results", lambda: logs_read(lab) >= FAST_AGENTS)
            os.kill(daemon, how)
            gone = time.monotonic()
            stdout, stderr = proc.communicate(timeout=120)
            noticed = time.monotonic() - gone
        finally:
            if proc.poll() is None:
                proc.kill()
        assert noticed < 45, noticed  # ~ a watch window, its grace and three 2 s tries, and cleanup's
        assert proc.returncode == 3, stderr
        assert "Traceback" not in stderr
        assert_mix(out, cause=f"api-unreachable: {cause}")
        run = read_run(out)
        assert run["ended"] == "api-unreachable" and cause in run["ended_detail"]
        assert run["cleanup_error"].startswith("failed: cannot reach the API server")
        assert "Ended: api-unreachable: cannot reach the API server" in stdout
        assert "run `kubereach cleanup`" in stderr and "run `kubereach cleanup`" in (out / "summary.txt").read_text()
    finally:
        if how == signal.SIGSTOP:
            os.kill(daemon, signal.SIGCONT)  # so that `lab down` can stop it politely
        stop_lab(lab)


def test_cleanup_with_no_namespace_flag_after_kill_9_of_sweep_A_leaves_nothing(enforce_lab, tmp_path):
    """The sweep's owner ConfigMaps in every namespace, its agents running: kill -9. Then
    `kubereach cleanup` with no flag removes everything but the ephemeral containers, whose
    agents exit at their own deadline."""
    reads = logs_read(enforce_lab)
    proc = start(mix_args(enforce_lab, tmp_path / "r", timeout="20"))
    try:
        namespaces = {"shop-frontend", "shop-backend", "shop-data"}

        def owners() -> set[str]:
            return {o.split()[1].split("/")[0] for o in enforce_lab.kubereach_objects() if o.startswith("ConfigMap ")}

        wait_until("an owner ConfigMap in every namespace", lambda: owners() >= namespaces)
        wait_until("the fast agents' results", lambda: logs_read(enforce_lab) - reads >= FAST_AGENTS)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert owners() >= namespaces  # nothing removed them: the sweep died
    p = enforce_lab.kr("cleanup", "--kubeconfig", enforce_lab.kubeconfig)
    assert p.returncode == 0, p.stdout + p.stderr
    for ns in namespaces:
        assert f"deleted configmap {ns}/kubereach-sweep-" in p.stdout
    assert "removed in all namespaces" in p.stdout
    assert enforce_lab.kubereach_objects() == []
