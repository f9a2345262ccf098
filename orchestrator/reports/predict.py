"""Render the expected matrix of ``kubereach predict`` as CSV, JSON or a terminal table.

Owns the output contract of DESIGN.md: CSV columns exactly
``source,destination,port,protocol,verdict,reason`` (pod rows ``namespace/pod``,
intra-pod rows ``namespace/pod/container``, verdict ``allow``/``deny``). Every
function returns a string; the CLI writes it to stdout.

The table reuses cyclonus' glyphs (``.`` allowed, ``X`` blocked). Past
``MAX_GRID_PODS`` pods an N x N grid is unreadable in a terminal, so the table
becomes a per-namespace summary plus the isolated pods and the denied pairs.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Sequence

from tabulate import tabulate

from probe.intrapod_rules import Finding

CSV_COLUMNS = ("source", "destination", "port", "protocol", "verdict", "reason")
MAX_GRID_PODS = 30       # a 30-column grid of numbered columns still fits a 132-column terminal
MAX_LISTED_PAIRS = 200   # beyond this the table points at -o csv instead of scrolling forever
ALLOW_GLYPH, DENY_GLYPH, NA_GLYPH = ".", "X", " "
LEGEND = (f"legend: '{ALLOW_GLYPH}' allowed   '{DENY_GLYPH}' blocked   "
          f"'-' not evaluated (the destination does not declare this port)")


@dataclass(frozen=True, slots=True)
class Prediction:
    """Everything ``predict`` shows: pod rows, intra-pod rows, findings and who is isolated."""

    pods: Sequence[str]                                   # namespace/pod, snapshot order
    rows: Sequence[tuple]                                 # ExpectedRow-shaped (pod level)
    intrapod_rows: Sequence[tuple] = ()                   # IntraPodRow
    findings: Mapping[str, list[Finding]] = field(default_factory=dict)
    isolation: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    # pod -> (policies isolating its ingress, policies isolating its egress)
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)

    def all_rows(self) -> Iterable[tuple]:
        yield from self.rows
        yield from self.intrapod_rows


def iter_csv(rows: Iterable[tuple], *, chunk_rows: int = 20_000) -> Iterator[str]:
    """The CSV in pieces, so millions of rows stream to stdout without one giant string."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, (source, destination, port, protocol, decision, reason) in enumerate(rows, 1):
        writer.writerow((source, destination, port, str(protocol), str(decision), reason))
        if i % chunk_rows == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def render_csv(rows: Iterable[tuple]) -> str:
    return "".join(iter_csv(rows))


def _row_dict(row: tuple, scope: str) -> dict:
    source, destination, port, protocol, decision, reason = row
    return {"source": source, "destination": destination, "port": port, "protocol": str(protocol),
            "verdict": str(decision), "reason": reason, "scope": scope}


def render_json(prediction: Prediction) -> str:
    doc = {
        "rows": [_row_dict(r, "pod") for r in prediction.rows]
        + [_row_dict(r, "intra-pod") for r in prediction.intrapod_rows],
        "findings": [{"pod": pod, "code": str(f.code), "containers": list(f.containers), "message": f.message}
                     for pod, found in prediction.findings.items() for f in found],
        "isolated": {pod: {"ingress": list(i), "egress": list(e)}
                     for pod, (i, e) in prediction.isolation.items() if i or e},
        "skipped_kinds": dict(prediction.skipped_kinds),
    }
    return json.dumps(doc, indent=2) + "\n"


def _port_label(port: int, protocol: object) -> str:
    return f"{port}/{protocol}"


def _grids(prediction: Prediction) -> list[str]:
    index = {pod: i for i, pod in enumerate(prediction.pods, 1)}
    by_port: dict[tuple[int, str], dict[tuple[str, str], str]] = defaultdict(dict)
    for source, destination, port, protocol, decision, _ in prediction.rows:
        by_port[(port, str(protocol))][(source, destination)] = (
            ALLOW_GLYPH if str(decision) == "allow" else DENY_GLYPH)
    parts = []
    for (port, protocol), cells in sorted(by_port.items()):
        dests = [p for p in prediction.pods if any((s, p) in cells for s in prediction.pods)]
        table = []
        for src in prediction.pods:
            table.append([f"{index[src]:>2} {src}"] + [cells.get((src, d), "-") for d in dests])
        headers = [f"{_port_label(port, protocol)}  from \\ to"] + [str(index[d]) for d in dests]
        parts.append(tabulate(table, headers=headers, tablefmt="simple",
                              colalign=("left",) + ("center",) * len(dests)))
    return parts


def _summary(prediction: Prediction) -> list[str]:
    ns = lambda key: key.split("/", 1)[0]  # noqa: E731
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    denied = []
    for source, destination, port, protocol, decision, _ in prediction.rows:
        c = counts[(ns(source), ns(destination))]
        if str(decision) == "allow":
            c[0] += 1
        else:
            c[1] += 1
            if len(denied) <= MAX_LISTED_PAIRS:
                denied.append((source, destination, _port_label(port, protocol)))
    summary = tabulate([[s, d, a, x] for (s, d), (a, x) in sorted(counts.items())],
                       headers=["from namespace", "to namespace", "allowed", "blocked"], tablefmt="simple")
    isolated = [[pod, ", ".join(i) or "-", ", ".join(e) or "-"]
                for pod, (i, e) in prediction.isolation.items() if i or e]
    parts = [f"{len(prediction.pods)} pods: too many for a grid (> {MAX_GRID_PODS}); per-namespace summary",
             summary]
    if isolated:
        shown = isolated[:MAX_LISTED_PAIRS]
        parts.append(f"isolated pods ({len(isolated)}):\n"
                     + tabulate(shown, headers=["pod", "ingress isolated by", "egress isolated by"],
                                tablefmt="simple")
                     + (f"\n... {len(isolated) - len(shown)} more" if len(isolated) > len(shown) else ""))
    if denied:
        total = sum(x for _, x in counts.values())
        shown = denied[:MAX_LISTED_PAIRS]
        text = tabulate(shown, headers=["blocked: from", "to", "port"], tablefmt="simple")
        if total > len(shown):
            text += f"\n... {total - len(shown)} more blocked pairs (use -o csv for all, with reasons)"
        parts.append(text)
    return parts


def _intrapod(prediction: Prediction) -> list[str]:
    parts = []
    by_pod: dict[str, list[tuple]] = defaultdict(list)
    for row in prediction.intrapod_rows:
        by_pod[row[0].rsplit("/", 1)[0]].append(row)
    for pod, rows in by_pod.items():
        targets = sorted({(r[1].rsplit("/", 1)[1], r[2], str(r[3])) for r in rows})
        sources = list(dict.fromkeys(r[0].rsplit("/", 1)[1] for r in rows))
        cells = {(r[0].rsplit("/", 1)[1], r[1].rsplit("/", 1)[1], r[2], str(r[3])):
                 ALLOW_GLYPH if str(r[4]) == "allow" else DENY_GLYPH for r in rows}
        table = [[s] + [cells.get((s, c, p, pr), "-") for c, p, pr in targets] for s in sources]
        headers = [f"intra-pod {pod}  from \\ to"] + [f"{c}:{p}/{pr}" for c, p, pr in targets]
        parts.append(tabulate(table, headers=headers, tablefmt="simple",
                              colalign=("left",) + ("center",) * len(targets)))
    for pod, found in prediction.findings.items():
        for f in found:
            parts.append(f"warning: {pod}: {f.message} [{f.code}]")
    return parts


def render_table(prediction: Prediction, *, max_grid_pods: int = MAX_GRID_PODS) -> str:
    if not prediction.pods:
        return "no pods in the manifests\n"
    if len(prediction.pods) <= max_grid_pods:
        parts = _grids(prediction) or ["no pod declares a container port (use --port 80/TCP)"]
    else:
        parts = _summary(prediction)
    parts += _intrapod(prediction)
    parts.append(LEGEND)
    return "\n\n".join(parts) + "\n"
