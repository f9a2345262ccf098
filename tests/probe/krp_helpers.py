"""Fixtures for the probe tests: network namespaces joined by veth, listeners, cleanup.

Every namespace and link is named ``kra3-...`` (links ``kra3<6 hex><a|b>``), removed on
teardown, and the teardown asserts that nothing with its name is left behind.
Addresses are documentation ranges and exist only inside the namespaces.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PROBE = [PYTHON, "-m", "probe.cli"]

A_V4, B_V4, B_V4_EXTRA = "192.0.2.1", "192.0.2.2", "192.0.2.3"
A_V6, B_V6 = "2001:db8:77::1", "2001:db8:77::2"
NOWHERE_NET, NOWHERE = "198.51.100.0/24", "198.51.100.7"


def sh(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def in_ns(ns: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def netns_names() -> set[str]:
    out = sh("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_names() -> set[str]:
    out = sh("ip", "-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def have_root_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("iptables") is not None


needs_netns = pytest.mark.skipif(not have_root_netns(), reason="needs root, iproute2 and iptables")


def probe_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class Listener:
    proc: subprocess.Popen

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_listener(
    ns: str, *args: str, identity: tuple[str, str, str] = ("ns", "pod", "c"), user: int | None = None
) -> Listener:
    env = probe_env()
    env.update(KUBEREACH_NAMESPACE=identity[0], KUBEREACH_POD=identity[1], KUBEREACH_CONTAINER=identity[2])
    prefix = ["ip", "netns", "exec", ns]
    if user is not None:
        prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    proc = subprocess.Popen(
        prefix + PROBE + ["serve", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
        cwd=REPO,
    )
    line = proc.stderr.readline()  # "listening on ..." once every socket is bound
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"listener did not start: {line}{proc.stderr.read()}")
    return Listener(proc)


def run_probe(ns: str, spec: dict, *, prefix: tuple[str, ...] = (), timeout: float = 60) -> dict:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *prefix, *PROBE, "run"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=probe_env(),
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spec_of(targets: list[dict], **kw) -> dict:
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "id": "t",
        "deadline_s": 30,
        "concurrency": 64,
        "timeout_s": 0.4,
        "retries": 1,
        "targets": targets,
    }
    spec.update(kw)
    return spec


@dataclass
class NetPair:
    """Namespace ``a`` (the prober) and ``b`` (the target), joined by one veth pair."""

    a: str
    b: str
    links: tuple[str, str]
    listeners: list[Listener] = field(default_factory=list)


def _create_pair() -> NetPair:
    tag = secrets.token_hex(3)
    a, b = f"kra3-a-{tag}", f"kra3-b-{tag}"
    la, lb = f"kra3{tag}a", f"kra3{tag}b"
    pair = NetPair(a, b, (la, lb))
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    sh("ip", "link", "add", la, "netns", a, "type", "veth", "peer", "name", lb, "netns", b)
    for ns, link, v4, v6 in ((a, la, A_V4, A_V6), (b, lb, B_V4, B_V6)):
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "addr", "add", f"{v4}/24", "dev", link)
        in_ns(ns, "ip", "-6", "addr", "add", f"{v6}/64", "dev", link, "nodad")
        in_ns(ns, "ip", "link", "set", link, "up")
    in_ns(b, "ip", "addr", "add", f"{B_V4_EXTRA}/24", "dev", lb)
    in_ns(a, "ip", "route", "add", "unreachable", NOWHERE_NET)
    return pair


def _destroy_pair(pair: NetPair) -> None:
    for listener in pair.listeners:
        listener.stop()
    for ns in (pair.a, pair.b):
        sh("ip", "netns", "del", ns, check=False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not ({pair.a, pair.b} & netns_names()) and not (set(pair.links) & link_names()):
            break
        time.sleep(0.05)
    assert not ({pair.a, pair.b} & netns_names()), "namespace left behind"
    assert not (set(pair.links) & link_names()), "veth left behind in the root namespace"


@pytest.fixture(scope="module")
def netpair():
    if not have_root_netns():
        pytest.skip("needs root, iproute2 and iptables")
    pair = _create_pair()
    try:
        yield pair
    finally:
        _destroy_pair(pair)


@pytest.fixture
def single_ns():
    """One namespace with lo up and a 'pod IP' on a link (v4 and v6), like a pod's eth0.

    The link is a veth whose both ends stay inside the namespace (no dummy module here).
    """
    if not have_root_netns():
        pytest.skip("needs root, iproute2 and iptables")
    ns = f"kra3-i-{secrets.token_hex(3)}"
    sh("ip", "netns", "add", ns)
    try:
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "add", "kra3-eth0", "type", "veth", "peer", "name", "kra3-eth0p")
        in_ns(ns, "ip", "addr", "add", "192.0.2.10/24", "dev", "kra3-eth0")
        in_ns(ns, "ip", "-6", "addr", "add", "2001:db8:10::10/64", "dev", "kra3-eth0", "nodad")
        in_ns(ns, "ip", "link", "set", "kra3-eth0p", "up")
        in_ns(ns, "ip", "link", "set", "kra3-eth0", "up")
        yield ns
    finally:
        sh("ip", "netns", "del", ns, check=False)
        assert ns not in netns_names(), "namespace left behind"
