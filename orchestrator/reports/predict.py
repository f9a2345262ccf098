"""Render the expected matrix of ``kubereach predict`` as CSV, JSON or a terminal table.

Owns the output contract of DESIGN.md: CSV columns exactly
``source,destination,port,protocol,verdict,reason`` (pod rows ``namespace/pod``,
intra-pod rows ``namespace/pod/container``, verdict ``allow``/``deny``; with cluster policy
tiers also ``undefined`` — equal-priority policies disagree, the API leaves it to the
implementation — and ``unknown`` — it depends on what a snapshot cannot show; never a guessed
allow or deny). Every function returns a string; the ``iter_*`` variants give the same text
in pieces so the CLI can stream millions of rows. With cluster policies, JSON also lists the
policies of each tier (``tiers``) and the table shows them; without, output is as it was.

The pod rows are usually an :class:`~orchestrator.model.matrix.ExpectedMatrix`
(one class number per row): CSV and JSON are then assembled per source row from
per-class and per-destination text fragments with C-level joins, never building a
row object; any other iterable of row tuples takes the plain path. Both give
byte-identical text (tests check it).

The table reuses cyclonus' glyphs (``.`` allowed, ``X`` blocked, ``?`` unknown; ``*``
undefined). Pods of one
workload (live: by owner; ``--replicas``: the declared replicas) share one row and one
column, labelled ``namespace/workload [Kind, N pods]``, with ``~`` where its pods
disagree; a representative pod is ``namespace/workload [Kind]``. Past ``MAX_GRID_PODS``
rows an N x N grid is unreadable in a terminal, so the table becomes a per-namespace
summary plus the isolated pods and the denied pairs. The CSV always has every pod.

``render_load_summary(snapshot)`` is what ``predict`` says on stderr about what it read.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, TypeVar

from tabulate import tabulate

from orchestrator.model.matrix import ExpectedMatrix
from orchestrator.model.verdict import Decision
from orchestrator.snapshot.types import Snapshot
from probe.intrapod_rules import Finding
from probe.schema import Protocol

if TYPE_CHECKING:
    from orchestrator.model.matrix import _PortBlock  # the items of ExpectedMatrix.blocks()
    from orchestrator.snapshot.types import Snapshot

# ExpectedRow and IntraPodRow: source, destination, port, protocol, decision, reason
PredictionRow = tuple[str, str, int, Protocol, Decision, str]
_K = TypeVar("_K")
_V = TypeVar("_V")

CSV_COLUMNS = ("source", "destination", "port", "protocol", "verdict", "reason")
MAX_GRID_PODS = 30  # a 30-column grid of numbered columns still fits a 132-column terminal
MAX_LISTED_PAIRS = 200  # beyond this the table points at -o csv instead of scrolling forever
ALLOW_GLYPH, DENY_GLYPH, NA_GLYPH, MIXED_GLYPH = ".", "X", " ", "~"
UNDEFINED_GLYPH, UNKNOWN_GLYPH = "*", "?"  # cyclonus uses '?' for unknown; '~' is taken (mixed)
GLYPHS = {"allow": ALLOW_GLYPH, "deny": DENY_GLYPH, "undefined": UNDEFINED_GLYPH, "unknown": UNKNOWN_GLYPH}
LEGEND = (
    f"legend: '{ALLOW_GLYPH}' allowed   '{DENY_GLYPH}' blocked   "
    f"'-' not evaluated (the destination does not declare this port)"
)
MIXED_LEGEND = f"        '{MIXED_GLYPH}' differs between the pods of a workload (-o csv has every pod)"
MAX_LISTED_MEMBERS = 4  # pod names listed per workload row under the grid


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What a pod is, for tables and JSON: ``Deployment`` pod of ``shop/web``, or a bare Pod."""

    kind: str  # "Pod" for a bare pod, else the workload's kind
    workload: str | None = None  # namespace/name of the workload that runs it
    representative: bool = False  # one pod standing for every replica (named like the workload)
    ips: tuple[str, ...] = ()
    synthetic_ip: bool = False  # the IP was made up (the manifests carry none)


LEGEND_UNSETTLED = (
    f"        '{UNDEFINED_GLYPH}' undefined (equal-priority cluster policies disagree)   "
    f"'{UNKNOWN_GLYPH}' unknown (not evaluable from manifests: domainNames, nodes); -o csv says why"
)
TIERS = ("Admin", "NetworkPolicy", "Baseline")  # evaluation order


@dataclass(frozen=True, slots=True)
class TierListing:
    """One policy of one tier as ``predict`` lists it."""

    name: str  # cnp/x, anp/x, banp/default, namespace/name
    kind: str
    api_version: str
    priority: int | None  # cluster policies; None for NetworkPolicies and a BaselineAdminNetworkPolicy
    selects: int  # pods its subject selects (NetworkPolicies: pods it isolates)
    ingress_rules: int | None = None
    egress_rules: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind, "apiVersion": self.api_version}
        if self.kind != "NetworkPolicy":
            out |= {"priority": self.priority, "ingress_rules": self.ingress_rules, "egress_rules": self.egress_rules}
        out["selects"] = self.selects
        return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """Everything ``predict`` shows: pod rows, intra-pod rows, findings and who is isolated."""

    pods: Sequence[str]  # namespace/pod, snapshot order
    rows: Sequence[PredictionRow]  # ExpectedRow (pod level)
    intrapod_rows: Sequence[PredictionRow] = ()  # IntraPodRow
    findings: Mapping[str, list[Finding]] = field(default_factory=dict)
    isolation: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    # pod -> (policies isolating its ingress, policies isolating its egress)
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)
    pod_info: Mapping[str, PodInfo] = field(default_factory=dict)  # pod -> what it is (default: a bare Pod)
    notes: Sequence[str] = ()  # for stderr: how the verdicts were made (synthetic IPs, ...)
    tiers: Mapping[str, list[TierListing]] = field(default_factory=dict)  # empty: no cluster policies
    load_notes: tuple[str, ...] = ()  # what the snapshot could not represent (e.g. an unrelated API), for JSON

    def info(self, pod: str) -> PodInfo:
        return self.pod_info.get(pod) or PodInfo("Pod")

    def all_rows(self) -> Iterable[PredictionRow]:
        yield from self.rows
        yield from self.intrapod_rows


def _csv_field(value: object) -> str:
    """One field exactly as ``csv.writer`` (excel dialect, minimal quoting) writes it inside a row:
    quoted, with quotes doubled, iff it holds the delimiter, the quote or a character of
    the line terminator ("\\n"; a lone "\\r" stays bare). A test checks this against
    csv.writer on arbitrary text."""
    text = str(value)
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _Memo(dict[_K, _V]):
    """``memo[key]`` computes ``make(key)`` once."""

    def __init__(self, make: Callable[[_K], _V]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: _K) -> _V:
        value = self[key] = self.make(key)
        return value


def _interleave(
    matrix: ExpectedMatrix,
    head: Callable[[str], str],
    dest: Callable[[str], str],
    tail: Callable[[_PortBlock, int], Callable[[int], str]],
    *,
    rows_per_piece: int,
) -> Iterator[str]:
    """Text of every matrix row as ``head(source) + dest(destination) + tail(block)(class)``.

    Per source row the three kinds of fragment are interleaved by slice assignment and
    joined once: no per-row Python work beyond a dict lookup of the class fragment.
    """
    buf: list[str] = []
    rows = 0
    heads = [head(src) for src in matrix.sources]
    for block in matrix.blocks():
        m = block.width
        tails = _Memo(tail(block, block.port))
        parts: list[str] = [""] * (3 * m)
        parts[1::3] = [dest(d) for d in block.dest_keys]
        for s, h in enumerate(heads):
            parts[0::3] = [h] * m
            parts[2::3] = map(tails.__getitem__, block.row(s))
            buf.append("".join(parts))
            rows += m
            if rows >= rows_per_piece:
                yield "".join(buf)
                buf, rows = [], 0
    if buf:
        yield "".join(buf)


def _csv_matrix(matrix: ExpectedMatrix, rows_per_piece: int) -> Iterator[str]:
    quoted = _Memo(_csv_field)  # reasons are shared strings: quote each once

    verdicts: _Memo[Decision, str] = _Memo(lambda decision: _csv_field(decision) + ",")

    def tail(block: _PortBlock, port: int) -> Callable[[int], str]:
        fixed = f",{_csv_field(port)},{_csv_field(block.protocol)},"
        decision, reason = block.classes.decisions.__getitem__, block.classes.reasons.__getitem__
        return lambda cls: f"{fixed}{verdicts[decision(cls)]}{quoted[reason(cls)]}\n"

    return _interleave(matrix, lambda src: _csv_field(src) + ",", _csv_field, tail, rows_per_piece=rows_per_piece)


def _csv_rows(rows: Iterable[PredictionRow], chunk_rows: int, header: bool = False) -> Iterator[str]:
    """The rows as CSV lines (the header line first if asked), about ``chunk_rows`` rows a piece."""
    if isinstance(rows, ExpectedMatrix):
        if header:
            yield ",".join(map(_csv_field, CSV_COLUMNS)) + "\n"
        yield from _csv_matrix(rows, chunk_rows)
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for i, (source, destination, port, protocol, decision, reason) in enumerate(rows, 1):
        writer.writerow((source, destination, port, str(protocol), str(decision), reason))
        if i % chunk_rows == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell() or header:
        yield out.getvalue()


def iter_csv(rows: Iterable[PredictionRow], *, chunk_rows: int = 20_000) -> Iterator[str]:
    """The CSV in pieces, so millions of rows stream to stdout without one giant string.

    ``rows``: row tuples, or an ExpectedMatrix (fast path, same text)."""
    return _csv_rows(rows, chunk_rows, header=True)


def iter_prediction_csv(prediction: Prediction, *, chunk_rows: int = 20_000) -> Iterator[str]:
    """Header, pod rows, intra-pod rows: what ``predict -o csv`` prints."""
    yield from _csv_rows(prediction.rows, chunk_rows, header=True)
    yield from _csv_rows(prediction.intrapod_rows, chunk_rows)


def render_csv(rows: Iterable[PredictionRow]) -> str:
    return "".join(iter_csv(rows))


def _row_dict(row: PredictionRow, scope: str) -> dict[str, object]:
    source, destination, port, protocol, decision, reason = row
    return {
        "source": source,
        "destination": destination,
        "port": port,
        "protocol": str(protocol),
        "verdict": str(decision),
        "reason": reason,
        "scope": scope,
    }


# json.dumps(doc, indent=2) lays a row (a dict inside the "rows" list) out like this:
_JSON_ROW_HEAD = '    {\n      "source": '
_JSON_ROW_DEST = ',\n      "destination": '
_JSON_SEP = ",\n"
_JSON_PLACEHOLDER = "\x00rows\x00"


def _json_tail(port: object, protocol: object, decision: object, reason: str, scope: str) -> str:
    d = json.dumps
    return (
        f',\n      "port": {d(port)},\n      "protocol": {d(str(protocol))},\n      "verdict": {d(str(decision))},'
        f'\n      "reason": {d(reason)},\n      "scope": {d(scope)}\n    }}'
    )


def _json_rows(rows: Iterable[PredictionRow], scope: str) -> Iterator[str]:
    """Each row as json.dumps(doc, indent=2) writes it, each preceded by the separator."""
    if isinstance(rows, ExpectedMatrix):

        def tail(block: _PortBlock, port: int) -> Callable[[int], str]:
            return lambda cls: _json_tail(
                port, block.protocol, rows.decision(block, cls), rows.reason(block, cls), scope
            )

        yield from _interleave(
            rows,
            lambda src: f"{_JSON_SEP}{_JSON_ROW_HEAD}{json.dumps(src)}{_JSON_ROW_DEST}",
            json.dumps,
            tail,
            rows_per_piece=20_000,
        )
        return
    buf = []
    for source, destination, port, protocol, decision, reason in rows:
        buf.append(
            f"{_JSON_SEP}{_JSON_ROW_HEAD}{json.dumps(source)}{_JSON_ROW_DEST}{json.dumps(destination)}"
            + _json_tail(port, protocol, decision, reason, scope)
        )
        if len(buf) >= 20_000:
            yield "".join(buf)
            buf = []
    if buf:
        yield "".join(buf)


def iter_json(prediction: Prediction) -> Iterator[str]:
    """``render_json`` in pieces: the rows stream, the rest is one json.dumps."""
    doc = {
        "rows": [_JSON_PLACEHOLDER],
        "findings": [
            {
                "pod": pod,
                "code": str(f.code),
                "containers": list(f.containers),
                "message": f.message,
                "blocking": f.blocking,
            }
            for pod, found in prediction.findings.items()
            for f in found
        ],
        "isolated": {
            pod: {"ingress": list(i), "egress": list(e)} for pod, (i, e) in prediction.isolation.items() if i or e
        },
        "skipped_kinds": dict(prediction.skipped_kinds),
        "pods": [_pod_dict(pod, prediction.info(pod)) for pod in prediction.pods],
    }
    if prediction.tiers:  # only with cluster policies: NetworkPolicy-only output is as it was
        doc["tiers"] = {tier: [p.as_dict() for p in prediction.tiers.get(tier, [])] for tier in TIERS}
    if prediction.load_notes:
        doc["notes"] = list(prediction.load_notes)
    text = json.dumps(doc, indent=2)
    marker = "\n    " + json.dumps(_JSON_PLACEHOLDER) + "\n  "
    head, rest = text.split(marker, 1)  # head ends with '"rows": ['
    first = True
    for source, scope in ((prediction.rows, "pod"), (prediction.intrapod_rows, "intra-pod")):
        for piece in _json_rows(source, scope):
            if first:  # the first row has no separator before it
                yield head + "\n" + piece[len(_JSON_SEP) :]
                first = False
            else:
                yield piece
    if first:
        yield head + rest + "\n"  # no rows: json.dumps writes "rows": []
    else:
        yield "\n  " + rest + "\n"


def _pod_dict(pod: str, info: PodInfo) -> dict[str, object]:
    return {
        "pod": pod,
        "kind": info.kind,
        "workload": info.workload,
        "representative": info.representative,
        "ips": list(info.ips),
        "synthetic_ip": info.synthetic_ip,
    }


def render_json(prediction: Prediction) -> str:
    return "".join(iter_json(prediction))


def _port_label(port: int, protocol: object) -> str:
    return f"{port}/{protocol}"


@dataclass(frozen=True, slots=True)
class _Unit:
    """One row/column of the grid: a bare pod, a representative, or a workload's pods."""

    label: str
    pods: tuple[str, ...]


def _units(prediction: Prediction) -> list[_Unit]:
    """The grid's rows in first-seen order: pods of one workload together."""
    groups: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    for pod in prediction.pods:
        info = prediction.info(pod)
        key = ("pod", pod) if info.workload is None or info.representative else (info.kind, info.workload)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(pod)
    units = []
    for key in order:
        members = groups[key]
        if key[0] == "pod":
            info = prediction.info(key[1])
            label = f"{key[1]} [{info.kind}]" if info.representative else key[1]
        else:
            label = f"{key[1]} [{key[0]}, {len(members)} pod{'s' if len(members) != 1 else ''}]"
        units.append(_Unit(label, tuple(members)))
    return units


def _grids(prediction: Prediction, units: Sequence[_Unit]) -> list[str]:
    unit_of = {pod: i for i, u in enumerate(units) for pod in u.pods}
    by_port: dict[tuple[int, str], dict[tuple[int, int], set[str]]] = defaultdict(lambda: defaultdict(set))
    counts: dict[tuple[int, str], Counter[tuple[int, int]]] = defaultdict(Counter)
    for source, destination, port, protocol, decision, _ in prediction.rows:
        cell = (unit_of[source], unit_of[destination])
        by_port[(port, str(protocol))][cell].add(GLYPHS.get(str(decision), DENY_GLYPH))
        counts[(port, str(protocol))][cell] += 1
    parts = []
    for port_key, cells in sorted(by_port.items()):
        port, proto = port_key
        dests = [j for j in range(len(units)) if any((i, j) in cells for i in range(len(units)))]

        def glyph(
            i: int, j: int, _cells: Mapping[tuple[int, int], set[str]] = cells, _key: tuple[int, str] = port_key
        ) -> str:
            found = _cells.get((i, j))
            if not found:
                return "-"
            complete = counts[_key][(i, j)] == len(units[i].pods) * len(units[j].pods)
            return next(iter(found)) if len(found) == 1 and complete else MIXED_GLYPH

        table = [[f"{i + 1:>2} {u.label}"] + [glyph(i, j) for j in dests] for i, u in enumerate(units)]
        headers = [f"{_port_label(port, proto)}  from \\ to"] + [str(j + 1) for j in dests]
        parts.append(tabulate(table, headers=headers, tablefmt="simple", colalign=("left",) + ("center",) * len(dests)))
    return parts


def _members(units: Sequence[_Unit]) -> str | None:
    """Which pods each workload row stands for (the CSV names them all)."""
    lines = []
    for i, u in enumerate(units, 1):
        if len(u.pods) > 1 or u.label.split(" ", 1)[0] != u.pods[0]:
            names = [p.split("/", 1)[1] for p in u.pods]
            shown = ", ".join(names[:MAX_LISTED_MEMBERS])
            more = f", ... {len(names) - MAX_LISTED_MEMBERS} more" if len(names) > MAX_LISTED_MEMBERS else ""
            lines.append(f"{i:>2} {u.label}: {shown}{more}")
    return "pods per row:\n" + "\n".join(lines) if lines else None


def _ns(key: str) -> str:
    return key.split("/", 1)[0]


_CATEGORY = {"allow": 0, "deny": 1}  # anything else (undefined, unknown): 2


def _tally(rows: Iterable[PredictionRow]) -> tuple[dict[tuple[str, str], list[int]], list[tuple[str, str, str]]]:
    """[allowed, blocked, undefined or unknown] per (source namespace, destination namespace),
    and the first blocked rows."""
    if isinstance(rows, ExpectedMatrix):
        return _tally_matrix(rows)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    denied: list[tuple[str, str, str]] = []
    for source, destination, port, protocol, decision, _ in rows:
        category = _CATEGORY.get(str(decision), 2)
        counts[(_ns(source), _ns(destination))][category] += 1
        if category == 1 and len(denied) <= MAX_LISTED_PAIRS:
            denied.append((source, destination, _port_label(port, protocol)))
    return counts, denied


def _tally_matrix(matrix: ExpectedMatrix) -> tuple[dict[tuple[str, str], list[int]], list[tuple[str, str, str]]]:
    """Same as the row loop, counting class numbers per (source, destination namespace) in C."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    denied: list[tuple[str, str, str]] = []
    src_ns = [_ns(k) for k in matrix.sources]
    for block in matrix.blocks():
        groups: dict[str, list[int]] = {}
        for j, d in enumerate(block.dest_keys):
            groups.setdefault(_ns(d), []).append(j)
        pickers = [
            (dns, itemgetter(*js) if len(js) > 1 else (lambda r, _j=js[0]: (r[_j],)), len(js))
            for dns, js in groups.items()
        ]

        def category(cls: int, _b: _PortBlock = block) -> int:  # a def: mypy cannot type a lambda's default
            return _CATEGORY.get(str(matrix.decision(_b, cls)), 2)

        of = _Memo(category)
        label = _port_label(block.port, block.protocol)
        for s, sns in enumerate(src_ns):
            row = block.row(s)
            blocked_in_row = 0
            for dns, pick, _size in pickers:
                c = counts[(sns, dns)]
                for cls, k in Counter(pick(row)).items():
                    c[of[cls]] += k
                    blocked_in_row += k if of[cls] == 1 else 0
            if blocked_in_row and len(denied) <= MAX_LISTED_PAIRS:
                for j, cls in enumerate(row):
                    if of[cls] == 1:
                        denied.append((matrix.sources[s], block.dest_keys[j], label))
                        if len(denied) > MAX_LISTED_PAIRS:
                            break
    return counts, denied


def _summary(prediction: Prediction, units: Sequence[_Unit], max_grid_pods: int) -> tuple[list[str], bool]:
    """The per-namespace summary, and whether any row is undefined or unknown."""
    counts, denied = _tally(prediction.rows)
    unsettled = any(c[2] for c in counts.values())
    if unsettled:
        summary = tabulate(
            [[s, d, a, x, u] for (s, d), (a, x, u) in sorted(counts.items())],
            headers=["from namespace", "to namespace", "allowed", "blocked", "undefined/unknown"],
            tablefmt="simple",
        )
    else:
        summary = tabulate(
            [[s, d, a, x] for (s, d), (a, x, _) in sorted(counts.items())],
            headers=["from namespace", "to namespace", "allowed", "blocked"],
            tablefmt="simple",
        )
    isolated = []
    for unit in units:
        sides = {prediction.isolation.get(p, ((), ())) for p in unit.pods}
        for i, e in sorted(sides):
            if i or e:
                isolated.append([unit.label, ", ".join(i) or "-", ", ".join(e) or "-"])
    rows_text = (
        f" in {len(units)} rows (pods of one workload share a row)" if len(units) != len(prediction.pods) else ""
    )
    parts = [
        f"{len(prediction.pods)} pods{rows_text}: too many for a grid (> {max_grid_pods}); per-namespace summary",
        summary,
    ]
    if isolated:
        shown: Sequence[Sequence[str]] = isolated[:MAX_LISTED_PAIRS]
        parts.append(
            f"isolated pods ({len(isolated)} rows):\n"
            + tabulate(shown, headers=["pod", "ingress isolated by", "egress isolated by"], tablefmt="simple")
            + (f"\n... {len(isolated) - len(shown)} more" if len(isolated) > len(shown) else "")
        )
    if denied:
        total = sum(c[1] for c in counts.values())
        shown = denied[:MAX_LISTED_PAIRS]
        text = tabulate(shown, headers=["blocked: from", "to", "port"], tablefmt="simple")
        if total > len(shown):
            text += f"\n... {total - len(shown)} more blocked pairs (use -o csv for all, with reasons)"
        parts.append(text)
    return parts, unsettled


def _intrapod(prediction: Prediction) -> list[str]:
    parts = []
    by_pod: dict[str, list[PredictionRow]] = defaultdict(list)
    for row in prediction.intrapod_rows:
        by_pod[row[0].rsplit("/", 1)[0]].append(row)
    for pod, rows in by_pod.items():
        targets = sorted({(r[1].rsplit("/", 1)[1], r[2], str(r[3])) for r in rows})
        sources = list(dict.fromkeys(r[0].rsplit("/", 1)[1] for r in rows))
        cells = {
            (r[0].rsplit("/", 1)[1], r[1].rsplit("/", 1)[1], r[2], str(r[3])): ALLOW_GLYPH
            if str(r[4]) == "allow"
            else DENY_GLYPH
            for r in rows
        }
        table = [[s] + [cells.get((s, c, p, pr), "-") for c, p, pr in targets] for s in sources]
        headers = [f"intra-pod {pod}  from \\ to"] + [f"{c}:{p}/{pr}" for c, p, pr in targets]
        parts.append(
            tabulate(table, headers=headers, tablefmt="simple", colalign=("left",) + ("center",) * len(targets))
        )
    for pod, found in prediction.findings.items():
        for f in found:
            # blocking: the admission webhook denies the pod; otherwise it admits it with this warning
            what = "not enforceable" if f.blocking else "warning"
            parts.append(f"{what}: {pod}: {f.message} [{f.code}]")
    return parts


def _tier_tables(prediction: Prediction) -> list[str]:
    """The policies of each tier, in evaluation order (only when cluster policies exist)."""
    if not prediction.tiers:
        return []
    rows = []
    for tier in TIERS:
        for p in prediction.tiers.get(tier, []):
            priority = "-" if p.priority is None else p.priority
            rules = "-" if p.kind == "NetworkPolicy" else f"{p.ingress_rules} in / {p.egress_rules} out"
            rows.append([tier, p.name, priority, rules, p.selects])
    return [
        "evaluation order: Admin tier -> NetworkPolicy -> Baseline tier -> allowed\n"
        + tabulate(rows, headers=["tier", "policy", "priority", "rules", "pods selected"], tablefmt="simple")
    ]


def render_table(prediction: Prediction, *, max_grid_pods: int = MAX_GRID_PODS) -> str:
    if not prediction.pods:
        return "no pods in the manifests\n"
    units = _units(prediction)
    legend = LEGEND
    if len(units) <= max_grid_pods:
        parts = _grids(prediction, units) or ["no pod declares a container port (use --port 80/TCP)"]
        members = _members(units)
        if members:
            parts.append(members)
        if any(len(u.pods) > 1 for u in units):
            legend += "\n" + MIXED_LEGEND
        unsettled = any(str(r[4]) not in _CATEGORY for r in prediction.rows)
    else:
        parts, unsettled = _summary(prediction, units, max_grid_pods)
    parts += _intrapod(prediction)
    parts += _tier_tables(prediction)
    parts.append(legend + ("\n" + LEGEND_UNSETTLED if unsettled else ""))
    return "\n\n".join(parts) + "\n"


def render_load_summary(snapshot: Snapshot) -> str:
    """What ``predict -f`` read and what it made up, for stderr (one fact per line)."""
    load = snapshot.load
    pods = len(snapshot.pods)
    what = []
    if load.workloads:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(load.workloads.items()))
        made = "their declared replicas" if load.replicas else "one representative pod each"
        what.append(f"{sum(load.workloads.values())} workloads as {made}: {kinds}")
    bare = sum(1 for p in snapshot.pods if p.workload is None)
    if load.workloads and bare:
        what.append(f"{bare} bare pods")
    lines = [
        f"loaded {pods} pods"
        + (f" ({'; '.join(what)})" if what else "")
        + f", {len(snapshot.policies)} network policies"
        + (f", {len(snapshot.cluster_policies)} cluster policies" if snapshot.cluster_policies else "")
        + f", {len(snapshot.namespaces)} namespaces"
    ]
    skipped = {**snapshot.skipped_kinds}
    documents = {
        f"{name} (not a Kubernetes object)" if not name.startswith("Helm") else name: n
        for name, n in load.skipped_documents.items()
    }
    if skipped or documents:
        text = ", ".join(f"{k} x{n}" for k, n in sorted({**skipped, **documents}.items()))
        lines.append(f"skipped {text}")
    if "Kustomization" in skipped or any("kustomization" in k.lower() for k in load.skipped_documents):
        lines.append("hint: a kustomization is not applied here: run `kubectl kustomize DIR | kubereach predict -f -`")
    if any(k.startswith("Helm") or k in ("Chart.yaml", "values.yaml") for k in load.skipped_documents):
        lines.append("hint: a Helm chart is not rendered here: run `helm template CHART | kubereach predict -f -`")
    if load.folded_pods or load.folded_workloads:
        folded = [
            f"{load.folded_pods} pods" if load.folded_pods else "",
            f"{load.folded_workloads} ReplicaSets/Jobs" if load.folded_workloads else "",
        ]
        lines.append(f"folded {' and '.join(f for f in folded if f)} into the workloads in the input that own them")
    if load.defaulted_objects:
        lines.append(
            f"{load.defaulted_objects} objects name no namespace: put in namespace {load.default_namespace} "
            f"(from {load.default_namespace_source}; -n NS chooses another)"
        )
    if load.implied_namespaces:
        shown = ", ".join(load.implied_namespaces[:10]) + (" ..." if len(load.implied_namespaces) > 10 else "")
        lines.append(
            "namespaces referenced but not declared (assumed to exist, labelled only "
            f"kubernetes.io/metadata.name): {shown}"
        )
    if load.assumed_nodes:
        lines.append(
            "no Node objects in the input: assuming one node (labels kubernetes.io/os=linux, no taints), so each "
            "DaemonSet runs one pod; add Node objects (kubectl get nodes -o yaml) for one pod per node"
        )
    lines += [f"note: {note}" for note in snapshot.notes]  # e.g. a cluster policy API not understood
    return "\n".join(lines) + "\n"
