"""Results folders built by hand for the report and diff tests: probes.csv, run.json and
snapshot.json as a sweep writes them, from a few readable rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from orchestrator.sweep.compare import PROBES_COLUMNS


def row(
    source: str,
    destination: str,
    port: int = 8080,
    *,
    expected: str = "allow",
    observed: str | None = None,
    scope: str = "pod",
    protocol: str = "TCP",
    state: str | None = None,
    latency_ms: float | None = 0.5,
    reason: str | None = None,
    evidence: str | None = None,
    confirmed: str = "",
    **extra: str,
) -> dict[str, object]:
    """One probes.csv row; the verdict follows from expected and observed."""
    observed = observed or expected
    state = state or {"allow": "open", "deny": "filtered", "inconclusive": "error"}[observed]
    if observed == "inconclusive":
        verdict = "inconclusive"
    elif observed == expected:
        verdict = "ok"
    else:
        verdict = "unexpected-allow" if observed == "allow" else "unexpected-deny"
    out: dict[str, object] = {
        "source": source,
        "destination": destination,
        "port": port,
        "protocol": protocol,
        "scope": scope,
        "expected": expected,
        "observed": observed,
        "state": state,
        "verdict": verdict,
        "evidence": evidence if evidence is not None else f"connect: {state}",
        "latency_ms": "" if latency_ms is None else latency_ms,
        "reason": reason if reason is not None else f"{expected} by test policy",
        "confirmed": confirmed or ("yes" if verdict.startswith("unexpected") else ""),
    }
    out.update(extra)
    return out


def pod(
    ns: str, name: str, *, workload: str | None = None, labels: Mapping[str, str] | None = None
) -> dict[str, object]:
    """A pod as snapshot.json records it (only what the reports read); ``workload``: ``Kind/name``."""
    kind, _, ref = (workload or "").partition("/")
    return {
        "namespace": ns,
        "name": name,
        "labels": dict(labels or {}),
        "workload": {"kind": kind, "name": ref} if workload else None,
    }


def write_run(
    directory: Path,
    rows: Iterable[Mapping[str, object]],
    *,
    run: Mapping[str, object] | None = None,
    pods: Sequence[Mapping[str, object]] | None = None,
    columns: Sequence[str] | None = None,
) -> Path:
    """A results folder at ``directory``; ``columns`` overrides the CSV header (older or newer
    folders); ``pods=None`` writes no snapshot.json."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    header = list(columns or PROBES_COLUMNS)
    for r in rows:
        for k in r:
            if k not in header and columns is None:
                header.append(k)
    with open(directory / "probes.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    info = {"sweep_id": "t0000001", "context": "test", "probes": len(rows), "agents": 1, "exit_code": 0}
    info.update(run or {})
    (directory / "run.json").write_text(json.dumps(info))
    if pods is not None:
        (directory / "snapshot.json").write_text(json.dumps({"namespaces": {}, "pods": list(pods)}))
    return directory
