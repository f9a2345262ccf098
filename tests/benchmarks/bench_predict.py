"""Benchmark: the full expected matrix of a seeded synthetic cluster.

    .venv/bin/python tests/benchmarks/bench_predict.py [--pods 2000] [--policies 500] [--ports 3]
                                                       [--cluster-policies 100] [--no-cli] [--cli-digest]

Prints, each phase in its own child process (so its peak RSS is its own):

(a) ``expected_matrix`` (the real code path): wall and CPU time, peak RSS
    (``ru_maxrss``) and, in a second child, the tracemalloc peak of the same
    computation; then the cost of walking every row as an ``ExpectedRow``;
(b) ``kubereach predict -o csv`` end to end on the same cluster written as YAML
    manifests, stdout to /dev/null, with /usr/bin/time's accounting (``wait4``
    rusage of that one child, cross-checked against ``RUSAGE_CHILDREN``).

(c) the same as (a) with ``--cluster-policies`` ClusterNetworkPolicies added (half Admin,
    half Baseline; subjects by namespace or by pod labels, rules with Accept/Deny/Pass,
    networks and named ports), printed next to the plain run of (a), with its own sampled
    pairwise check.

As a baseline, the straightforward pairwise evaluation (``PolicyModel.evaluate``
for every (source, destination, port)) is measured in the same run on a random
sample of triples and extrapolated to the full matrix (running it in full would
take minutes on a shared 2-core box); the sampled verdicts must equal the rows.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from orchestrator.model import PolicyModel, expected_matrix
from orchestrator.snapshot import Origin, load_manifests, snapshot_from_objects
from probe.schema import Protocol

APPS = 30  # distinct app labels per namespace: replicas share labels, like Deployments
NAMESPACES = 20


def synthetic_objects(pods: int, policies: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    objs: list[dict] = []
    for n in range(NAMESPACES):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": f"ns-{n}",
                    "labels": {"team": f"team-{n % 5}", "env": rnd.choice(["prod", "dev"])},
                },
            }
        )
    for i in range(pods):
        n = i % NAMESPACES
        app = f"app-{rnd.randrange(APPS)}"
        ports = [{"name": "http", "containerPort": 8080}]
        if rnd.random() < 0.5:
            ports.append({"name": "metrics", "containerPort": 9090})
        if rnd.random() < 0.2:
            ports.append({"name": "dns", "containerPort": 53, "protocol": "UDP"})
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"pod-{i}",
                    "namespace": f"ns-{n}",
                    "labels": {"app": app, "tier": rnd.choice(["web", "api", "db", "cache"])},
                },
                "spec": {"containers": [{"name": "c", "image": "nginx", "ports": ports}]},
                "status": {"podIP": f"10.{n}.{i // 250}.{i % 250 + 1}"},
            }
        )

    def peer() -> dict:
        r = rnd.random()
        if r < 0.35:
            return {"podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(APPS)}"}}}
        if r < 0.6:
            return {
                "namespaceSelector": {"matchLabels": {"team": f"team-{rnd.randrange(5)}"}},
                "podSelector": {
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": rnd.sample(["web", "api", "db", "cache"], 2)}
                    ]
                },
            }
        if r < 0.8:
            return {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}}
        n = rnd.randrange(NAMESPACES)
        return {"ipBlock": {"cidr": f"10.{n}.0.0/16", "except": [f"10.{n}.{rnd.randrange(8)}.0/24"]}}

    def ports() -> list[dict] | None:
        r = rnd.random()
        if r < 0.2:
            return None
        if r < 0.5:
            return [{"port": "http"}]
        if r < 0.8:
            return [{"port": 8080}, {"port": 53, "protocol": "UDP"}]
        return [{"port": 9000, "endPort": 9100}]

    made = 0
    for n in range(NAMESPACES):
        if made < policies:
            objs.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": "default-deny", "namespace": f"ns-{n}"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                }
            )
            made += 1
    while made < policies:
        n = rnd.randrange(NAMESPACES)
        spec: dict = {"podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(APPS)}"}}}
        types = rnd.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        spec["policyTypes"] = types
        for direction, key in (("Ingress", "from"), ("Egress", "to")):
            if direction in types:
                rules = []
                for _ in range(rnd.randint(1, 3)):
                    rule: dict = {key: [peer() for _ in range(rnd.randint(1, 2))]}
                    p = ports()
                    if p:
                        rule["ports"] = p
                    rules.append(rule)
                spec[direction.lower()] = rules
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"pol-{made}", "namespace": f"ns-{n}"},
                "spec": spec,
            }
        )
        made += 1
    return objs


def synthetic_cluster_policies(count: int, seed: int) -> list[dict]:
    """``count`` ClusterNetworkPolicies, half Admin, half Baseline, shaped like a platform team's:
    namespace guard rails (deny to/from other teams, allow monitoring), per-app exceptions that
    Pass to the namespace's NetworkPolicies, egress limits by CIDR and named port."""
    rnd = random.Random(seed + 100)
    priorities = rnd.sample(range(1, 1000), count)  # distinct: no undefined ties in the benchmark
    out = []

    def team() -> dict:
        return {"matchLabels": {"team": f"team-{rnd.randrange(5)}"}}

    def peer(ingress: bool) -> dict:
        r = rnd.random()
        if r < 0.35:
            return {"namespaces": team()}
        if r < 0.65 or ingress:
            return {
                "pods": {
                    "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                    "podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(APPS)}"}},
                }
            }
        n = rnd.randrange(NAMESPACES)
        return {"networks": [f"10.{n}.0.0/16"] if rnd.random() < 0.8 else ["0.0.0.0/0"]}

    def protocols(peers: list[dict]) -> list[dict] | None:
        r = rnd.random()
        if r < 0.3:
            return None
        if r < 0.5 and not any("networks" in p for p in peers):
            return [{"destinationNamedPort": "metrics"}]
        if r < 0.8:
            return [{"tcp": {"destinationPort": {"number": 8080}}}, {"udp": {"destinationPort": {"number": 53}}}]
        return [{"tcp": {"destinationPort": {"range": {"start": 9000, "end": 9100}}}}]

    for k in range(count):
        tier = "Admin" if k < count // 2 else "Baseline"
        if rnd.random() < 0.6:
            subject: dict = {"namespaces": team()}
        else:
            subject = {
                "pods": {
                    "namespaceSelector": {"matchLabels": {"env": rnd.choice(["prod", "dev"])}},
                    "podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(APPS)}"}},
                }
            }
        spec: dict = {"tier": tier, "priority": priorities[k], "subject": subject}
        for direction, key in (("ingress", "from"), ("egress", "to")):
            rules = []
            for _ in range(rnd.randint(0, 3)):
                peers = [peer(direction == "ingress") for _ in range(rnd.randint(1, 2))]
                actions = ["Accept", "Deny", "Pass"] if tier == "Admin" else ["Accept", "Deny"]
                rule: dict = {"action": rnd.choice(actions), key: peers}
                p = protocols(peers)
                if p:
                    rule["protocols"] = p
                rules.append(rule)
            if rules:
                spec[direction] = rules
        out.append(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {"name": f"{tier.lower()}-{k}"},
                "spec": spec,
            }
        )
    return out


def cluster_objects(args: argparse.Namespace, cluster_policies: int) -> list[dict]:
    objs = synthetic_objects(args.pods, args.policies, args.seed)
    return objs + synthetic_cluster_policies(cluster_policies, args.seed)


def port_list_for(count: int) -> list[tuple[int, Protocol]]:
    ports = [(8080, Protocol.TCP), (9090, Protocol.TCP), (53, Protocol.UDP)][:count]
    return ports + [(10000 + i, Protocol.TCP) for i in range(count - len(ports))]


def write_yaml(objs: list[dict], directory: Path) -> None:
    """The synthetic cluster as manifests, one file per kind, as a user would keep them."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    for kind, docs in by_kind.items():
        with open(directory / f"{kind.lower()}s.yaml", "w", encoding="utf-8") as fh:
            yaml.dump_all(docs, fh, Dumper=dumper, sort_keys=False)


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


# -- child phases (each in its own process, so peak RSS belongs to that phase alone) --------------


def phase_matrix(args: argparse.Namespace) -> dict:
    port_list = port_list_for(args.ports)
    objs = cluster_objects(args, args.with_cluster_policies)
    t0 = time.perf_counter()
    snap = snapshot_from_objects((o, Origin("synthetic", i)) for i, o in enumerate(objs))
    out: dict = {
        "load_s": time.perf_counter() - t0,
        "pods": len(snap.pods),
        "policies": len(snap.policies),
        "cluster_policies": len(snap.cluster_policies),
    }
    del objs
    gc.collect()
    out["rss0"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t0, c0 = time.perf_counter(), time.process_time()
    model = PolicyModel(snap)
    rows = expected_matrix(snap, port_list, model=model)
    out["matrix_wall"], out["matrix_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["rss1"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["rows"] = len(rows)

    # a consumer walking every row as an ExpectedRow (what plain `for r in rows` costs)
    t0, c0 = time.perf_counter(), time.process_time()
    out["allowed"] = sum(1 for r in rows if r.decision == "allow")
    out["unsettled"] = sum(1 for r in rows if r.decision not in ("allow", "deny"))
    out["iter_wall"], out["iter_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["rss2"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    rnd = random.Random(args.seed + 1)
    sample = [rnd.randrange(len(rows)) for _ in range(args.sample)]
    pods = {pod.key: pod for pod in snap.pods}
    picked = [rows[i] for i in sample]
    t0, c0 = time.perf_counter(), time.process_time()
    verdicts = [model.evaluate(pods[r.source], pods[r.destination], r.port, r.protocol) for r in picked]
    t_pair, c_pair = time.perf_counter() - t0, time.process_time() - c0
    out["mismatches"] = sum(1 for r, v in zip(picked, verdicts, strict=False) if (v.decision, v.reason) != tuple(r[4:]))
    out["pair_us"] = t_pair / len(sample) * 1e6
    out["pair_full_wall"] = t_pair / len(sample) * len(rows)
    out["pair_full_cpu"] = c_pair / len(sample) * len(rows)
    if args.yaml_dir:
        t0 = time.perf_counter()
        load_manifests([args.yaml_dir])
        out["yaml_load_s"] = time.perf_counter() - t0
    return out


def phase_tracemalloc(args: argparse.Namespace) -> dict:
    """Python-heap peak of computing the matrix (tracing slows allocation, so timed elsewhere)."""
    objs = cluster_objects(args, args.with_cluster_policies)
    snap = snapshot_from_objects((o, Origin("synthetic", i)) for i, o in enumerate(objs))
    del objs
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rows = expected_matrix(snap, port_list_for(args.ports), model=PolicyModel(snap))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"traced_peak": peak - base, "traced_kept": current - base, "rows": len(rows)}


def run_child(cmd: list[str], stdout=subprocess.PIPE, keep: bool = True) -> tuple[float, object, bytes, tuple]:
    """Run a child; return (wall, its own rusage via wait4, stdout if kept, (sha256, bytes, lines)).

    wait4 gives exactly /usr/bin/time's accounting of that one child; the
    ``RUSAGE_CHILDREN`` delta around it must agree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    kept, sha, size, lines = [], hashlib.sha256(), 0, 0
    if stdout is subprocess.PIPE:
        while chunk := proc.stdout.read(1 << 20):
            sha.update(chunk)
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
            if keep:
                kept.append(chunk)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    cpu_delta = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert abs(cpu_delta - (usage.ru_utime + usage.ru_stime)) < 0.05, "RUSAGE_CHILDREN and wait4 disagree"
    return wall, usage, b"".join(kept), (sha.hexdigest()[:16], size, lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--ports", type=int, default=3)
    ap.add_argument("--sample", type=int, default=20000, help="pairwise baseline triples")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end `kubereach predict -o csv` run")
    ap.add_argument(
        "--cli-digest",
        action="store_true",
        help="also pipe the CLI's CSV through sha256 (to compare two versions' output byte for byte)",
    )
    ap.add_argument(
        "--cluster-policies",
        type=int,
        default=100,
        help="ClusterNetworkPolicies (half Admin, half Baseline) added for run (c); 0 skips it",
    )
    ap.add_argument("--phase", choices=["matrix", "tracemalloc"], help=argparse.SUPPRESS)
    ap.add_argument("--with-cluster-policies", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--yaml-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        result = phase_matrix(args) if args.phase == "matrix" else phase_tracemalloc(args)
        print(json.dumps(result))
        return

    me = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--pods",
        str(args.pods),
        "--policies",
        str(args.policies),
        "--ports",
        str(args.ports),
        "--sample",
        str(args.sample),
        "--seed",
        str(args.seed),
    ]
    with tempfile.TemporaryDirectory(prefix="kr-bench-predict-") as tmp:
        write_yaml(synthetic_objects(args.pods, args.policies, args.seed), Path(tmp))
        _, m_usage, data, _ = run_child(me + ["--phase", "matrix", "--yaml-dir", tmp])
        m = json.loads(data)
        _, _, data, _ = run_child(me + ["--phase", "tracemalloc"])
        tm = json.loads(data)
        tiered = None
        if args.cluster_policies:
            extra = ["--with-cluster-policies", str(args.cluster_policies)]
            _, t_usage, data, _ = run_child(me + ["--phase", "matrix", *extra])
            _, _, data_tm, _ = run_child(me + ["--phase", "tracemalloc", *extra])
            tiered = (json.loads(data), json.loads(data_tm), t_usage)
        cli = None
        if not args.no_cli:
            cmd = [str(Path(sys.executable).parent / "kubereach"), "predict", "-f", tmp, "-o", "csv"]
            for port, proto in port_list_for(args.ports):
                cmd += ["--port", f"{port}/{proto}"]
            with open(os.devnull, "wb") as null:
                cli = run_child(cmd, stdout=null)
            if args.cli_digest:
                digest = run_child(cmd, keep=False)[3]

    rows, t_fast, c_fast = m["rows"], m["matrix_wall"], m["matrix_cpu"]
    print(
        f"cluster: {m['pods']} pods, {m['policies']} policies, {args.ports} ports -> {rows:,} rows "
        f"({m['allowed']:,} allowed); snapshot build {m['load_s']:.2f} s"
    )
    print(
        f"(a) matrix:          wall {t_fast:.2f} s, CPU {c_fast:.2f} s (the box is shared: CPU is the steadier figure)"
    )
    print(
        f"    memory:          peak RSS {_mib(m['rss1'])} (+{_mib(m['rss1'] - m['rss0'])} over the loaded snapshot); "
        f"tracemalloc peak {tm['traced_peak'] / 2**20:.0f} MiB, kept {tm['traced_kept'] / 2**20:.0f} MiB"
    )
    print(
        f"    iterating every row as ExpectedRow: wall {m['iter_wall']:.2f} s, CPU {m['iter_cpu']:.2f} s, "
        f"peak RSS after {_mib(m['rss2'])}"
    )
    print(
        f"pairwise baseline:   {m['pair_us']:.1f} us per verdict on {args.sample:,} sampled triples "
        f"-> {m['pair_full_wall']:.0f} s extrapolated for the full matrix"
    )
    print(
        f"ratio baseline/matrix: wall {m['pair_full_wall'] / t_fast:.0f}x, CPU {m['pair_full_cpu'] / c_fast:.0f}x; "
        f"sampled verdict mismatches: {m['mismatches']}"
    )
    if cli is not None:
        wall, usage, _, _ = cli
        cpu = usage.ru_utime + usage.ru_stime
        print(
            f"(b) CLI `kubereach predict -o csv` (YAML -> CSV to /dev/null, one child, wait4 rusage): "
            f"wall {wall:.2f} s, CPU {cpu:.2f} s (user {usage.ru_utime:.2f} + sys {usage.ru_stime:.2f}), "
            f"peak RSS {_mib(usage.ru_maxrss)}"
        )
        if "yaml_load_s" in m:
            print(
                f"    of which loading the YAML manifests (load_manifests, measured separately): "
                f"{m['yaml_load_s']:.2f} s"
            )
        if args.cli_digest:
            print(f"    CSV sha256 {digest[0]}, {digest[1]:,} bytes, {digest[2]:,} lines")
    target = "MET" if t_fast < 10 and m["rss1"] < 2 * 1024 * 1024 else "MISSED"
    print(f"target (matrix < 10 s, < 2 GiB): {target}")
    print(f"matrix phase child: CPU {m_usage.ru_utime + m_usage.ru_stime:.2f} s, peak RSS {_mib(m_usage.ru_maxrss)}")
    if tiered is not None:
        t, ttm, t_usage = tiered
        print(
            f"(c) with {t['cluster_policies']} ClusterNetworkPolicies (half Admin, half Baseline) added: "
            f"{t['rows']:,} rows ({t['allowed']:,} allowed, {t['unsettled']:,} undefined/unknown)"
        )
        print(
            f"    matrix:          wall {t['matrix_wall']:.2f} s, CPU {t['matrix_cpu']:.2f} s   "
            f"(plain run (a): wall {t_fast:.2f} s, CPU {c_fast:.2f} s)"
        )
        print(
            f"    memory:          peak RSS {_mib(t['rss1'])} "
            f"(+{_mib(t['rss1'] - t['rss0'])} over the loaded snapshot); "
            f"tracemalloc peak {ttm['traced_peak'] / 2**20:.0f} MiB   "
            f"(plain: {_mib(m['rss1'])}, {tm['traced_peak'] / 2**20:.0f} MiB)"
        )
        print(
            f"    pairwise baseline: {t['pair_us']:.1f} us per verdict -> {t['pair_full_wall']:.0f} s extrapolated; "
            f"sampled verdict mismatches: {t['mismatches']}"
        )
        target = "MET" if t["matrix_wall"] < 10 and t["rss1"] < 2 * 1024 * 1024 else "MISSED"
        print(f"    target (matrix < 10 s, < 2 GiB): {target}")
        print(
            f"    matrix phase child: CPU {t_usage.ru_utime + t_usage.ru_stime:.2f} s, "
            f"peak RSS {_mib(t_usage.ru_maxrss)}"
        )


if __name__ == "__main__":
    main()
