"""Benchmark: ``predict`` on workloads, one representative each and ``--replicas``.

    .venv/bin/python tests/benchmarks/bench_workloads.py [--workloads 500] [--policies 500]
                                                         [--min-replicas 2] [--max-replicas 20] [--csv]

A seeded synthetic application: ``--workloads`` workloads over 20 namespaces
(Deployments mostly, then StatefulSets, ReplicaSets, Jobs with ``parallelism``,
ReplicationControllers and DaemonSets over 10 Node objects), each declaring 2-20
replicas, with the NetworkPolicies of bench_predict.py (a default-deny per namespace,
then rules on app/tier labels, namespace selectors, named ports, ipBlocks). Measured,
each scenario in its own child process (so peak RSS is that scenario's own):

- representative: one pod per workload (``predict`` without ``--replicas``);
- expanded: every declared replica (``--replicas``);
- baseline: bench_predict.py's 2,000 bare pods with the same policies, measured in the
  same run, on the same box.

Per scenario: building the snapshot from the objects (workload parsing, validation,
expansion, synthetic IPs), the compact expected matrix on the pods' declared ports, and
``kubereach predict -f DIR`` end to end with its default table output (``--csv``: also
``-o csv`` to /dev/null), wall and CPU time and peak RSS from ``wait4``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_predict import APPS, NAMESPACES, run_child, synthetic_objects, write_yaml

from orchestrator.model import PolicyModel, expected_matrix
from orchestrator.snapshot import LoadOptions, Origin, snapshot_from_objects

NODES = 10
KIND_MIX = [  # (kind, share): what a cluster's workloads look like
    ("Deployment", 0.70),
    ("StatefulSet", 0.12),
    ("ReplicaSet", 0.05),
    ("Job", 0.05),
    ("ReplicationController", 0.03),
    ("DaemonSet", 0.05),
]


def workload_objects(workloads: int, policies: int, lo: int, hi: int, seed: int, baseline_pods: int) -> list[dict]:
    """The namespaces and policies of bench_predict's cluster (its bare pods left out, so
    the policies are exactly the baseline's), Nodes, and the workloads."""
    rnd = random.Random(seed)
    objs = [o for o in synthetic_objects(baseline_pods, policies, seed) if o["kind"] != "Pod"]
    for n in range(NODES):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"node-{n}", "labels": {"kubernetes.io/os": "linux"}},
            }
        )
    kinds = [k for k, _ in KIND_MIX]
    weights = [w for _, w in KIND_MIX]
    for i in range(workloads):
        kind = rnd.choices(kinds, weights)[0]
        name = f"wl-{i}"
        labels = {"app": f"app-{rnd.randrange(APPS)}", "tier": rnd.choice(["web", "api", "db", "cache"]), "wl": name}
        ports = [{"name": "http", "containerPort": 8080}]
        if rnd.random() < 0.5:
            ports.append({"name": "metrics", "containerPort": 9090})
        if rnd.random() < 0.2:
            ports.append({"name": "dns", "containerPort": 53, "protocol": "UDP"})
        template = {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": ports}]},
        }
        count = rnd.randint(lo, hi)
        api = {"Job": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
        if kind == "Job":
            template["spec"]["restartPolicy"] = "Never"
            spec = {"parallelism": count, "template": template}
        elif kind == "ReplicationController":
            spec = {"replicas": count, "selector": {"wl": name}, "template": template}
        else:
            spec = {"selector": {"matchLabels": {"wl": name}}, "template": template}
            if kind != "DaemonSet":
                spec["replicas"] = count
        ns = f"ns-{i % NAMESPACES}"
        objs.append({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec})
    return objs


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def phase(args: argparse.Namespace) -> dict:
    """One scenario in this (child) process: snapshot build and compact matrix."""
    if args.phase == "baseline":
        objs = synthetic_objects(args.baseline_pods, args.policies, args.seed)
        options = LoadOptions(synthetic_ips=True)
    else:
        objs = workload_objects(
            args.workloads, args.policies, args.min_replicas, args.max_replicas, args.seed, args.baseline_pods
        )
        options = LoadOptions(replicas=args.phase == "expanded", synthetic_ips=True)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    snap = snapshot_from_objects(((o, Origin("synthetic", i)) for i, o in enumerate(objs)), options)
    load_wall, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    del objs
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    rows = expected_matrix(snap, None, model=PolicyModel(snap))
    matrix_wall, matrix_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "pods": len(snap.pods),
        "workloads": sum(snap.load.workloads.values()),
        "rows": len(rows),
        "load_wall": load_wall,
        "load_cpu": load_cpu,
        "matrix_wall": matrix_wall,
        "matrix_cpu": matrix_cpu,
        "rss_before": rss0,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", type=int, default=500)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--min-replicas", type=int, default=2)
    ap.add_argument("--max-replicas", type=int, default=20)
    ap.add_argument("--baseline-pods", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--csv", action="store_true", help="also time `kubereach predict -o csv` (to /dev/null)")
    ap.add_argument("--phase", choices=["baseline", "representative", "expanded"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args)))
        return

    me = [sys.executable, str(Path(__file__).resolve())]
    me += ["--workloads", str(args.workloads), "--policies", str(args.policies), "--seed", str(args.seed)]
    me += ["--min-replicas", str(args.min_replicas), "--max-replicas", str(args.max_replicas)]
    me += ["--baseline-pods", str(args.baseline_pods)]
    kubereach = str(Path(sys.executable).parent / "kubereach")
    results = {}
    with tempfile.TemporaryDirectory(prefix="kr-bench-workloads-") as tmp:
        dirs = {"baseline": Path(tmp, "baseline"), "workloads": Path(tmp, "workloads")}
        for d in dirs.values():
            d.mkdir()
        write_yaml(synthetic_objects(args.baseline_pods, args.policies, args.seed), dirs["baseline"])
        write_yaml(
            workload_objects(
                args.workloads, args.policies, args.min_replicas, args.max_replicas, args.seed, args.baseline_pods
            ),
            dirs["workloads"],
        )
        for name, flags, where in (
            ("baseline", [], dirs["baseline"]),
            ("representative", [], dirs["workloads"]),
            ("expanded", ["--replicas"], dirs["workloads"]),
        ):
            _, _, data, _ = run_child(me + ["--phase", name])
            r = json.loads(data)
            with open(os.devnull, "wb") as null:
                r["cli"] = run_child([kubereach, "predict", "-f", str(where), *flags], stdout=null)[:2]
                if args.csv:
                    r["cli_csv"] = run_child(
                        [kubereach, "predict", "-f", str(where), "-o", "csv", *flags], stdout=null
                    )[:2]
            results[name] = r

    print(
        f"workloads: {args.workloads} with {args.min_replicas}-{args.max_replicas} replicas each "
        f"({', '.join(k for k, _ in KIND_MIX)}; DaemonSets over {NODES} nodes), {args.policies} policies; "
        f"baseline: {args.baseline_pods} bare pods, same policies"
    )
    header = (
        f"{'':16}{'pods':>7}{'rows':>13}{'snapshot':>10}{'matrix':>9}{'peak RSS':>10}   CLI table: wall, CPU, peak RSS"
    )
    print(header)
    for name in ("baseline", "representative", "expanded"):
        r = results[name]
        wall, usage = r["cli"]
        cli = f"{wall:6.2f} s {usage.ru_utime + usage.ru_stime:6.2f} s {_mib(usage.ru_maxrss):>8}"
        print(
            f"{name:16}{r['pods']:>7,}{r['rows']:>13,}{r['load_wall']:>8.2f} s{r['matrix_wall']:>7.2f} s"
            f"{_mib(r['rss']):>10}   {cli}"
        )
        if "cli_csv" in r:
            wall, usage = r["cli_csv"]
            print(
                f"{'':16}CLI -o csv (to /dev/null): wall {wall:.2f} s, CPU {usage.ru_utime + usage.ru_stime:.2f} s, "
                f"peak RSS {_mib(usage.ru_maxrss)}"
            )
    base, exp = results["baseline"], results["expanded"]
    per_pod = (exp["load_cpu"] / exp["pods"]) / (base["load_cpu"] / base["pods"])
    print(
        f"snapshot CPU per pod, expanded vs bare pods: {per_pod:.1f}x "
        f"({exp['load_cpu'] / exp['pods'] * 1e6:.0f} us vs {base['load_cpu'] / base['pods'] * 1e6:.0f} us); "
        f"matrix CPU per row: expanded {exp['matrix_cpu'] / max(exp['rows'], 1) * 1e9:.0f} ns, "
        f"baseline {base['matrix_cpu'] / max(base['rows'], 1) * 1e9:.0f} ns"
    )


if __name__ == "__main__":
    main()
