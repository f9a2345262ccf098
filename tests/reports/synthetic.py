"""A large results folder generated without a cluster: N pods in namespaces of 100, each
declaring 8080/TCP (every tenth also 9090/TCP), probed in full (every ordered pod pair on
every destination port), as a sweep would write it. Policies: each namespace admits
itself and, on 8080, the namespace before it; a few cells are faulted (unexpected-allow,
unexpected-deny) and a few did not measure. Latencies look measured: sub-millisecond
opens, timeouts around one second.

Used by the report's browser test (2,000 pods opens in the browser) and by
tests/benchmarks/bench_report.py. Vectorised with numpy and pandas: 2,000 pods (4.4
million rows) are written in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.sweep.compare import PROBES_COLUMNS

PODS_PER_NAMESPACE = 100


def synthetic_frame(pods: int, *, seed: int = 7) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """probes.csv's rows as a frame (PROBES_COLUMNS), and the faulted cells."""
    rng = np.random.default_rng(seed)
    namespaces = max(1, (pods + PODS_PER_NAMESPACE - 1) // PODS_PER_NAMESPACE)
    ns_of = np.arange(pods) % namespaces
    names = [f"team-{ns_of[i]:02d}/app-{i:04d}" for i in range(pods)]
    dest_pod = np.concatenate([np.arange(pods), np.arange(0, pods, 10)])
    dest_port = np.concatenate([np.full(pods, 8080), np.full(len(range(0, pods, 10)), 9090)])
    src = np.repeat(np.arange(pods), len(dest_pod))
    slot = np.tile(np.arange(len(dest_pod)), pods)
    keep = src != dest_pod[slot]
    src, slot = src[keep], slot[keep]
    dst, port = dest_pod[slot], dest_port[slot]
    same = ns_of[src] == ns_of[dst]
    previous = (ns_of[src] + 1) % namespaces == ns_of[dst]
    allow = same | (previous & (port == 8080))
    observed = allow.copy()
    n = len(src)
    faults = rng.choice(n, size=min(n, 6), replace=False)
    observed[faults] = ~observed[faults]
    unmeasured = rng.choice(n, size=min(n, 4), replace=False)
    inconclusive = np.zeros(n, dtype=bool)
    inconclusive[unmeasured] = True
    state_code = np.where(inconclusive, 2, np.where(observed, 0, 1))  # open, filtered, error
    verdict_code = np.where(inconclusive, 3, np.where(observed == allow, 0, np.where(observed, 1, 2)))
    latency = np.where(
        state_code == 0,
        np.round(rng.lognormal(-0.7, 0.5, n), 3),
        np.where(state_code == 1, np.round(1000 + rng.random(n) * 4, 3), np.nan),
    )
    reason_code = np.where(allow, np.where(same, 0, 1), 2) * namespaces + ns_of[dst]
    reasons = [
        f"egress: not isolated; ingress: allowed by team-{k:02d}/{what} ingress rule 0"
        if kind < 2
        else f"egress: not isolated; ingress: isolated by team-{k:02d}/default-deny and no rule allows it"
        for kind, what in enumerate(("allow-same-namespace", "allow-previous-namespace", ""))
        for k in range(namespaces)
    ]

    def cat(codes: np.ndarray, categories: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes.astype(np.int32), categories=categories)

    frame = pd.DataFrame(
        {
            "source": cat(src, names),
            "destination": cat(dst, names),
            "port": port,
            "protocol": "TCP",
            "scope": "pod",
            "expected": cat(np.where(allow, 0, 1), ["allow", "deny"]),
            "observed": cat(np.where(inconclusive, 2, np.where(observed, 0, 1)), ["allow", "deny", "inconclusive"]),
            "state": cat(state_code, ["open", "filtered", "error"]),
            "verdict": cat(verdict_code, ["ok", "unexpected-allow", "unexpected-deny", "inconclusive"]),
            "evidence": cat(
                state_code, ["connect: connected", "connect: timeout after 2 attempts", "agent: not measured"]
            ),
            "latency_ms": latency,
            "reason": cat(reason_code, reasons),
            "confirmed": cat(np.where(verdict_code == 1, 1, np.where(verdict_code == 2, 1, 0)), ["", "yes"]),
        },
        columns=list(PROBES_COLUMNS),
    )
    faulted = [
        {
            "source": names[src[i]],
            "destination": names[dst[i]],
            "port": int(port[i]),
            "verdict": ["ok", "unexpected-allow", "unexpected-deny", "inconclusive"][verdict_code[i]],
        }
        for i in faults
    ]
    return frame, faulted


def write_synthetic_run(directory: Path, pods: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Write the folder (probes.csv, run.json, snapshot.json); returns the faulted cells."""
    frame, faulted = synthetic_frame(pods, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "probes.csv", index=False, lineterminator="\n")
    counts = frame.groupby(["scope", "verdict"], observed=True).size()
    run = {
        "sweep_id": f"syn{pods:05d}",
        "context": "synthetic",
        "namespaces": "all",
        "agents": pods,
        "probes": len(frame),
        "complete": True,
        "exit_code": 1,
        "verdicts": {f"{s}/{v}": int(n) for (s, v), n in counts.items()},
    }
    (directory / "run.json").write_text(json.dumps(run))
    (directory / "snapshot.json").write_text(json.dumps({"namespaces": {}, "pods": []}))
    return faulted
