"""Intra-pod rules enforced for real: one namespace, containers as processes with UIDs.

app (UID 1001) serves 8080/TCP and 9090/UDP, sidecar (UID 1002) serves 9000/TCP,
logger (UID 1003) serves nothing. Every container probes every other container's
ports over 127.0.0.1, ::1 and the pod's own IPv4 and IPv6 address; what passes must be
exactly what ``expected_pairs`` says.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from krp_helpers import PROBE, REPO, in_ns, probe_env, run_probe, spec_of, start_listener

from probe.intrapod_rules import Action, ContainerInfo, PortRef, expected_pairs, parse_rules
from probe.schema import Protocol

pytestmark = pytest.mark.netns

RULES = {
    "default": "allow",
    "rules": [
        {"from": "sidecar", "to": "app", "ports": [8080], "action": "deny"},
        {"from": "*", "to": "sidecar", "action": "deny"},
        {"from": "logger", "to": "app", "ports": ["9090/UDP"], "action": "deny"},
    ],
}
CONTAINERS = [
    {"name": "app", "uid": 1001, "ports": ["8080/TCP", "9090/UDP"]},
    {"name": "sidecar", "uid": 1002, "ports": ["9000/TCP"]},
    {"name": "logger", "uid": 1003, "ports": []},
]
CONFIG = {"rules": RULES, "containers": CONTAINERS}
ADDRESSES = ["127.0.0.1", "::1", "192.0.2.10", "2001:db8:10::10"]


def intrapod(ns: str, action: str, *extra: str, config: dict = CONFIG) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *PROBE, "intrapod", action, "--config", json.dumps(config), *extra],
        capture_output=True,
        text=True,
        env=probe_env(),
        timeout=60,
        cwd=REPO,
    )


def other_rules(ns: str) -> dict[str, list[str]]:
    """iptables-save of both families without our chain, counters or comments."""
    out = {}
    for save in ("iptables-save", "ip6tables-save"):
        text = in_ns(ns, save).stdout
        out[save] = [
            line
            for line in text.splitlines()
            if not line.startswith("#") and not re.search(r"(^:| )KUBEREACH-INTRAPOD( |$)", line)
        ]
    return out


@pytest.fixture
def pod(single_ns):
    ns = single_ns
    # somebody else's rules that must survive: a mesh-like chain and a NAT redirect
    for cmd in ("iptables", "ip6tables"):
        in_ns(ns, cmd, "-N", "MESH-OUTPUT")
        in_ns(ns, cmd, "-A", "OUTPUT", "-j", "MESH-OUTPUT")
        in_ns(ns, cmd, "-A", "MESH-OUTPUT", "-p", "tcp", "--dport", "15000", "-j", "RETURN")
        in_ns(
            ns,
            cmd,
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--dport",
            "15001",
            "-j",
            "REDIRECT",
            "--to-ports",
            "15006",
        )
        in_ns(ns, cmd, "-t", "mangle", "-A", "OUTPUT", "-o", "lo", "-j", "MARK", "--set-mark", "7")
        in_ns(ns, cmd, "-A", "INPUT", "-i", "lo", "-p", "tcp", "--dport", "15020", "-j", "ACCEPT")
        in_ns(ns, cmd, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "15021", "-j", "DROP")
        # a neighbour whose name starts like ours, jumped to exactly like ours
        in_ns(ns, cmd, "-N", "KUBEREACH-INTRAPOD-MESH")
        in_ns(ns, cmd, "-A", "OUTPUT", "-o", "lo", "-j", "KUBEREACH-INTRAPOD-MESH")
    listeners = [
        start_listener(ns, "--tcp", "8080", "--udp", "9090", identity=("ns", "pod", "app"), user=1001),
        start_listener(ns, "--tcp", "9000", identity=("ns", "pod", "sidecar"), user=1002),
    ]
    try:
        yield ns
    finally:
        for listener in listeners:
            listener.stop()


def test_apply_enforces_the_declared_pairs_over_every_local_address(pod):
    before = other_rules(pod)
    for _ in range(2):
        proc = intrapod(pod, "apply")
        assert proc.returncode == 0, proc.stderr
    assert other_rules(pod) == before, "apply touched rules that are not its own"
    for cmd in ("iptables", "ip6tables"):
        jumps = [r for r in in_ns(pod, cmd, "-S", "OUTPUT").stdout.splitlines() if r.endswith(" KUBEREACH-INTRAPOD")]
        assert jumps == ["-A OUTPUT -o lo -j KUBEREACH-INTRAPOD"]
        chain = in_ns(pod, cmd, "-S", "KUBEREACH-INTRAPOD").stdout.splitlines()
        assert len(chain) == 1 + 4  # -N plus one copy of the four denies

    infos = [
        ContainerInfo(
            c["name"], c["uid"], tuple(PortRef(int(p.split("/")[0]), Protocol(p.split("/")[1])) for p in c["ports"])
        )
        for c in CONTAINERS
    ]
    rules = parse_rules(RULES, {c.name: c for c in infos})
    uids = {c.name: c.uid for c in infos}
    by_source: dict[str, list] = {}
    for exp in expected_pairs(rules, infos):
        by_source.setdefault(exp.source, []).append(exp)
    checked = 0
    for source, expectations in by_source.items():
        targets = [
            {"id": f"{e.target}:{e.port}@{a}", "address": a, "port": e.port.port, "protocol": e.port.protocol.value}
            for e in expectations
            for a in ADDRESSES
        ]
        doc = run_probe(
            pod,
            spec_of(targets, timeout_s=1.0, retries=0),
            prefix=("setpriv", f"--reuid={uids[source]}", f"--regid={uids[source]}", "--clear-groups"),
        )
        results = iter(doc["results"])
        for e in expectations:
            for _address in ADDRESSES:
                r = next(results)
                where = f"{source} -> {r['id']}: {r['state']} {r['evidence']}"
                if e.decision.action == Action.ALLOW:
                    assert r["state"] == "open", where
                    assert r["identity"]["container"] == e.target, where
                else:
                    # blocked pairs fail fast: RST / ICMP port unreachable from REJECT
                    assert r["state"] == "closed", where
                    assert r["latency_ms"] < 200, where
                checked += 1
    assert checked == 4 * 6  # 6 (source, target port) pairs x 4 addresses

    # a container still reaches its own ports
    doc = run_probe(
        pod,
        spec_of([{"address": a, "port": 8080} for a in ADDRESSES]),
        prefix=("setpriv", "--reuid=1001", "--regid=1001", "--clear-groups"),
    )
    assert {r["state"] for r in doc["results"]} == {"open"}


def test_check_detects_drift_and_apply_repairs_it(pod):
    assert intrapod(pod, "check").returncode == 1  # nothing installed yet
    assert intrapod(pod, "apply").returncode == 0
    ok = intrapod(pod, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    in_ns(pod, "ip6tables", "-D", "KUBEREACH-INTRAPOD", "1")
    in_ns(pod, "iptables", "-A", "KUBEREACH-INTRAPOD", "-p", "tcp", "--dport", "1", "-j", "ACCEPT")
    drift = intrapod(pod, "check")
    assert drift.returncode == 1
    assert "ip6tables expected" in drift.stdout and "--dport 1 " in drift.stdout
    in_ns(pod, "iptables", "-A", "OUTPUT", "-o", "lo", "-j", "KUBEREACH-INTRAPOD")  # a 2nd jump
    assert intrapod(pod, "check").returncode == 1
    assert intrapod(pod, "apply").returncode == 0
    assert intrapod(pod, "check").returncode == 0


def test_unenforceable_rules_are_refused_unless_explicitly_allowed(pod):
    config = {
        "rules": RULES,
        "containers": [
            {"name": "app", "uid": 0, "ports": ["8080/TCP", "9090/UDP"]},
            {"name": "sidecar", "uid": 1002, "ports": ["9000/TCP"]},
            {"name": "logger", "uid": None, "ports": []},
        ],
    }
    refused = intrapod(pod, "apply", config=config)
    assert refused.returncode == 2
    assert "runs as UID 0" in refused.stderr and "no runAsUser" in refused.stderr
    assert not re.search(r"KUBEREACH-INTRAPOD( |$)", in_ns(pod, "iptables-save").stdout, re.M)
    forced = intrapod(pod, "apply", "--allow-unenforceable", config=config)
    assert forced.returncode == 0, forced.stderr
    assert "warning: unenforceable" in forced.stderr
