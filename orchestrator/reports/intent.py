"""``predict --intent``: the prediction with two more columns, ``intended`` and ``intent_verdict``.

CSV: the columns of DESIGN.md (``source,destination,port,protocol,verdict,reason``)
then ``intended`` (``allow|deny|unspecified``) and ``intent_verdict``
(``ok|violation-open|violation-closed|unspecified``). JSON: the same fields on every
row, and an ``intent`` object with the counts. Table: the usual grids, then the
violations with the intent rule and the policy reason. Strings in, strings out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from tabulate import tabulate

from orchestrator.audit.intent import Intended, IntentIndex, IntentVerdict
from orchestrator.audit.judge import Row, Tally, code_verdict, judge, judge_matrix, tallied, tally_matrix
from orchestrator.model.matrix import ExpectedMatrix
from orchestrator.reports.predict import CSV_COLUMNS, Prediction
from orchestrator.reports.predict import _csv_field as _csv_field  # one CSV quoting rule for both outputs

INTENT_COLUMNS = ("intended", "intent_verdict")
MAX_LISTED = 200  # violations listed in the table; -o csv has them all


def _csv_lines(rows: Iterable[tuple[Row, Intended, IntentVerdict]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, ((source, destination, port, protocol, decision, reason), intended, verdict) in enumerate(rows, 1):
        writer.writerow((source, destination, port, str(protocol), str(decision), reason, str(intended), str(verdict)))
        if i % 20_000 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _matrix_csv(matrix: ExpectedMatrix, index: IntentIndex, tally: Tally) -> Iterator[str]:
    """The compact matrix's rows with the intent columns, assembled from per-code text
    fragments (one dictionary lookup per cell, in C), counted into ``tally`` on the way."""
    buf: list[str] = []
    size = 0
    heads = [_csv_field(src) + "," for src in matrix.sources]
    current: Any = None
    tails: dict[int, str] = {}
    verdicts: dict[int, IntentVerdict] = {}
    parts: list[str] = []
    for block, s, codes in judge_matrix(matrix, index):
        if block is not current:
            current, tails, verdicts = block, {}, {}
            parts = [""] * (3 * block.width)
            parts[1::3] = [_csv_field(d) for d in block.dest_keys]
            fixed = f",{block.port},{block.protocol},"
        values, counts = np.unique(codes, return_counts=True)
        for code, count in zip(values.tolist(), counts.tolist(), strict=True):
            if code not in tails:
                intended, verdict = code_verdict(matrix, block, code)
                decision, reason = matrix.decision(block, code >> 2), matrix.reason(block, code >> 2)
                tails[code] = f"{fixed}{decision},{_csv_field(reason)},{intended},{verdict}\n"
                verdicts[code] = verdict
            tally.counts[verdicts[code]] += count
        parts[0::3] = [heads[s]] * block.width
        parts[2::3] = map(tails.__getitem__, codes.tolist())
        buf.append("".join(parts))
        size += block.width
        if size >= 20_000:
            yield "".join(buf)
            buf, size = [], 0
    yield "".join(buf)


def iter_intent_csv(prediction: Prediction, index: IntentIndex, tally: Tally) -> Iterator[str]:
    """Header, pod rows, intra-pod rows, each with ``intended`` and ``intent_verdict``."""
    yield ",".join((*CSV_COLUMNS, *INTENT_COLUMNS)) + "\n"
    if isinstance(prediction.rows, ExpectedMatrix):
        yield from _matrix_csv(prediction.rows, index, tally)
    else:
        yield from _csv_lines(tallied(judge(prediction.rows, index), tally))
    yield from _csv_lines(tallied(judge(prediction.intrapod_rows, index), tally))


def tally_prediction(prediction: Prediction, index: IntentIndex, tally: Tally) -> None:
    """Only the counts (and the first violations), for the table output."""
    if isinstance(prediction.rows, ExpectedMatrix):
        tally_matrix(prediction.rows, index, tally)
    else:
        for _ in tallied(judge(prediction.rows, index), tally):
            pass
    for _ in tallied(judge(prediction.intrapod_rows, index), tally):
        pass


def _scope(source: str) -> str:
    return "intra-pod" if source.count("/") == 2 else "pod"


def iter_intent_json(
    prediction: Prediction, judged: Iterable[tuple[Row, Intended, IntentVerdict]], tally: Tally, name: str
) -> Iterator[str]:
    """Rows (one per line) with the intent fields, then findings, isolation and the intent's counts.

    ``tally`` is filled while the rows stream (see :func:`orchestrator.audit.judge.tallied`)."""
    yield '{\n  "rows": ['
    sep = "\n    "
    buf: list[str] = []
    for (source, destination, port, protocol, decision, reason), intended, verdict in judged:
        buf.append(
            sep
            + json.dumps(
                {
                    "source": source,
                    "destination": destination,
                    "port": port,
                    "protocol": str(protocol),
                    "verdict": str(decision),
                    "reason": reason,
                    "scope": _scope(source),
                    "intended": str(intended),
                    "intent_verdict": str(verdict),
                }
            )
        )
        sep = ",\n    "
        if len(buf) >= 20_000:
            yield "".join(buf)
            buf = []
    yield "".join(buf)
    rest = {
        "findings": [
            {"pod": pod, "code": str(f.code), "containers": list(f.containers), "message": f.message}
            for pod, found in prediction.findings.items()
            for f in found
        ],
        "isolated": {
            pod: {"ingress": list(i), "egress": list(e)} for pod, (i, e) in prediction.isolation.items() if i or e
        },
        "skipped_kinds": dict(prediction.skipped_kinds),
        "intent": {
            "name": name,
            "violations": tally.violation_count,
            "counts": {str(v): tally.counts[v] for v in IntentVerdict if tally.counts[v]},
        },
    }
    tail = json.dumps(rest, indent=2)[1:]  # drop the opening brace: continue the object
    yield ("\n  ]," if sep != "\n    " else "],") + tail + "\n"


def render_intent_section(tally: Tally, name: str, *, limit: int = MAX_LISTED) -> str:
    """What the table output adds: the intent's counts, then the violations with their reasons."""
    parts = [tally.line(name)]
    if tally.violations:
        shown = tally.violations[:limit]
        table = [
            [str(verdict), row[0], row[1], f"{row[2]}/{row[3]}", str(row[4]), row[5]]
            for row, verdict in sorted(shown, key=lambda rv: (str(rv[1]), rv[0][0], rv[0][1], rv[0][2]))
        ]
        text = tabulate(
            table, headers=["intent_verdict", "from", "to", "port", "policy says", "why"], tablefmt="simple"
        )
        if tally.violation_count > len(shown):
            text += f"\n... {tally.violation_count - len(shown)} more (use -o csv for all)"
        parts.append(text)
        parts.append(
            "violation-open: the intent denies it, the policies allow it; violation-closed: the opposite. "
            "`kubereach explain SRC DST PORT --intent FILE` says which rule opens or closes a cell; "
            "`kubereach suggest --intent FILE` writes policies that fix what can be fixed by adding policies."
        )
    return "\n\n".join(parts) + "\n"
