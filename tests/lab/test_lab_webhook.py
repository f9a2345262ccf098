"""`kubereach lab up --webhook`: the intra-pod webhook as a lab companion process.

- With the real node (``lab`` marker, root): the demo comes up with api-1 mutated by the
  webhook, `kubereach sweep -A` through the real CLI measures every intra-pod pair as
  declared (exit 0), and `lab down` leaves no webhook process and no files.
- With the in-memory node (no root): the same wiring (certificates, companion, webhook
  configurations before the manifests) and the generic companion mechanism of
  ``lab.control``: recorded, listed by `lab status`, stopped by `down` also when the
  daemon is gone, never signalled once its pid could belong to someone else.

The run without ``--webhook`` (three intra-pod rows ``unexpected-allow``, exit 1) is
covered by tests/e2e/test_sweep_enforce.py.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from krl_lab_helpers import KUBECTL, REPO, fake_daemon_env, run_kubereach

from lab import config, control
from orchestrator import lab_webhook

DEMO = REPO / "manifests" / "demo"
KUBEREACH = str(Path(sys.executable).parent / "kubereach")


# -- helpers ---------------------------------------------------------------------------------
def _gone(pid: int, timeout: float = 5.0) -> bool:
    """The process has exited (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _kubectl_json(kubeconfig: Path, home: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(HOME=str(home), KUBECONFIG=str(kubeconfig))
    p = subprocess.run([str(KUBECTL), *args, "-o", "json"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _status(state: Path, env: dict[str, str] | None = None) -> dict:
    p = run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env)
    return json.loads(p.stdout)


def _up_webhook(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[Path, subprocess.CompletedProcess]:
    state = tmp_path / "state"
    (tmp_path / "home").mkdir(exist_ok=True)
    p = run_kubereach("lab", "up", "-f", str(DEMO), "--webhook", "--state-dir", str(state), env=env)
    if p.returncode != 0:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)
        pytest.fail(f"lab up --webhook failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return state, p


def _assert_api1_mutated(kubeconfig: Path, home: Path) -> dict:
    pod = _kubectl_json(kubeconfig, home, "get", "pod", "api-1", "-n", "shop-backend")
    assert pod["spec"]["initContainers"][0]["name"] == "kubereach-intrapod"
    assert pod["metadata"]["annotations"]["intrapod.kubereach.io/injected"].startswith("sha256:")
    # pods of namespaces that did not opt in are left alone
    web = _kubectl_json(kubeconfig, home, "get", "pod", "web-1", "-n", "shop-frontend")
    assert not web["spec"].get("initContainers")
    return pod


# -- the real lab ------------------------------------------------------------------------------
@pytest.mark.lab
def test_demo_with_webhook_sweeps_every_intrapod_row_ok_and_down_removes_the_webhook(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the real lab needs root")
    state = tmp_path / "state"
    try:
        state, up = _up_webhook(tmp_path)
        kubeconfig = Path(up.stdout.strip())
        assert "webhook on https://127.0.0.1:" in up.stderr
        info = _status(state)
        (companion,) = info["companions"]
        assert companion["name"] == "webhook" and companion["running"]
        pid = companion["pid"]

        pod = _assert_api1_mutated(kubeconfig, tmp_path / "home")
        (init,) = [s for s in pod["status"]["initContainerStatuses"] if s["name"] == "kubereach-intrapod"]
        assert init["state"]["terminated"]["exitCode"] == 0

        out = tmp_path / "results"
        # the sweep's default timing, as the demo runs it (robust on a busy machine)
        sweep = subprocess.run(
            [KUBEREACH, "sweep", "--kubeconfig", str(kubeconfig), "-A", "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        with open(out / "probes.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        intra = [r for r in rows if r["scope"] == "intra-pod"]
        assert len(intra) == 8 and {r["expected"] for r in intra} == {"allow", "deny"}
        assert all(r["verdict"] == "ok" for r in intra), [r for r in intra if r["verdict"] != "ok"]
        assert {r["state"] for r in intra if r["expected"] == "deny"} <= {"closed", "filtered"}
        assert sweep.returncode == 0, sweep.stdout + sweep.stderr

        down = run_kubereach("lab", "down", "--state-dir", str(state))
        assert down.returncode == 0, down.stderr
        assert "stopping webhook" in down.stderr
        assert _gone(pid), f"webhook pid {pid} still running after lab down"
        assert not state.exists()
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"krl{info['instance']}" not in netns
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state))


# -- the in-memory node (no root) ----------------------------------------------------------------
def test_fake_lab_with_webhook_mutates_the_opted_in_pod_and_lists_the_companion(tmp_path):
    env = fake_daemon_env()
    state = tmp_path / "state"
    try:
        state, up = _up_webhook(tmp_path, env)
        kubeconfig = Path(up.stdout.strip())
        _assert_api1_mutated(kubeconfig, tmp_path / "home")
        configs = _kubectl_json(
            kubeconfig, tmp_path / "home", "get", "mutatingwebhookconfigurations,validatingwebhookconfigurations"
        )
        assert sorted(c["kind"] for c in configs["items"]) == [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ]
        text = run_kubereach("lab", "status", "--state-dir", str(state), env=env).stdout
        assert "webhook:" in text and "(running)" in text and str(state / "webhook.log") in text
        pid = _status(state, env)["companions"][0]["pid"]
        assert (state / "webhook-certs" / "tls.key").stat().st_mode & 0o077 == 0

        down = run_kubereach("lab", "down", "--state-dir", str(state), env=env)
        assert down.returncode == 0, down.stderr
        assert _gone(pid) and not state.exists()
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_without_webhook_the_opt_in_label_is_inert(tmp_path):
    env = fake_daemon_env()
    state = tmp_path / "state"
    (tmp_path / "home").mkdir()
    try:
        up = run_kubereach("lab", "up", "-f", str(DEMO), "--state-dir", str(state), env=env)
        assert up.returncode == 0, up.stderr
        pod = _kubectl_json(Path(up.stdout.strip()), tmp_path / "home", "get", "pod", "api-1", "-n", "shop-backend")
        assert not pod["spec"].get("initContainers")
        assert _status(state, env)["companions"] == []
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_a_failing_before_apply_hook_leaves_nothing_behind(tmp_path, monkeypatch):
    for key, value in fake_daemon_env().items():
        monkeypatch.setenv(key, value)
    state = tmp_path / "state"
    seen = {}

    def hook(client, paths):
        seen["companion"] = control.start_companion(paths.root, "sleeper", ["sleep", "300"])
        raise control.LabError("the webhook did not come up")

    with pytest.raises(control.LabError, match="the webhook did not come up"):
        control.up(manifests=[DEMO], state_dir=state, before_apply=hook)
    assert _gone(seen["companion"].pid) and not state.exists()


# -- the companion mechanism -------------------------------------------------------------------
@pytest.fixture
def dead_lab(tmp_path) -> Path:
    """A state dir whose daemon is gone (no pid): what `down` meets after a crash."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config.write_json(
        config.LabPaths(state).instance, {"instanceId": "c0ffee", "token": "t", "nodeFactory": "fake_node:FakePool"}
    )
    yield state
    control.stop_companions(state)


def test_companions_are_recorded_logged_and_stopped_by_down_after_the_daemon_died(dead_lab):
    c = control.start_companion(dead_lab, "talker", ["sh", "-c", "echo hello from talker; exec sleep 300"])
    assert control.companion_running(c)
    assert [x.name for x in config.read_companions(config.LabPaths(dead_lab))] == ["talker"]
    deadline = time.monotonic() + 5
    while "hello from talker" not in control.companion_log_tail(c) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hello from talker" in control.companion_log_tail(c)
    assert control.status(state_dir=dead_lab)["companions"] == [
        {"name": "talker", "pid": c.pid, "running": True, "log": str(dead_lab / "talker.log")}
    ]
    assert control.down(state_dir=dead_lab)
    assert _gone(c.pid) and not dead_lab.exists()


def test_up_over_a_dead_lab_stops_its_companions_first(dead_lab, monkeypatch):
    for key, value in fake_daemon_env().items():
        monkeypatch.setenv(key, value)
    old = control.start_companion(dead_lab, "leftover", ["sleep", "300"])
    try:
        control.up(state_dir=dead_lab)
        assert _gone(old.pid)
        assert control.status(state_dir=dead_lab)["companions"] == []
    finally:
        control.down(state_dir=dead_lab)


def test_a_companion_whose_pid_was_reused_is_not_signalled(dead_lab):
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        paths = config.LabPaths(dead_lab)
        real = control.start_companion(dead_lab, "mine", ["sleep", "300"])
        # a record of an earlier process that had the bystander's pid: pid reuse
        started = int(Path(f"/proc/{bystander.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        forged = config.Companion("stale", bystander.pid, started - 100_000, ("sleep", "300"), "")
        config.write_companions(paths, [*config.read_companions(paths), forged])
        assert control.stop_companions(dead_lab) == 1
        assert _gone(real.pid)
        assert bystander.poll() is None
        assert not paths.companions.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_companion_names_are_unique_and_need_a_lab(dead_lab, tmp_path):
    control.start_companion(dead_lab, "one", ["sleep", "300"])
    with pytest.raises(control.LabError, match="unique"):
        control.start_companion(dead_lab, "one", ["sleep", "300"])
    with pytest.raises(control.LabError, match="cannot start companion two"):
        control.start_companion(dead_lab, "two", [str(dead_lab / "no-such-program")])
    with pytest.raises(control.LabError, match="no lab"):
        control.start_companion(tmp_path / "nowhere", "x", ["sleep", "300"])


# -- the configurations and the demo's opt-in --------------------------------------------------
def _shipped(name: str) -> dict:
    (doc,) = [d for d in yaml.safe_load_all((REPO / "manifests" / "webhook" / name).read_text()) if d]
    return doc


def test_lab_configurations_are_the_shipped_ones_pointed_at_127_0_0_1():
    mutating, validating = lab_webhook.configurations(4443, "Q0E=")
    for mine, shipped, path in (
        (mutating, _shipped("mutating-webhook.yaml"), "/mutate"),
        (validating, _shipped("validating-webhook.yaml"), "/validate"),
    ):
        assert (mine["kind"], mine["metadata"]["name"]) == (shipped["kind"], shipped["metadata"]["name"])
        (hook,), (want,) = mine["webhooks"], shipped["webhooks"]
        assert hook["clientConfig"] == {"url": f"https://127.0.0.1:4443{path}", "caBundle": "Q0E="}
        assert {k: v for k, v in hook.items() if k != "clientConfig"} == {
            k: v for k, v in want.items() if k != "clientConfig"
        }
        assert hook["failurePolicy"] == "Fail"


def test_the_demo_backend_namespace_opts_in_and_no_policy_selects_on_that_label():
    docs = [d for f in sorted(DEMO.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    labels = {d["metadata"]["name"]: d["metadata"].get("labels", {}) for d in docs if d["kind"] == "Namespace"}
    opted = {ns for ns, lab in labels.items() if lab.get(lab_webhook.OPT_IN_LABEL) == lab_webhook.OPT_IN_VALUE}
    assert opted == {"shop-backend"}
    policies = "\n".join(yaml.safe_dump(d) for d in docs if d["kind"] == "NetworkPolicy")
    assert lab_webhook.OPT_IN_LABEL not in policies
