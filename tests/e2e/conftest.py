"""End-to-end fixtures: a real lab (``kubereach lab up -f manifests/demo/``) per CNI mode,
shared by the tests of a module, and helpers that run the real CLI as a subprocess.

Each lab lives in its own temporary state directory and is torn down with ``lab down``,
which removes every namespace, link, rule and process it created.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KUBEREACH = str(BIN / "kubereach")
KUBECTL = str(BIN / "kubectl")
DEMO = str(ROOT / "manifests" / "demo")
# Fast probes for tests: the lab's pods are local namespaces, a DROP is silence, so
# half a second without retries tells filtered from open reliably.
FAST = ["--timeout", "0.5", "--retries", "0", "--settle", "0.5"]


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces)")


@dataclass
class Lab:
    state_dir: Path
    kubeconfig: str
    cni: str

    def env(self) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        return e

    def kr(self, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KUBEREACH, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=self.env(), **kw
        )

    def sweep(self, out: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.kr("sweep", "--kubeconfig", self.kubeconfig, "-o", str(out), *FAST, *args, timeout=timeout)

    def lab(self, *args: str) -> subprocess.CompletedProcess:
        p = self.kr("lab", *args, "--state-dir", str(self.state_dir), timeout=120)
        assert p.returncode == 0, p.stderr
        return p

    def kubectl(self, *args: str) -> str:
        p = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, *args], capture_output=True, text=True, timeout=60
        )
        assert p.returncode == 0, p.stderr
        return p.stdout

    def kubereach_objects(self) -> list[str]:
        """Every pod and ConfigMap labelled managed-by=kubereach, in any namespace."""
        out = self.kubectl("get", "pods,configmaps", "-A", "-l", "app.kubernetes.io/managed-by=kubereach", "-o", "json")
        return [f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}" for o in json.loads(out)["items"]]


def start_lab(tmp: Path, cni: str, *, webhook: bool = False, manifests: tuple[str, ...] = (DEMO,)) -> Lab:
    """``webhook``: also run the intra-pod admission webhook, so api-1's rules are enforced
    by its init container (the demo's shop-backend namespace opts in). ``manifests``: what
    ``lab up -f`` applies (none: an empty lab)."""
    _need_root()
    state = tmp / f"lab-{cni}"
    p = subprocess.run(
        [
            KUBEREACH,
            "lab",
            "up",
            *(arg for m in manifests for arg in ("-f", m)),
            "--cni",
            cni,
            "--state-dir",
            str(state),
            *(["--webhook"] if webhook else []),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    if p.returncode != 0:
        subprocess.run([KUBEREACH, "lab", "down", "--state-dir", str(state)], capture_output=True, timeout=120)
        pytest.fail(f"lab up failed ({p.returncode}): {p.stderr[-2000:]}")
    kubeconfig = p.stdout.strip().splitlines()[-1]
    assert os.path.isfile(kubeconfig), p.stdout
    return Lab(state, kubeconfig, cni)


def stop_lab(lab: Lab) -> None:
    subprocess.run([KUBEREACH, "lab", "down", "--state-dir", str(lab.state_dir)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def enforce_lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("kr5-e2e"), "enforce", webhook=True)
    yield lab
    stop_lab(lab)


@pytest.fixture(scope="session")
def open_lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("kr5-e2e"), "none")
    yield lab
    stop_lab(lab)


def read_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "probes.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def read_run(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def predicted(lab: Lab, *args: str) -> dict[tuple[str, str, str, str], str]:
    """The model's verdict per (source, destination, port, protocol), from `kubereach predict -f`."""
    p = subprocess.run(
        [KUBEREACH, "predict", "-f", DEMO, "-o", "csv", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert p.returncode == 0, p.stderr
    return {
        (r["source"], r["destination"], r["port"], r["protocol"]): r["verdict"]
        for r in csv.DictReader(p.stdout.splitlines())
    }


__all__ = ["Lab", "read_rows", "read_run", "predicted", "shutil"]
