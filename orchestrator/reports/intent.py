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

from tabulate import tabulate

from orchestrator.audit.intent import Intended, IntentVerdict
from orchestrator.audit.judge import Row, Tally
from orchestrator.reports.predict import CSV_COLUMNS, Prediction

INTENT_COLUMNS = ("intended", "intent_verdict")
MAX_LISTED = 200  # violations listed in the table; -o csv has them all


def iter_intent_csv(
    judged: Iterable[tuple[Row, Intended, IntentVerdict]], *, chunk_rows: int = 20_000
) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*CSV_COLUMNS, *INTENT_COLUMNS))
    for i, ((source, destination, port, protocol, decision, reason), intended, verdict) in enumerate(judged, 1):
        writer.writerow((source, destination, port, str(protocol), str(decision), reason, str(intended), str(verdict)))
        if i % chunk_rows == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


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
            "violations": len(tally.violations),
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
        if len(tally.violations) > len(shown):
            text += f"\n... {len(tally.violations) - len(shown)} more (use -o csv for all)"
        parts.append(text)
        parts.append(
            "violation-open: the intent denies it, the policies allow it; violation-closed: the opposite. "
            "`kubereach explain SRC DST PORT --intent FILE` says which rule opens or closes a cell; "
            "`kubereach suggest --intent FILE` writes policies that fix what can be fixed by adding policies."
        )
    return "\n\n".join(parts) + "\n"
