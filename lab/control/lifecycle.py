"""``lab up``, ``lab down`` and ``lab status``: a lab's life on the client side.

``up`` prepares the state directory (instance id, token, TLS), starts the daemon
(``python -m lab.daemon``) detached in its own session, waits until its API answers,
writes the kubeconfig, applies manifests through the API like any client, and waits
until they have settled. ``down`` stops the daemon (which removes everything its nodes
created), cleans up after a daemon that died, and removes the state directory.
"""

from __future__ import annotations

import http.client
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import config
from lab.api import tls
from lab.config import MAX_NODES, InstanceConfig, LabPaths
from lab.control.apply import apply, wait_settled
from lab.control.client import EXIT_FAILED, EXIT_USAGE, LabAlreadyRunning, LabClient, LabError, resolve
from lab.control.kubeconfig import render_kubeconfig
from lab.control.processes import alive, companion_running, is_our_daemon, log_tail, stop_companions
from lab.manifests import ManifestError, load_all

START_TIMEOUT = 60.0  # seconds for the daemon to bring its nodes and API up
STOP_TIMEOUT = 60.0  # seconds for a clean shutdown (tearing down 200 pods)
DEFAULT_POD_TIMEOUT = 180.0  # seconds for everything `up -f` applied to settle
STATUS_TIMEOUT = 5.0  # `lab status` must answer quickly even if the daemon hangs
DEFAULT_NODE_FACTORY = "lab.node:LabPool"
NODE_FACTORY_ENV = "KUBEREACH_LAB_NODE_FACTORY"  # tests: "fake_node:FakePool" (no root needed)

Progress = Callable[[str], None]
# Called by `up` once the API answers and before any manifest is applied (a client can
# install something the manifests depend on, e.g. admission webhooks); raise LabError.
BeforeApply = Callable[[LabClient, LabPaths], None]


@dataclass
class UpResult:
    state_dir: Path
    kubeconfig: Path
    url: str
    instance_id: str
    pid: int
    applied: list[str] = field(default_factory=list)
    pods_running: int = 0
    skipped: str = ""  # what `-f` skipped, e.g. "skipped 1 document the lab does not apply: 1 Kustomization"
    hints: list[str] = field(default_factory=list)


def _prepare_dir(paths: LabPaths, progress: Progress) -> None:
    root = paths.root
    inst = config.read_json(paths.instance)
    if inst is not None:
        pid = inst.get("pid")
        if is_our_daemon(pid, paths):
            daemon = config.read_json(paths.daemon) or {}
            raise LabAlreadyRunning(
                f"a lab is already running in {root} (instance {inst.get('instanceId')}, "
                f"pid {pid}, API {daemon.get('url', 'starting')}); "
                "`kubereach lab down` stops it"
            )
        progress(f"cleaning up a lab that is no longer running (instance {inst.get('instanceId')})")
        stop_companions(paths, progress=progress)
        _cleanup_dead(paths, inst)
        shutil.rmtree(root, ignore_errors=True)
    elif root.exists() and any(root.iterdir()):
        raise LabError(
            f"{root} is not empty and is not a lab state directory; pass an empty or new directory with --state-dir",
            EXIT_USAGE,
        )
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)


def up(
    *,
    manifests: list[Path] | None = None,
    cni: str = "enforce",
    nodes: int = 1,
    missing_images: Sequence[str] = (),
    state_dir: Path | str | None = None,
    pod_timeout: float = DEFAULT_POD_TIMEOUT,
    progress: Progress = lambda s: None,
    node_factory: str | None = None,
    python: str | None = None,
    before_apply: BeforeApply | None = None,
) -> UpResult:
    if cni not in ("enforce", "none"):
        raise LabError(f"--cni must be enforce or none, not {cni!r}", EXIT_USAGE)
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}", EXIT_USAGE)
    try:
        loaded = load_all(list(manifests or []))
    except ManifestError as exc:
        raise LabError(str(exc), EXIT_USAGE) from None
    for hint in loaded.hints:
        progress(hint)
    if loaded.skipped:
        progress(loaded.summary())
    factory = node_factory or os.environ.get(NODE_FACTORY_ENV) or DEFAULT_NODE_FACTORY
    if factory == DEFAULT_NODE_FACTORY and os.geteuid() != 0:
        raise LabError(
            "the lab needs root: it creates network namespaces, links and iptables rules "
            "(run `sudo kubereach lab up ...`)",
            EXIT_USAGE,
        )
    paths = resolve(state_dir)
    _prepare_dir(paths, progress)
    inst = InstanceConfig(
        config.new_instance_id(), config.new_token(), cni, nodes, tuple(dict.fromkeys(missing_images))
    )
    material = tls.generate()
    config.write_private(paths.ca_cert, material.ca_pem, mode=0o644)
    config.write_private(paths.server_cert, material.cert_pem)
    config.write_private(paths.server_key, material.key_pem)
    record = {**inst.to_dict(), "nodeFactory": factory}
    config.write_json(paths.instance, record)
    progress(f"starting lab {inst.instance_id} ({nodes} node{'s' if nodes != 1 else ''}, cni {cni}) in {paths.root}")
    with open(paths.log, "ab") as logf:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "lab.daemon", "--state-dir", str(paths.root)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    config.write_json(paths.instance, {**record, "pid": proc.pid})
    try:
        daemon = _wait_daemon(paths, proc)
    except LabError:
        # nothing usable is running: leave nothing behind either
        down(state_dir=paths.root)
        raise
    url = daemon["url"]
    config.write_private(paths.kubeconfig, render_kubeconfig(url, inst.token, material.ca_pem))
    client = LabClient(url, inst.token, material.ca_pem)
    result = UpResult(paths.root, paths.kubeconfig, url, inst.instance_id, proc.pid)
    result.skipped, result.hints = loaded.summary(), list(loaded.hints)
    if before_apply is not None:
        try:
            before_apply(client, paths)
        except Exception as exc:
            # a half-prepared lab (say, pods admitted without their webhook) would mislead:
            # leave nothing behind, companions included
            message = str(exc) if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
            try:
                down(state_dir=paths.root)
            except LabError as cleanup:
                message += f"\n(cleaning up failed too: {cleanup})"
            raise LabError(message, getattr(exc, "exit_code", EXIT_FAILED)) from exc
    if loaded.manifests:
        try:
            result.applied = apply(client, loaded.manifests, progress=progress)
            result.pods_running = wait_settled(client, timeout=pod_timeout, progress=progress)
        except LabError as exc:
            exc.args = (
                f"{exc}\n(the lab itself is up: KUBECONFIG={paths.kubeconfig}; "
                f"`kubereach lab down --state-dir {paths.root}` stops it)",
            )
            raise
    return result


def _wait_daemon(paths: LabPaths, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise LabError(
                f"the lab daemon exited with status {code} while starting; "
                f"its log ({paths.log}) ends with:\n{log_tail(paths)}"
            )
        daemon = config.read_json(paths.daemon)
        if daemon and daemon.get("url"):
            return daemon
        time.sleep(0.1)
    raise LabError(
        f"the lab daemon did not answer within {START_TIMEOUT:.0f}s; its log ({paths.log}) "
        f"ends with:\n{log_tail(paths)}"
    )


def _cleanup_dead(paths: LabPaths, inst: dict[str, Any]) -> None:
    """After a daemon that died: remove what its node left, from the instance id alone."""
    factory = str(inst.get("nodeFactory") or DEFAULT_NODE_FACTORY)
    module = importlib.import_module(factory.split(":")[0])
    cleanup = getattr(module, "cleanup_instance", None)
    if cleanup is not None and inst.get("instanceId"):
        cleanup(str(inst["instanceId"]))


def down(*, state_dir: Path | str | None = None, progress: Progress = lambda s: None) -> bool:
    """Stop the lab in ``state_dir``; False if there was none."""
    paths = resolve(state_dir)
    inst = config.read_json(paths.instance)
    if inst is None:
        return False
    pid = inst.get("pid")
    if pid is not None and is_our_daemon(pid, paths):
        progress(f"stopping lab {inst.get('instanceId')} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            progress(f"the daemon did not stop within {STOP_TIMEOUT:.0f}s; killing it")
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
    # always: idempotent, and the only cleanup there is if the daemon died or was killed
    stop_companions(paths, progress=progress)
    try:
        _cleanup_dead(paths, inst)
    except Exception as exc:
        raise LabError(f"cleaning up lab {inst.get('instanceId')} failed: {exc}; state kept in {paths.root}") from exc
    shutil.rmtree(paths.root, ignore_errors=True)
    return True


# -- status, kubeconfig, faults ---------------------------------------------------------------
def status(*, state_dir: Path | str | None = None) -> dict[str, Any]:
    paths = resolve(state_dir)
    inst = config.read_json(paths.instance)
    if inst is None:
        return {"running": False, "stateDir": str(paths.root)}
    daemon = config.read_json(paths.daemon) or {}
    alive = is_our_daemon(inst.get("pid"), paths)
    out: dict[str, Any] = {
        "running": alive,
        "stateDir": str(paths.root),
        "instance": inst.get("instanceId"),
        "cni": inst.get("cni"),
        "pid": inst.get("pid"),
        "url": daemon.get("url"),
        "kubeconfig": str(paths.kubeconfig),
        "companions": [
            {"name": c.name, "pid": c.pid, "running": companion_running(c), "log": c.log}
            for c in config.read_companions(paths)
        ],
    }
    if alive and daemon.get("url"):
        try:
            code, summary = LabClient.for_state_dir(paths, STATUS_TIMEOUT).request("GET", "/lab/v1/status")
            if code == 200 and isinstance(summary, dict):
                out.update(summary)
        except (OSError, http.client.HTTPException) as exc:
            out["error"] = f"the daemon does not answer: {exc}"
    return out
