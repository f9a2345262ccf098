"""``sweep --format json``: the whole result of a sweep as one JSON document on stdout.

``{"summary": {...}, "rows": [...]}``: the summary carries what a script branches on
(exit code, completeness, counts per scope and verdict, drift against the baseline, the
results folder); ``rows`` are the rows of ``probes.csv``, every column, typed (``port``
an integer, ``latency_ms`` a number or null). The rows are streamed from the results
folder's ``probes.csv`` a chunk at a time, so memory stays flat however many there are,
and columns added by newer versions come along.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator, Mapping
from typing import Any

from orchestrator.reports.rundir import dig, mapping_at

# Rows per chunk of output text.
CHUNK = 5000


def summary_of(info: Mapping[str, Any], results_dir: str, drift: Any = None) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for key, n in mapping_at(info, "verdicts").items():
        scope, _, verdict = str(key).partition("/")
        counts.setdefault(scope, {})[verdict] = n
    keys = (
        "sweep_id",
        "context",
        "namespaces",
        "started_at",
        "wall_s",
        "agents",
        "probes",
        "reprobed",
        "complete",
        "ended",
        "ended_detail",
    )
    summary: dict[str, Any] = {k: info.get(k) for k in keys}
    summary["sweep_id"] = summary["sweep_id"] or dig(info, "options.sweep.sweep_id")
    summary.update(
        {
            "exit_code": info.get("exit_code"),
            "counts": counts,
            "results_dir": results_dir,
            "skipped": info.get("skipped", []),
            "notes": info.get("notes", []),
            "drift": None,
        }
    )
    if drift is not None:
        summary["drift"] = {"baseline": drift.baseline, "counts": drift.counts, "unmeasured": drift.unmeasured}
    return summary


def _typed(row: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    with contextlib.suppress(KeyError, ValueError):
        out["port"] = int(row["port"])
    latency = row.get("latency_ms")
    if latency is not None:
        try:
            out["latency_ms"] = float(latency) if latency != "" else None
        except ValueError:
            out["latency_ms"] = None
    return out


def iter_result_json(summary: Mapping[str, Any], probes_csv: str) -> Iterator[str]:
    """The document in pieces: the summary, then the rows of ``probes_csv``."""
    yield '{"summary": ' + json.dumps(summary, default=str) + ', "rows": ['
    with open(probes_csv, encoding="utf-8", newline="") as fh:
        chunk: list[str] = []
        first = True
        for row in csv.DictReader(fh):
            chunk.append(json.dumps(_typed(row)))
            if len(chunk) >= CHUNK:
                yield ("\n" if first else ",\n") + ",\n".join(chunk)
                first, chunk = False, []
        if chunk:
            yield ("\n" if first else ",\n") + ",\n".join(chunk)
    yield "\n]}\n"


__all__ = ["iter_result_json", "summary_of"]
