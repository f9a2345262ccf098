"""Benchmark: a sweep of a 50-pod mesh on 2 ports in the lab, against one agent per probe.

    sudo .venv/bin/python tests/benchmarks/bench_sweep.py [--pods 50] [--subset 64]

Brings up a lab with a generated mesh (one namespace, ``--pods`` pods each declaring
ports 8080 and 9090, a default-deny ingress policy and an allow for half the sources on
8080, so both open and filtered probes occur), then measures in the same run:

* **kubereach**: the sweep as the CLI runs it (one ephemeral container per source pod
  carrying all of that source's probes): wall time, probes, API calls;
* **baseline**: what conformance tools do, one agent per single probe (here one
  ephemeral container per probe, same concurrency bound, same runner), on a random
  subset of the probes, extrapolated linearly to all of them.

Prints both, the speed-up (target >= 20x) and API calls per probe (kubereach's grow
with sources, the baseline's with probes), then three more sweeps of the same mesh (10
ports instead of 2: 5x the probes; half the sources) to show the API calls follow the
sources, not the probes. Tears the lab down at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from orchestrator.cluster.discovery import discover  # noqa: E402
from orchestrator.cluster.kube import load_cluster  # noqa: E402
from orchestrator.sweep.deploy import SweepMeta  # noqa: E402
from orchestrator.sweep.plan import AgentPlan, Plan, PlanOptions  # noqa: E402
from orchestrator.sweep.run import SweepOptions, execute, new_sweep_id  # noqa: E402
from orchestrator.sweep.runner import ClusterRunner  # noqa: E402
from probe.schema import DEFAULT_AGENT_IMAGE  # noqa: E402

NAMESPACE = "kr5-bench"
KUBEREACH = str(Path(sys.executable).parent / "kubereach")


def mesh_manifests(n: int) -> str:
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"]
    for i in range(n):
        docs.append(f"""apiVersion: v1
kind: Pod
metadata:
  name: m{i:03d}
  namespace: {NAMESPACE}
  labels: {{app: m{i:03d}, group: {"a" if i % 2 == 0 else "b"}}}
spec:
  containers:
    - name: app
      image: nginx:1.27
      ports: [{{containerPort: 8080, name: http}}, {{containerPort: 9090, name: metrics}}]
      securityContext: {{runAsUser: {1000 + i}, runAsNonRoot: true}}
""")
    docs.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny-ingress, namespace: {NAMESPACE}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
""")
    docs.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: allow-group-a-http, namespace: {NAMESPACE}}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
  ingress:
    - from: [{{podSelector: {{matchLabels: {{group: a}}}}}}]
      ports: [{{port: 8080}}]
""")
    return "---\n".join(docs)


def measure(kubeconfig: str, plan: Plan, meta: SweepMeta, max_agents: int) -> tuple[float, int, dict]:
    """Run ``plan`` with the cluster runner; (wall seconds, API calls, observations)."""
    kube = load_cluster(kubeconfig, pool_size=max_agents + 4)
    runner = ClusterRunner(kube, max_agents=max_agents, deadline=time.monotonic() + 900)

    async def go():
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_agents + 4))
        try:
            return await runner.run(plan, meta)
        finally:
            await runner.close()

    started = time.monotonic()
    observed = asyncio.run(go())
    wall = time.monotonic() - started
    calls = kube.call_count
    kube.close()
    return wall, calls, observed


def _plan_options(ports: list[str] | None = None, sources: list[str] | None = None) -> PlanOptions:
    from orchestrator.sweep.selection import PodSelector, port_selection

    mode, port_list = port_selection(tuple(ports or ()))
    return PlanOptions(ports=port_list, port_mode=mode, sources=tuple(PodSelector.parse(s) for s in sources or ()))


def sweep_once(kubeconfig: str, plan_options: PlanOptions, max_agents: int) -> tuple[int, int, int, float]:
    """One sweep as the CLI runs it: (agents, probes, API calls after discovery, wall seconds)."""
    kube = load_cluster(kubeconfig, pool_size=max_agents + 4)
    snapshot = discover(kube, [NAMESPACE])
    before = kube.call_count
    runner = ClusterRunner(kube, max_agents=max_agents, deadline=time.monotonic() + 600)
    meta = SweepMeta(new_sweep_id(), DEFAULT_AGENT_IMAGE, timeout_s=0.5, retries=0, deadline_s=600)

    async def go():
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_agents + 4))
        try:
            return await execute(snapshot, runner, meta, SweepOptions(plan_options, settle_s=0, max_agents=max_agents))
        finally:
            await runner.close()

    started = time.monotonic()
    result = asyncio.run(go())
    wall = time.monotonic() - started
    calls = kube.call_count - before
    kube.close()
    return len(result.plan.agents), len(result.rows), calls, wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--subset", type=int, default=64, help="probes measured for the baseline")
    ap.add_argument("--max-agents", type=int, default=32)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (the lab uses network namespaces)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="kr5-bench-"))
    (tmp / "mesh.yaml").write_text(mesh_manifests(args.pods))
    state = tmp / "lab"
    t0 = time.monotonic()
    up = subprocess.run(
        [KUBEREACH, "lab", "up", "-f", str(tmp / "mesh.yaml"), "--state-dir", str(state), "--timeout", "300"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        subprocess.run([KUBEREACH, "lab", "down", "--state-dir", str(state)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return 1
    kubeconfig = up.stdout.strip().splitlines()[-1]
    print(f"lab with {args.pods} pods up in {time.monotonic() - t0:.1f}s")
    try:
        options = SweepOptions(PlanOptions(), settle_s=0, max_agents=args.max_agents)
        meta = SweepMeta(new_sweep_id(), DEFAULT_AGENT_IMAGE, timeout_s=0.5, retries=0, deadline_s=600)

        # kubereach: one agent per source, all of its probes at once (the CLI's own path)
        kube = load_cluster(kubeconfig, pool_size=args.max_agents + 4)
        snapshot = discover(kube, [NAMESPACE])
        discovery_calls = kube.call_count
        runner = ClusterRunner(kube, max_agents=args.max_agents, deadline=time.monotonic() + 600)

        async def sweep():
            from concurrent.futures import ThreadPoolExecutor

            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.max_agents + 4))
            try:
                return await execute(snapshot, runner, meta, options)
            finally:
                await runner.close()

        t1 = time.monotonic()
        result = asyncio.run(sweep())
        kr_wall = time.monotonic() - t1
        kr_calls = kube.call_count - discovery_calls
        kr_calls_by = kube.call_counts()
        kube.close()
        probes = len(result.rows)
        verdicts: dict[str, int] = {}
        for r in result.rows:
            verdicts[str(r.verdict)] = verdicts.get(str(r.verdict), 0) + 1

        # baseline: one agent per probe, on a random subset, same runner and concurrency
        full = result.plan
        rng = random.Random(7)
        chosen = rng.sample(list(full.jobs), min(args.subset, len(full.jobs)))
        by_source = {a.identity.pod_key: a for a in full.agents}
        per_pod: dict[str, int] = {}
        singles = []
        for j in chosen:
            a = by_source[j.source_pod]
            idx = 100 + per_pod.get(j.source_pod, 0)
            per_pod[j.source_pod] = idx - 99
            singles.append(AgentPlan(a.identity, idx, (j,), a.labels))
        base_plan = Plan(tuple(singles), (), full.options)
        base_meta = replace(meta, sweep_id=new_sweep_id())
        wall, calls, observed = measure(kubeconfig, base_plan, base_meta, args.max_agents)
        measured = sum(1 for o in observed.values() if str(o.state) != "error")
        per_probe_s = wall / len(chosen)
        per_probe_calls = calls / len(chosen)
        base_wall = per_probe_s * probes
        base_calls = per_probe_calls * probes

        print(
            f"\nmesh: {args.pods} pods x {args.pods - 1} destinations x 2 ports = {probes} probes "
            f"(max {args.max_agents} agents at once)"
        )
        print(
            f"kubereach sweep : {kr_wall:8.2f} s  {kr_calls:6d} API calls  ({len(full.agents)} agents; "
            f"{kr_calls / len(full.agents):.1f} calls per source, {kr_calls / probes:.3f} per probe)"
        )
        print(f"                  verdicts {verdicts}; calls {kr_calls_by}")
        print(
            f"baseline subset : {wall:8.2f} s  {calls:6d} API calls for {len(chosen)} probes "
            f"({measured} measured), one agent per probe"
        )
        print(f"baseline (extrapolated to {probes} probes): {base_wall:8.1f} s  {base_calls:8.0f} API calls")
        print(
            f"speed-up: {base_wall / kr_wall:.1f}x (target >= 20x); "
            f"API calls: {base_calls / max(1, kr_calls):.1f}x fewer"
        )

        # scaling: API calls follow the sources, not the probes
        print("\nscaling (same mesh; API calls of the probing phase):")
        variants = [
            ("all sources, 2 ports", PlanOptions()),
            ("all sources, 10 ports", _plan_options(ports=[str(8080 + i) for i in range(9)] + ["9090"])),
            ("half the sources, 2 ports", _plan_options(sources=[f"{NAMESPACE}:group=a"])),
        ]
        for label, plan_options in variants:
            n_agents, n_probes, n_calls, wall_s = sweep_once(kubeconfig, plan_options, args.max_agents)
            print(
                f"  {label:26s}: {n_agents:3d} agents {n_probes:6d} probes {n_calls:5d} API calls "
                f"({n_calls / n_agents:.1f} per source, {n_calls / n_probes:.3f} per probe) in {wall_s:.1f} s"
            )
        return 0 if base_wall / kr_wall >= 20 else 1
    finally:
        subprocess.run([KUBEREACH, "lab", "down", "--state-dir", str(state)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
