"""Helpers shared by the lab tests (a uniquely named module: tests/lab/node has its own conftest)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
KUBEREACH = REPO / ".venv" / "bin" / "kubereach"


def pod_manifest(
    name: str, *, labels: dict[str, str] | None = None, containers: list[dict] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "containers": containers or [{"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 8080}]}],
            **spec,
        },
    }


def run_kubereach(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240, input: str | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(KUBEREACH), *args], input=input, capture_output=True, text=True, env=full_env, timeout=timeout
    )


def load_json(text: str) -> Any:
    return json.loads(text)


def fake_daemon_env() -> dict[str, str]:
    """Environment for `kubereach lab ...` with the in-memory node (no root, no kernel state)."""
    here = str(Path(__file__).parent)
    return {
        "KUBEREACH_LAB_NODE_FACTORY": "fake_node:FakePool",
        "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


@dataclass
class RealLab:
    state_dir: Path
    kubeconfig: Path
    home: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(HOME=str(self.home), KUBECONFIG=str(self.kubeconfig))
        return env

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(KUBECTL), *args], input=input, capture_output=True, text=True, env=self.env(), timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


def start_real_lab(tmp: Path, *args: str) -> RealLab:
    """`kubereach lab up ARGS --state-dir TMP/state` with the real node (root only)."""
    if os.geteuid() != 0:
        pytest.skip("the real lab needs root")
    state = tmp / "state"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    proc = run_kubereach("lab", "up", "--state-dir", str(state), *args)
    if proc.returncode != 0:
        run_kubereach("lab", "down", "--state-dir", str(state))
        raise AssertionError(f"lab up failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return RealLab(state, Path(proc.stdout.strip()), home)


def stop_real_lab(lab: RealLab) -> None:
    proc = run_kubereach("lab", "down", "--state-dir", str(lab.state_dir))
    assert proc.returncode == 0, proc.stderr


def connect_from(lab: RealLab, src_ip: str, dst: str, port: int, timeout: float = 2.0) -> str:
    """From inside the pod whose address is ``src_ip`` (its network namespace, found in the
    kernel), connect to ``dst:port`` and return the first line the listener sent (its
    identity JSON), or ``failed: ...``."""
    import sys

    from lab.node.netns import list_netns

    instance = json.loads((lab.state_dir / "instance.json").read_text())["instanceId"]
    script = (
        "import socket,sys\n"
        "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=float(sys.argv[3]))\n"
        "print(s.recv(4096).decode().splitlines()[0])\n"
    )
    for netns in list_netns(f"krl-{instance}-"):
        out = subprocess.run(["ip", "-n", netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout
        if f" {src_ip}/" in out:
            got = subprocess.run(
                ["ip", "netns", "exec", netns, sys.executable, "-c", script, dst, str(port), str(timeout)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            return got.stdout.strip() if got.returncode == 0 else f"failed: {got.stderr.strip()[-200:]}"
    raise AssertionError(f"no namespace holds {src_ip}")
