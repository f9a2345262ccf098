"""Benchmark: the agent's connect and syn methods against nmap -sT and nmap -sS.

    sudo .venv/bin/python tests/benchmarks/bench_probe.py [--addresses 8] [--ports 500]

Two network namespaces joined by veth (names ``kra3-...``, removed at the end). The
target side has several addresses; a kubereach listener answers on some ports (open),
iptables DROPs some (filtered), REJECTs some with icmp-admin-prohibited (filtered) and
the rest are closed. Every tool scans the same (address, port) set from the prober
namespace with the same per-attempt timeout and retries; nmap's adaptive RTT timeout
is pinned (min = max = initial) so "same timeout" really holds. Prints wall times
(process start to exit, so start-up counts), ratios and the agreement of every
classification with each other and with the ground truth. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "probe"))

from krp_helpers import PROBE, Listener, in_ns, link_names, netns_names, probe_env, sh, start_listener  # noqa: E402

FIRST_PORT = 10000
OPEN_PORTS = 20  # served by one kubereach listener on every address
DROP_PORTS = 40  # iptables DROP: silence
ADMIN_PORTS = 10  # iptables REJECT icmp-admin-prohibited


def setup(n_addr: int) -> tuple[str, str, str, list[str]]:
    tag = secrets.token_hex(3)
    a, b, la, lb = f"kra3-a-{tag}", f"kra3-b-{tag}", f"kra3{tag}a", f"kra3{tag}b"
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    sh("ip", "link", "add", la, "netns", a, "type", "veth", "peer", "name", lb, "netns", b)
    in_ns(a, "ip", "addr", "add", "192.0.2.1/24", "dev", la)
    addrs = [f"192.0.2.{10 + i}" for i in range(n_addr)]
    for addr in addrs:
        in_ns(b, "ip", "addr", "add", f"{addr}/24", "dev", lb)
    for ns, link in ((a, la), (b, lb)):
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "set", link, "up")
    # deterministic ICMP: no per-host rate limit inside the target namespace
    in_ns(b, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=100000")
    drop_lo = FIRST_PORT + OPEN_PORTS + 100
    in_ns(b, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", f"{drop_lo}:{drop_lo + DROP_PORTS - 1}", "-j", "DROP")
    adm_lo = drop_lo + DROP_PORTS
    in_ns(
        b,
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        f"{adm_lo}:{adm_lo + ADMIN_PORTS - 1}",
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-admin-prohibited",
    )
    return a, b, tag, addrs


def truth(port: int) -> str:
    drop_lo = FIRST_PORT + OPEN_PORTS + 100
    if port < FIRST_PORT + OPEN_PORTS:
        return "open"
    if drop_lo <= port < drop_lo + DROP_PORTS + ADMIN_PORTS:
        return "filtered"
    return "closed"


def run_agent(
    ns: str, addrs: list[str], ports: list[int], method: str, timeout: float, retries: int, concurrency: int
) -> tuple[float, dict]:
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "id": f"bench-{method}",
        "deadline_s": 600,
        "concurrency": concurrency,
        "timeout_s": timeout,
        "retries": retries,
        "targets": [{"address": a, "port": p, "method": method} for a in addrs for p in ports],
    }
    started = time.monotonic()
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *PROBE, "run"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=900,
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"agent failed: {proc.stderr}")
    doc = json.loads(proc.stdout)
    return wall, {(r["address"], r["port"]): r["state"] for r in doc["results"]}


def run_nmap(
    ns: str, addrs: list[str], ports: list[int], scan: str, timeout: float, retries: int
) -> tuple[float, dict]:
    ms = f"{int(timeout * 1000)}ms"
    cmd = [
        "ip",
        "netns",
        "exec",
        ns,
        "nmap",
        scan,
        "-n",
        "-Pn",
        "-T4",
        "-p",
        f"{ports[0]}-{ports[-1]}",
        "--max-retries",
        str(retries),
        "--initial-rtt-timeout",
        ms,
        "--min-rtt-timeout",
        ms,
        "--max-rtt-timeout",
        ms,
        "--host-timeout",
        "600s",
        "-oX",
        "-",
        *addrs,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"nmap failed: {proc.stderr}")
    return wall, parse_nmap_xml(proc.stdout)


def parse_nmap_xml(text: str) -> dict:
    states = {}
    for host in ET.fromstring(text).iter("host"):
        addr = host.find("address").get("addr")
        ports = host.find("ports")
        if ports is None:
            continue
        for port in ports.iter("port"):
            states[(addr, int(port.get("portid")))] = port.find("state").get("state")
        for extra in ports.iter("extraports"):
            for reason in extra.iter("extrareasons"):
                for part in reason.get("ports", "").split(","):
                    if not part:
                        continue
                    lo, _, hi = part.partition("-")
                    for p in range(int(lo), int(hi or lo) + 1):
                        states[(addr, p)] = extra.get("state")
    return states


def agreement(x: dict, y: dict) -> tuple[float, list]:
    keys = set(x) | set(y)
    diff = sorted(k for k in keys if x.get(k) != y.get(k))
    return 100.0 * (len(keys) - len(diff)) / len(keys), diff[:5]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addresses", type=int, default=8)
    ap.add_argument("--ports", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, raw sockets)")
    a, b, tag, addrs = setup(args.addresses)
    listener: Listener | None = None
    try:
        ports = list(range(FIRST_PORT, FIRST_PORT + args.ports))
        listener = start_listener(
            b, *[x for p in range(FIRST_PORT, FIRST_PORT + OPEN_PORTS) for x in ("--tcp", str(p))]
        )
        expected = {(ad, p): truth(p) for ad in addrs for p in ports}
        counts = {s: list(expected.values()).count(s) for s in ("open", "closed", "filtered")}
        print(
            f"targets: {len(expected)} ({args.addresses} addresses x {args.ports} ports; "
            f"{counts}), timeout {args.timeout}s, retries {args.retries}, "
            f"agent concurrency {args.concurrency}"
        )
        runs = {
            "agent connect": lambda: run_agent(
                a, addrs, ports, "connect", args.timeout, args.retries, args.concurrency
            ),
            "nmap -sT": lambda: run_nmap(a, addrs, ports, "-sT", args.timeout, args.retries),
            "agent syn": lambda: run_agent(a, addrs, ports, "syn", args.timeout, args.retries, args.concurrency),
            "nmap -sS": lambda: run_nmap(a, addrs, ports, "-sS", args.timeout, args.retries),
        }
        best: dict[str, float] = {}
        results: dict[str, dict] = {}
        for rnd in range(args.rounds):  # interleaved rounds: load changes hit every tool
            for name, fn in runs.items():
                wall, states = fn()
                best[name] = min(best.get(name, wall), wall)
                results[name] = states
                print(f"  round {rnd + 1}: {name:14s} {wall:7.2f} s")
        print("\nbest wall time (s):")
        for name in runs:
            print(f"  {name:14s} {best[name]:7.2f}")
        print(f"\nratio agent connect / nmap -sT: {best['agent connect'] / best['nmap -sT']:.2f}  (target <= 1.0)")
        print(f"ratio agent syn / nmap -sS:     {best['agent syn'] / best['nmap -sS']:.2f}  (target <= 2.0)")
        print("\nagreement of classifications:")
        ok = True
        for left, right in (("agent connect", "nmap -sT"), ("agent syn", "nmap -sS"), ("agent connect", "agent syn")):
            pct, diff = agreement(results[left], results[right])
            ok &= pct == 100.0
            print(f"  {left} vs {right}: {pct:.2f}%" + (f"  first differences: {diff}" if diff else ""))
        for name in runs:
            pct, diff = agreement(results[name], expected)
            ok &= pct == 100.0
            print(f"  {name} vs ground truth: {pct:.2f}%" + (f"  {diff}" if diff else ""))
        return 0 if ok else 1
    finally:
        if listener is not None:
            listener.stop()
        for ns in (a, b):
            sh("ip", "netns", "del", ns, check=False)
        time.sleep(0.2)
        left = ({a, b} & netns_names()) | ({f"kra3{tag}a", f"kra3{tag}b"} & link_names())
        if left:
            print(f"WARNING: left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
