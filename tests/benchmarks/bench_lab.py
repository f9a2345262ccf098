"""Benchmark: the lab at scale: pods over several nodes, a 100-replica Deployment, memory.

    .venv/bin/python tests/benchmarks/bench_lab.py [--pods 1000] [--baseline 100] [--nodes 3]
        [--replicas 100] [--cni enforce] [--agents 20]

The full path, as a user meets it: ``lab.control.up`` starts the daemon (API server,
controllers, nodes), the official ``kubernetes`` client creates the pods over HTTPS, the
benchmark waits until every pod is Running, then reads the resident memory of the daemon
and all its descendants. A baseline lab with fewer pods runs first in the same process,
so the per-pod cost can be compared (a ratio near 1 means bring-up scales linearly: the
question for a thousand pods). Then a Deployment of ``--replicas`` pods, timed from
``lab up`` to what ``kubectl rollout status`` calls done (the Deployment controller,
ReplicaSet controller, scheduler and nodes together). Targets (issue 4): 200 pods under
60 s and under 2 GiB. Needs root.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from lab import control

_CREATE_THREADS = 8  # concurrent create calls, like `kubectl apply` of a big file with parallelism


def pod_manifest(i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{i}", "labels": {"app": "bench", "shard": str(i % 10)}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 8443}],
                },
                {
                    "name": "dns",
                    "image": "coredns/coredns:1.11",
                    "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}],
                },
            ],
        },
    }


def tree_rss_kib(root: int) -> tuple[int, int]:
    """(RSS in KiB, process count) of ``root`` and every descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        count += 1
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total, count


def mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def run(n: int, cni: str, nodes: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="krl-bench-") as tmp:
        state = Path(tmp) / "lab"
        avail0 = mem_available_kib()
        t0 = time.monotonic()
        up = control.up(state_dir=state, cni=cni, nodes=nodes)
        t_up = time.monotonic() - t0
        try:
            api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(up.kubeconfig)))
            t1 = time.monotonic()
            with ThreadPoolExecutor(_CREATE_THREADS) as pool:
                list(pool.map(lambda i: api.create_namespaced_pod("default", pod_manifest(i)), range(n)))
            t_created = time.monotonic() - t1
            while True:
                pods = api.list_namespaced_pod("default", label_selector="app=bench").items
                running = sum(1 for p in pods if p.status and p.status.phase == "Running")
                if running == n:
                    break
                failed = [p.metadata.name for p in pods if p.status and p.status.phase == "Failed"]
                if failed:
                    raise SystemExit(f"pods failed: {failed[:5]}")
                if time.monotonic() - t1 > 900:
                    raise SystemExit(f"only {running}/{n} pods Running after 900 s")
                time.sleep(0.2)
            t_running = time.monotonic() - t1
            rss, procs = tree_rss_kib(up.pid)
            avail1 = mem_available_kib()
        finally:
            t2 = time.monotonic()
            control.down(state_dir=state)
            t_down = time.monotonic() - t2
    return {
        "pods": n,
        "nodes": nodes,
        "up_s": t_up,
        "created_s": t_created,
        "running_s": t_running,
        "down_s": t_down,
        "rss_mib": rss / 1024,
        "procs": procs,
        "mem_delta_mib": (avail0 - avail1) / 1024,
    }


def deployment_figures(replicas: int, cni: str, nodes: int) -> dict:
    """``lab up``, one Deployment of ``replicas`` pods, until its rollout is complete."""
    with tempfile.TemporaryDirectory(prefix="krl-bench-") as tmp:
        state = Path(tmp) / "lab"
        t0 = time.monotonic()
        up = control.up(state_dir=state, cni=cni, nodes=nodes)
        try:
            apps = k8s.AppsV1Api(k8s_config.new_client_from_config(str(up.kubeconfig)))
            template = pod_manifest(0)
            body = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "bench"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "bench"}},
                    "template": {
                        "metadata": {"labels": {"app": "bench"}},
                        "spec": {**template["spec"], "restartPolicy": "Always"},
                    },
                },
            }
            t1 = time.monotonic()
            apps.create_namespaced_deployment("default", body)
            while True:  # what `kubectl rollout status` waits for
                d = apps.read_namespaced_deployment("bench", "default")
                st = d.status
                if (
                    (st.observed_generation or 0) >= d.metadata.generation
                    and (st.updated_replicas or 0) == replicas
                    and (st.replicas or 0) == replicas
                    and (st.available_replicas or 0) == replicas
                ):
                    break
                if time.monotonic() - t1 > 600:
                    raise SystemExit(f"the Deployment did not roll out in 600 s: {st}")
                time.sleep(0.1)
            done = time.monotonic()
            rss, procs = tree_rss_kib(up.pid)
        finally:
            control.down(state_dir=state)
    return {"replicas": replicas, "from_up_s": done - t0, "from_create_s": done - t1, "rss_mib": rss / 1024}


def agent_figures(n: int, cni: str) -> dict:
    """``n`` pods, then one ephemeral agent per pod probing every pod's port 80 at once (a sweep)."""
    import json
    import threading

    with tempfile.TemporaryDirectory(prefix="krl-bench-") as tmp:
        state = Path(tmp) / "lab"
        up = control.up(state_dir=state, cni=cni)
        try:
            api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(up.kubeconfig)))
            for i in range(n):
                api.create_namespaced_pod("default", pod_manifest(i))
            while sum(1 for p in api.list_namespaced_pod("default").items if p.status.phase == "Running") < n:
                time.sleep(0.1)
            ips = [p.status.pod_ip for p in api.list_namespaced_pod("default").items]
            spec = {
                "kind": "KubereachProbeSpec",
                "version": 1,
                "id": "bench",
                "deadline_s": 60,
                "timeout_s": 1,
                "targets": [
                    {"id": str(j), "address": ip, "port": 80, "protocol": "TCP", "method": "connect"}
                    for j, ip in enumerate(ips)
                ],
            }
            peak = [0]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], tree_rss_kib(up.pid)[0])
                    time.sleep(0.1)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t0 = time.monotonic()
            for i in range(n):
                api.patch_namespaced_pod_ephemeralcontainers(
                    f"bench-{i}",
                    "default",
                    {
                        "spec": {
                            "ephemeralContainers": [
                                {
                                    "name": "agent",
                                    "image": "ghcr.io/kubereach/agent:0.1.0",
                                    "args": ["run", "--spec", json.dumps(spec)],
                                    "securityContext": {"runAsUser": 1000},
                                }
                            ]
                        }
                    },
                )
            opens = 0
            while True:
                pods = api.list_namespaced_pod("default").items
                done = [p for p in pods if any(e.state.terminated for e in p.status.ephemeral_container_statuses or [])]
                if len(done) == n:
                    break
                if time.monotonic() - t0 > 300:
                    raise SystemExit("agents did not finish in 300 s")
                time.sleep(0.1)
            elapsed = time.monotonic() - t0
            stop.set()
            sampler.join()
            for i in range(n):
                log = api.read_namespaced_pod_log(f"bench-{i}", "default", container="agent")
                doc = json.loads(log.strip().splitlines()[-1])
                opens += sum(1 for r in doc["results"] if r["state"] == "open")
        finally:
            control.down(state_dir=state)
    return {"agents": n, "elapsed_s": elapsed, "peak_rss_mib": peak[0] / 1024, "open": opens, "probes": n * n}


def recompile_figures(n: int, policies: int, nodes: int = 1) -> dict:
    """Compile and load the CNI for ``n`` pods and ``policies`` policies into a scratch namespace
    (all pods local, as on one node), and the compile of one node's share when the pods are
    spread over ``nodes`` (each node compiles only its own pods' chains)."""
    import asyncio
    import secrets
    import subprocess

    from lab.cni import compile_ruleset
    from lab.cni.apply import apply_ruleset

    pods = [
        {
            **pod_manifest(i),
            "metadata": {**pod_manifest(i)["metadata"], "namespace": "default"},
            "spec": {**pod_manifest(i)["spec"], "nodeName": f"krl-node-{i % nodes}"},
            "status": {"podIP": f"10.244.{i // 250}.{i % 250 + 1}", "phase": "Running"},
        }
        for i in range(n)
    ]
    pols = [
        {
            "metadata": {"name": f"p{j}", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"shard": str(j % 10)}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"shard": str((j + 1) % 10)}}}],
                        "ports": [{"port": "http"}, {"port": 53, "protocol": "UDP"}],
                    }
                ],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"10.244.0.{j + 1}/32"]}}]}],
            },
        }
        for j in range(policies)
    ]
    t0 = time.perf_counter()
    rs = compile_ruleset([{"metadata": {"name": "default"}}], pods, pols)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    compile_ruleset([{"metadata": {"name": "default"}}], pods, pols, node_name="krl-node-0")
    t_node = time.perf_counter() - t0
    ns = f"krl-b{secrets.token_hex(2)}-node"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        t1 = time.perf_counter()
        asyncio.run(apply_ruleset(rs, ns))
        t_first = time.perf_counter() - t1
        pols[0]["spec"]["ingress"][0]["ports"].append({"port": 9999})
        rs2 = compile_ruleset([{"metadata": {"name": "default"}}], pods, pols)
        t2 = time.perf_counter()
        asyncio.run(apply_ruleset(rs2, ns))
        t_again = time.perf_counter() - t2
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
    return {
        "rules": len(rs.rules),
        "sets": len(rs.ipsets),
        "compile_ms": 1000 * t_compile,
        "node_compile_ms": 1000 * t_node,
        "load_ms": 1000 * t_first,
        "reload_ms": 1000 * t_again,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=100, help="pods of the Deployment figure (0: skip)")
    ap.add_argument("--cni", choices=["enforce", "none"], default="enforce")
    ap.add_argument("--agents", type=int, default=20, help="ephemeral agents for the sweep-like figure (0: skip)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_lab needs root (network namespaces)", file=sys.stderr)
        return 2
    base = run(args.baseline, args.cni, args.nodes)
    full = run(args.pods, args.cni, args.nodes)
    print(f"lab bring-up over {args.nodes} node(s), {args.cni} CNI, 2 listening containers (4 sockets) per pod")
    print(
        f"{'pods':>6} {'up s':>6} {'create s':>9} {'all Running s':>14} {'per pod ms':>11} "
        f"{'RSS MiB':>8} {'procs':>6} {'MemAvail drop MiB':>18} {'down s':>7}"
    )
    for r in (base, full):
        print(
            f"{r['pods']:>6} {r['up_s']:>6.2f} {r['created_s']:>9.2f} {r['running_s']:>14.2f} "
            f"{1000 * r['running_s'] / r['pods']:>11.1f} {r['rss_mib']:>8.1f} {r['procs']:>6} "
            f"{r['mem_delta_mib']:>18.1f} {r['down_s']:>7.2f}"
        )
    ratio = (full["running_s"] / full["pods"]) / (base["running_s"] / base["pods"])
    print(f"per-pod time ratio {full['pods']} vs {base['pods']} pods: {ratio:.2f} (1.0 = linear)")
    if args.replicas:
        dep = deployment_figures(args.replicas, args.cni, args.nodes)
        print(
            f"Deployment of {dep['replicas']} replicas over {args.nodes} node(s): rolled out "
            f"{dep['from_up_s']:.2f} s after `lab up` began ({dep['from_create_s']:.2f} s after its creation), "
            f"daemon RSS {dep['rss_mib']:.0f} MiB"
        )
    rc = recompile_figures(args.pods, 20, args.nodes)
    print(
        f"CNI recompile, {args.pods} pods x 20 policies: {rc['rules']} rules, {rc['sets']} ipsets; "
        f"compile {rc['compile_ms']:.0f} ms (one node's share of {args.nodes}: {rc['node_compile_ms']:.0f} ms), "
        f"first load {rc['load_ms']:.0f} ms, reload {rc['reload_ms']:.0f} ms"
    )
    ag = agent_figures(args.agents, args.cni) if args.agents else None
    if ag:
        print(
            f"sweep-like: {ag['agents']} ephemeral agents at once, {ag['probes']} probes: all done in "
            f"{ag['elapsed_s']:.2f} s ({1000 * ag['elapsed_s'] / ag['agents']:.0f} ms per agent), "
            f"peak lab RSS {ag['peak_rss_mib']:.0f} MiB, {ag['open']}/{ag['probes']} open"
        )
    per_pod = full["running_s"] / full["pods"]
    ok = per_pod * 200 < 60 and full["rss_mib"] * 200 / full["pods"] < 2048
    print(
        f"target (issue 4: 200 pods < 60 s, < 2 GiB), at the measured per-pod cost: "
        f"{per_pod * 200:.1f} s, {full['rss_mib'] * 200 / full['pods']:.0f} MiB: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
