"""Render the expected matrix of ``kubereach predict`` as CSV, JSON or a terminal table.

Owns the output contract of DESIGN.md: CSV columns exactly
``source,destination,port,protocol,verdict,reason`` (pod rows ``namespace/pod``,
intra-pod rows ``namespace/pod/container``, verdict ``allow``/``deny``). Every
function returns a string; the ``iter_*`` variants give the same text in pieces so the
CLI can stream millions of rows.

The pod rows are usually an :class:`~orchestrator.model.matrix.ExpectedMatrix`
(one class number per row): CSV and JSON are then assembled per source row from
per-class and per-destination text fragments with C-level joins, never building a
row object; any other iterable of row tuples takes the plain path. Both give
byte-identical text (tests check it).

The table reuses cyclonus' glyphs (``.`` allowed, ``X`` blocked). Past
``MAX_GRID_PODS`` pods an N x N grid is unreadable in a terminal, so the table
becomes a per-namespace summary plus the isolated pods and the denied pairs.
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

# ExpectedRow and IntraPodRow: source, destination, port, protocol, decision, reason
PredictionRow = tuple[str, str, int, Protocol, Decision, str]
_K = TypeVar("_K")
_V = TypeVar("_V")

CSV_COLUMNS = ("source", "destination", "port", "protocol", "verdict", "reason")
MAX_GRID_PODS = 30  # a 30-column grid of numbered columns still fits a 132-column terminal
MAX_LISTED_PAIRS = 200  # beyond this the table points at -o csv instead of scrolling forever
ALLOW_GLYPH, DENY_GLYPH, NA_GLYPH = ".", "X", " "
LEGEND = (
    f"legend: '{ALLOW_GLYPH}' allowed   '{DENY_GLYPH}' blocked   "
    f"'-' not evaluated (the destination does not declare this port)"
)


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

    def all_rows(self) -> Iterable[PredictionRow]:
        yield from self.rows
        yield from self.intrapod_rows


def describe_load(snapshot: Snapshot, *, verb: str = "loaded", where: str = "") -> str:
    """The one-line load summary on stderr, the same for files and a live cluster:
    ``loaded 8 pods, 9 network policies, 3 namespaces; skipped 2 objects of kinds kubereach
    does not read: ConfigMap x1, Deployment (apps/v1) x1``. Nothing read is dropped without
    being counted here."""
    line = (
        f"{verb} {len(snapshot.pods)} pods, {len(snapshot.policies)} network policies, "
        f"{len(snapshot.namespaces)} namespaces"
    )
    if snapshot.services:
        line += f", {len(snapshot.services)} services"
    if where:
        line += f" {where}"
    skipped = snapshot.skipped_kinds
    if skipped:
        n = sum(skipped.values())
        kinds = ", ".join(f"{kind[:100]} x{count}" for kind, count in sorted(skipped.items()))
        line += f"; skipped {n} object{'s' if n != 1 else ''} of kinds kubereach does not read: {kinds}"
    return line


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
    }
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


def render_json(prediction: Prediction) -> str:
    return "".join(iter_json(prediction))


def _port_label(port: int, protocol: object) -> str:
    return f"{port}/{protocol}"


def _grids(prediction: Prediction) -> list[str]:
    index = {pod: i for i, pod in enumerate(prediction.pods, 1)}
    by_port: dict[tuple[int, str], dict[tuple[str, str], str]] = defaultdict(dict)
    for source, destination, port, protocol, decision, _ in prediction.rows:
        by_port[(port, str(protocol))][(source, destination)] = ALLOW_GLYPH if str(decision) == "allow" else DENY_GLYPH
    parts = []
    for (port, proto), cells in sorted(by_port.items()):
        dests = [p for p in prediction.pods if any((s, p) in cells for s in prediction.pods)]
        table = []
        for src in prediction.pods:
            table.append([f"{index[src]:>2} {src}"] + [cells.get((src, d), "-") for d in dests])
        headers = [f"{_port_label(port, proto)}  from \\ to"] + [str(index[d]) for d in dests]
        parts.append(tabulate(table, headers=headers, tablefmt="simple", colalign=("left",) + ("center",) * len(dests)))
    return parts


def _ns(key: str) -> str:
    return key.split("/", 1)[0]


def _tally(rows: Iterable[PredictionRow]) -> tuple[dict[tuple[str, str], list[int]], list[tuple[str, str, str]]]:
    """[allowed, blocked] per (source namespace, destination namespace), and the first blocked rows."""
    if isinstance(rows, ExpectedMatrix):
        return _tally_matrix(rows)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    denied: list[tuple[str, str, str]] = []
    for source, destination, port, protocol, decision, _ in rows:
        c = counts[(_ns(source), _ns(destination))]
        if str(decision) == "allow":
            c[0] += 1
        else:
            c[1] += 1
            if len(denied) <= MAX_LISTED_PAIRS:
                denied.append((source, destination, _port_label(port, protocol)))
    return counts, denied


def _tally_matrix(matrix: ExpectedMatrix) -> tuple[dict[tuple[str, str], list[int]], list[tuple[str, str, str]]]:
    """Same as the row loop, counting class numbers per (source, destination namespace) in C."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
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

        def allows(cls: int, _b: _PortBlock = block) -> bool:  # a def: mypy cannot type a lambda's default
            return str(matrix.decision(_b, cls)) == "allow"

        allowed = _Memo(allows)
        label = _port_label(block.port, block.protocol)
        for s, sns in enumerate(src_ns):
            row = block.row(s)
            blocked_in_row = 0
            for dns, pick, size in pickers:
                ok = sum(k for cls, k in Counter(pick(row)).items() if allowed[cls])
                c = counts[(sns, dns)]
                c[0] += ok
                c[1] += size - ok
                blocked_in_row += size - ok
            if blocked_in_row and len(denied) <= MAX_LISTED_PAIRS:
                for j, cls in enumerate(row):
                    if not allowed[cls]:
                        denied.append((matrix.sources[s], block.dest_keys[j], label))
                        if len(denied) > MAX_LISTED_PAIRS:
                            break
    return counts, denied


def _summary(prediction: Prediction) -> list[str]:
    counts, denied = _tally(prediction.rows)
    summary = tabulate(
        [[s, d, a, x] for (s, d), (a, x) in sorted(counts.items())],
        headers=["from namespace", "to namespace", "allowed", "blocked"],
        tablefmt="simple",
    )
    isolated = [
        [pod, ", ".join(i) or "-", ", ".join(e) or "-"] for pod, (i, e) in prediction.isolation.items() if i or e
    ]
    parts = [f"{len(prediction.pods)} pods: too many for a grid (> {MAX_GRID_PODS}); per-namespace summary", summary]
    if isolated:
        shown: Sequence[Sequence[str]] = isolated[:MAX_LISTED_PAIRS]
        parts.append(
            f"isolated pods ({len(isolated)}):\n"
            + tabulate(shown, headers=["pod", "ingress isolated by", "egress isolated by"], tablefmt="simple")
            + (f"\n... {len(isolated) - len(shown)} more" if len(isolated) > len(shown) else "")
        )
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
