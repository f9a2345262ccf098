"""Benchmark: the full expected matrix of a seeded synthetic cluster.

    .venv/bin/python tests/benchmarks/bench_predict.py [--pods 2000] [--policies 500] [--ports 3]

Prints the wall time and peak memory of ``expected_matrix`` (bitset precompute, the
real code path), and as a baseline the straightforward pairwise evaluation
(``PolicyModel.evaluate`` for every (source, destination, port)) measured in the same
run on a random sample of triples and extrapolated to the full matrix (running it in
full would take minutes on a shared 2-core box). It also checks that the sampled
baseline verdicts equal the matrix rows.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from orchestrator.model import PolicyModel, expected_matrix  # noqa: E402
from orchestrator.snapshot import Origin, snapshot_from_objects  # noqa: E402
from probe.schema import Protocol  # noqa: E402

APPS = 30          # distinct app labels per namespace: replicas share labels, like Deployments
NAMESPACES = 20


def synthetic_objects(pods: int, policies: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    objs: list[dict] = []
    for n in range(NAMESPACES):
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": f"ns-{n}", "labels": {"team": f"team-{n % 5}", "env": rnd.choice(["prod", "dev"])}}})
    for i in range(pods):
        n = i % NAMESPACES
        app = f"app-{rnd.randrange(APPS)}"
        ports = [{"name": "http", "containerPort": 8080}]
        if rnd.random() < 0.5:
            ports.append({"name": "metrics", "containerPort": 9090})
        if rnd.random() < 0.2:
            ports.append({"name": "dns", "containerPort": 53, "protocol": "UDP"})
        objs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"pod-{i}", "namespace": f"ns-{n}",
                                  "labels": {"app": app, "tier": rnd.choice(["web", "api", "db", "cache"])}},
                     "spec": {"containers": [{"name": "c", "image": "nginx", "ports": ports}]},
                     "status": {"podIP": f"10.{n}.{i // 250}.{i % 250 + 1}"}})

    def peer() -> dict:
        r = rnd.random()
        if r < 0.35:
            return {"podSelector": {"matchLabels": {"app": f"app-{rnd.randrange(APPS)}"}}}
        if r < 0.6:
            return {"namespaceSelector": {"matchLabels": {"team": f"team-{rnd.randrange(5)}"}},
                    "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                                          "values": rnd.sample(["web", "api", "db", "cache"], 2)}]}}
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
            objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": "default-deny", "namespace": f"ns-{n}"},
                         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
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
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": f"pol-{made}", "namespace": f"ns-{n}"}, "spec": spec})
        made += 1
    return objs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--ports", type=int, default=3)
    ap.add_argument("--sample", type=int, default=20000, help="pairwise baseline triples")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    port_list = [(8080, Protocol.TCP), (9090, Protocol.TCP), (53, Protocol.UDP)][: args.ports]
    port_list += [(10000 + i, Protocol.TCP) for i in range(args.ports - len(port_list))]

    objs = synthetic_objects(args.pods, args.policies, args.seed)
    t0 = time.perf_counter()
    snap = snapshot_from_objects((o, Origin("synthetic", i)) for i, o in enumerate(objs))
    t_load = time.perf_counter() - t0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t0, c0 = time.perf_counter(), time.process_time()
    model = PolicyModel(snap)
    rows = expected_matrix(snap, port_list, model=model)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    allowed = sum(1 for r in rows if r.decision == "allow")

    rnd = random.Random(args.seed + 1)
    n, p = len(snap.pods), len(port_list)
    sample = [rnd.randrange(len(rows)) for _ in range(args.sample)]
    pods = {pod.key: pod for pod in snap.pods}
    t0, c0 = time.perf_counter(), time.process_time()
    verdicts = [model.evaluate(pods[rows[i].source], pods[rows[i].destination], rows[i].port, rows[i].protocol)
                for i in sample]
    t_pair, c_pair = time.perf_counter() - t0, time.process_time() - c0
    mismatches = sum(1 for i, v in zip(sample, verdicts) if (v.decision, v.reason) != rows[i][4:])
    t_pair_full = t_pair / len(sample) * len(rows)

    print(f"cluster: {n} pods, {len(snap.policies)} policies, {p} ports -> {len(rows):,} rows "
          f"({allowed:,} allowed); snapshot build {t_load:.2f} s")
    print(f"matrix (bitsets):    wall {t_fast:.2f} s (CPU {c_fast:.2f} s; the box is shared), peak RSS {rss1 / 1024:.0f} MiB "
          f"(+{(rss1 - rss0) / 1024:.0f} MiB over the loaded snapshot)")
    print(f"pairwise baseline:   {t_pair / len(sample) * 1e6:.1f} us per verdict on {len(sample):,} sampled triples "
          f"-> {t_pair_full:.0f} s extrapolated for the full matrix")
    c_pair_full = c_pair / len(sample) * len(rows)
    print(f"ratio baseline/matrix: wall {t_pair_full / t_fast:.0f}x, CPU {c_pair_full / c_fast:.0f}x; sampled verdict mismatches: {mismatches}")
    target = "MET" if t_fast < 10 and rss1 < 2 * 1024 * 1024 else "MISSED"
    print(f"target (< 10 s, < 2 GiB): {target}")


if __name__ == "__main__":
    main()
