"""Coexistence: the webhook's init container and a mesh-like NAT init container, in either order.

The rules live in kubereach's own chain (filter table, jumped to from OUTPUT for
``-o lo``); a service mesh's init container redirects ports in the nat table. Netfilter
runs nat OUTPUT before filter OUTPUT, so the rules judge the redirected destination, and
neither set of rules removes the other. Run for real in a network namespace, with the
exact command the webhook injects and processes running as the containers' UIDs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from webhook_helpers import make_pod, make_review, patched

from webhook.admission import Mode, Settings, review

pytestmark = pytest.mark.netns

VENV_BIN = Path(sys.executable).parent
APP_UID, SIDECAR_UID = 1000, 1001

# A mesh-like init container: connections to 7777 go to the sidecar's 15000 (like an
# outbound capture port), and 7778 is redirected to the app's 8080, which the rules deny
# for the sidecar: the rules must still hold behind the redirect.
MESH_INIT = [
    ["iptables", "-t", "nat", "-N", "MESH-OUTPUT"],
    [
        "iptables",
        "-t",
        "nat",
        "-A",
        "MESH-OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "7777",
        "-j",
        "REDIRECT",
        "--to-ports",
        "15000",
    ],
    [
        "iptables",
        "-t",
        "nat",
        "-A",
        "MESH-OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "7778",
        "-j",
        "REDIRECT",
        "--to-ports",
        "8080",
    ],
    ["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "MESH-OUTPUT"],
]

CONNECT = r"""
import socket, sys, json
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(2)
    line = s.makefile().readline()
    try:
        who = json.loads(line).get("container")
    except ValueError:
        who = None
    print("open", who)
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", type(e).__name__)
"""


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")


@pytest.fixture
def netns():
    need_root()
    name = f"krwh-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name, procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_ns(ns: str, argv: list[str], *, uid: int | None = None, **kw) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", ns]
    if uid is not None:
        prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return subprocess.run(prefix + argv, capture_output=True, text=True, timeout=30, **kw)


def start_listener(ns: str, procs: list, uid: int, container: str, port: int) -> None:
    env = {**os.environ, "KUBEREACH_NAMESPACE": "shop", "KUBEREACH_POD": "web", "KUBEREACH_CONTAINER": container}
    procs.append(
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                str(VENV_BIN / "kubereach-probe"),
                "serve",
                "--tcp",
                str(port),
                "--bind",
                "127.0.0.1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    for _ in range(100):
        if f":{port} " in in_ns(ns, ["ss", "-Htln"]).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"listener on {port} did not start")


def connect(ns: str, uid: int, port: int) -> str:
    return in_ns(ns, [sys.executable, "-c", CONNECT, str(port)], uid=uid).stdout.strip()


def webhook_init_command(tmp_path: Path) -> list[str]:
    """The injected command, with its config file where the downward-API volume would put it."""
    pod = make_pod()  # sidecar -> app 8080 denied, default allow
    final = patched(pod, review(make_review(pod), Mode.MUTATE, Settings()))
    cmd = final["spec"]["initContainers"][0]["command"]
    assert cmd[0] == "kubereach-probe" and cmd[3] == "--config-file"
    config = tmp_path / "config"
    config.write_text(final["metadata"]["annotations"]["intrapod.kubereach.io/config"])
    return [str(VENV_BIN / "kubereach-probe"), *cmd[1:4], str(config)]


@pytest.mark.parametrize("order", ["mesh-first", "kubereach-first"])
def test_rules_and_a_mesh_redirect_both_hold_in_either_order(netns, order, tmp_path):
    ns, procs = netns
    kubereach_init = webhook_init_command(tmp_path)
    steps = [*MESH_INIT, kubereach_init] if order == "mesh-first" else [kubereach_init, *MESH_INIT]
    start_listener(ns, procs, APP_UID, "app", 8080)
    start_listener(ns, procs, SIDECAR_UID, "sidecar", 15000)
    assert connect(ns, SIDECAR_UID, 8080) == "open app"  # before any rule: open
    assert connect(ns, APP_UID, 7777) == "refused"  # before the redirect: nothing there
    for argv in steps:
        r = in_ns(ns, argv)
        assert r.returncode == 0, (argv, r.stderr)

    # The agent's own check agrees the rules landed as the injected config says.
    check = in_ns(ns, [kubereach_init[0], "intrapod", "check", *kubereach_init[3:]])
    assert check.returncode == 0, check.stdout + check.stderr
    assert connect(ns, SIDECAR_UID, 8080) == "refused"  # the rule: sidecar -> app 8080 deny
    assert connect(ns, APP_UID, 15000) == "open sidecar"  # default allow
    assert connect(ns, APP_UID, 7777) == "open sidecar"  # the mesh redirect still works
    assert connect(ns, SIDECAR_UID, 7778) == "refused"  # the rule holds behind the redirect

    # Re-running the init container (a pod restart) keeps the mesh's rules and one jump.
    assert in_ns(ns, kubereach_init).returncode == 0
    nat = in_ns(ns, ["iptables", "-t", "nat", "-S"]).stdout
    assert "-A OUTPUT -p tcp -j MESH-OUTPUT" in nat and "--to-ports 15000" in nat
    filt = in_ns(ns, ["iptables", "-S", "OUTPUT"]).stdout
    assert filt.count("-j KUBEREACH-INTRAPOD") == 1
    assert connect(ns, APP_UID, 7777) == "open sidecar"
    assert connect(ns, SIDECAR_UID, 8080) == "refused"
