"""The results of a sweep: ``probes.csv``, matrix CSVs, ``summary.txt``, ``snapshot.json``, ``run.json``.

``render_*`` functions are pure (rows in, text out) so they are tested with plain data;
:func:`write_results` is the thin writer that puts them in the results folder.

Layout of ``results/<UTC time>-<context>/``::

    probes.csv                         one row per probe (DESIGN.md columns first)
    matrix-<port>-<proto>-expected.csv pod-scope source x destination: allow/deny
    matrix-<port>-<proto>-observed.csv allow/deny/inconclusive as measured
    matrix-<port>-<proto>-diff.csv     verdict per cell (ok, unexpected-allow, ...)
    summary.txt                        counts per verdict, unexpected rows first
    snapshot.json                      the namespaces, pods, services and policies compared
    run.json                           options, versions, timings, API calls made,
                                       intra-pod rules that cannot be enforced as declared
    report.html                        the page to look at (orchestrator.reports.html)
    drift.csv                          with --baseline: the cells that changed (orchestrator.reports.diff)
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.sweep.compare import INTENT_COLUMNS, PROBES_COLUMNS, Row, Verdict, intent_violations
from orchestrator.sweep.plan import Scope, Skipped
from probe.intrapod_rules import Finding as IntrapodFinding

if TYPE_CHECKING:
    from orchestrator.audit.findings import Finding

VERDICT_ORDER = (Verdict.UNEXPECTED_ALLOW, Verdict.UNEXPECTED_DENY, Verdict.INCONCLUSIVE, Verdict.OK)
# summary.txt lists at most this many inconclusive / skipped entries (the CSV has all).
LIST_LIMIT = 25
# The truth table (cyclonus glyphs) only while it fits a terminal: 30 rows, 30 columns.
GLYPH_LIMIT = 30
GLYPHS = {Verdict.UNEXPECTED_ALLOW: "!", Verdict.UNEXPECTED_DENY: "!", Verdict.INCONCLUSIVE: "?"}
GLYPH_LEGEND = (
    "legend: '.' allowed (as expected)  'X' blocked (as expected)  '!' unexpected  '?' inconclusive  '-' not probed"
)


def render_probes_csv(rows: Sequence[Row]) -> str:
    """probes.csv; with an intent (``sweep --intent``) two more columns, intended and intent_verdict."""
    buf = io.StringIO()
    columns = list(PROBES_COLUMNS) + (list(INTENT_COLUMNS) if any(r.intended is not None for r in rows) else [])
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_record())
    return buf.getvalue()


def _matrix_key(port: int, protocol: str) -> str:
    return f"{port}-{protocol.lower()}"


def render_matrices(rows: Sequence[Row]) -> dict[str, str]:
    """``{filename: csv}``: expected, observed and diff matrices per port/protocol (pod scope)."""
    import pandas as pd

    records = [r.as_record() for r in rows if r.job.scope is Scope.POD]
    if not records:
        return {}
    frame = pd.DataFrame.from_records(records)
    out: dict[str, str] = {}
    for (port, proto), group in frame.groupby(["port", "protocol"], sort=True):
        for column, suffix in (("expected", "expected"), ("observed", "observed"), ("verdict", "diff")):
            matrix = group.pivot_table(
                index="source", columns="destination", values=column, aggfunc="first", fill_value=""
            )
            matrix.index.name = "source\\destination"
            matrix.columns.name = None
            out[f"matrix-{_matrix_key(int(port), str(proto))}-{suffix}.csv"] = matrix.to_csv(lineterminator="\n")
    return out


def verdict_counts(rows: Iterable[Row]) -> dict[tuple[str, str], int]:
    return dict(Counter((str(r.job.scope), str(r.verdict)) for r in rows))


def render_glyph_matrix(rows: Sequence[Row]) -> str:
    """One source x (destination, port) truth table of pod rows; empty when too big.

    Columns are ``N:PORT`` (``N:PORT/UDP`` for other protocols), destinations numbered in
    a key below, cells in cyclonus glyphs.
    """
    from tabulate import tabulate

    pod_rows = [r for r in rows if r.job.scope is Scope.POD]
    sources = sorted({r.job.source for r in pod_rows})
    dests = sorted({r.job.destination for r in pod_rows})
    number = {d: i for i, d in enumerate(dests, 1)}
    cols = sorted(
        {(r.job.destination, r.job.port, str(r.job.protocol)) for r in pod_rows},
        key=lambda c: (number[c[0]], c[2], c[1]),
    )
    if not pod_rows or len(sources) > GLYPH_LIMIT or len(cols) > GLYPH_LIMIT:
        return ""
    cells = {
        (r.job.source, r.job.destination, r.job.port, str(r.job.protocol)): GLYPHS.get(
            r.verdict, "." if r.observed.value == "allow" else "X"
        )
        for r in pod_rows
    }
    table = [[s, *(cells.get((s, *c), "-") for c in cols)] for s in sources]
    headers = ["from \\ to", *(f"{number[d]}:{p}" + ("" if proto == "TCP" else f"/{proto}") for d, p, proto in cols)]
    key = "\n".join(f"  {i}: {d}" for d, i in number.items())
    return (
        tabulate(table, headers=headers, tablefmt="simple", colalign=("left", *("center" for _ in cols)))
        + f"\n{key}\n{GLYPH_LEGEND}"
    )


def _reason_line(r: Row) -> str:
    """The reason, shortened for a terminal; an inconclusive row leads with why it did not
    measure (probes.csv keeps the whole reason)."""
    reason = r.reason
    head, sep, why = reason.partition("; not measured: ")
    if r.verdict is Verdict.INCONCLUSIVE and sep:
        reason = f"not measured: {why}; {head}"
    return reason if len(reason) <= 90 else reason[:89] + "…"


def _row_line(r: Row) -> list[Any]:
    return [
        str(r.verdict),
        r.job.source,
        r.job.destination,
        f"{r.job.port}/{r.job.protocol}",
        str(r.expected),
        str(r.observed),
        str(r.state),
        r.evidence,
        str(r.confirmed) or "-",
        _reason_line(r),
    ]


EXIT_MEANING = {
    0: "every probe ok",
    1: "unexpected rows found",
    2: "usage or configuration error",
    3: "incomplete: some probes (or all) did not measure",
}


def render_summary(
    rows: Sequence[Row],
    *,
    title: str,
    skipped: Sequence[Skipped] = (),
    notes: Sequence[str] = (),
    exit_code: int | None = None,
    results_dir: str | None = None,
    complete: bool = True,
    intrapod_findings: Mapping[str, Sequence[IntrapodFinding]] | None = None,
    ended: str | None = None,
    drift: str = "",
    findings: Sequence[Finding] = (),
    intent_name: str | None = None,
) -> str:
    """Counts per scope and verdict, then the intent's violations (with ``intent_name``),
    the unexpected rows, the truth table (when it fits a terminal), intra-pod rules that
    cannot be enforced as declared (``intrapod_findings``, pod -> findings), what did not
    measure, the audit findings of the swept snapshot, the drift against a baseline, and
    ``ended`` (why the sweep stopped: ``Ended: completed``, ``Ended: interrupted (SIGINT): ...``)."""
    from tabulate import tabulate

    lines = [title, ""]
    counts = verdict_counts(rows)
    scopes = [s for s in (str(x) for x in Scope) if any(k[0] == s for k in counts)]
    table = [
        [
            scope,
            *(counts.get((scope, str(v)), 0) for v in VERDICT_ORDER),
            sum(n for (s, _), n in counts.items() if s == scope),
        ]
        for scope in scopes
    ]
    table.append(["total", *(sum(counts.get((s, str(v)), 0) for s in scopes) for v in VERDICT_ORDER), len(rows)])
    lines.append(tabulate(table, headers=["scope", *(str(v) for v in VERDICT_ORDER), "probes"], tablefmt="simple"))
    headers = [
        "verdict",
        "source",
        "destination",
        "port",
        "expected",
        "observed",
        "state",
        "evidence",
        "confirmed",
        "reason",
    ]
    if intent_name is not None:
        lines += ["", *_intent_lines(rows, intent_name)]
    unexpected = [r for r in rows if r.verdict.mismatch]
    unexpected.sort(key=lambda r: (VERDICT_ORDER.index(r.verdict), r.job.source, r.job.destination, r.job.port))
    if unexpected:
        lines += [
            "",
            f"Unexpected ({len(unexpected)}):",
            tabulate([_row_line(r) for r in unexpected], headers=headers, tablefmt="simple"),
        ]
    # The truth table after the unexpected rows: they are the news, the table the overview.
    glyphs = render_glyph_matrix(rows)
    if glyphs:
        lines += ["", glyphs]
    found = [(pod, f) for pod, fs in (intrapod_findings or {}).items() for f in fs]
    if found:
        lines += ["", f"Intra-pod rules not enforceable as declared ({len(found)}):"]
        lines += [
            f"  {pod}: {f.message} [{f.code}{'' if f.blocking else ', warning'}]" for pod, f in found[:LIST_LIMIT]
        ]
        if len(found) > LIST_LIMIT:
            lines.append(f"  ... and {len(found) - LIST_LIMIT} more (run.json)")
    inconclusive = [r for r in rows if r.verdict is Verdict.INCONCLUSIVE]
    if inconclusive:
        shown = inconclusive[:LIST_LIMIT]
        lines += [
            "",
            f"Inconclusive ({len(inconclusive)}"
            + (f", first {len(shown)}" if len(shown) < len(inconclusive) else "")
            + "):",
            tabulate([_row_line(r) for r in shown], headers=headers, tablefmt="simple"),
        ]
    if skipped:
        lines += ["", f"Not probed ({len(skipped)}):"]
        lines += [f"  {s.what}: {s.reason}" for s in skipped[:LIST_LIMIT]]
        if len(skipped) > LIST_LIMIT:
            lines.append(f"  ... and {len(skipped) - LIST_LIMIT} more (run.json)")
    if notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in notes[:LIST_LIMIT]]
        if len(notes) > LIST_LIMIT:
            lines.append(f"  ... and {len(notes) - LIST_LIMIT} more (run.json)")
    if findings:
        lines += ["", *_finding_lines(findings)]
    if not complete:
        lines += ["", "The sweep did not complete: probes that did not measure are inconclusive."]
    if not rows:
        lines += ["", "No probe was planned: check -n/-A, --from, --to and --port (see Not probed)."]
    if drift:  # rendered by orchestrator.reports.diff (sweep --baseline)
        lines += ["", drift.rstrip("\n")]
    if ended:
        lines += ["", ended if len(ended) <= 400 else ended[:399] + "…"]
    if exit_code is not None:
        meaning = EXIT_MEANING.get(exit_code, "")
        if exit_code == 1 and intent_violations(rows):
            mismatch = any(r.verdict.mismatch for r in rows)
            meaning = "intent violations" + (" and unexpected rows" if mismatch else "") + " found"
        lines += ["", f"Exit status {exit_code}: {meaning}"]
    if results_dir:
        lines.append(f"Results: {results_dir}")
    return "\n".join(lines) + "\n"


def _intent_lines(rows: Sequence[Row], name: str) -> list[str]:
    """The intent's tally, then every violation (observed reachability against the intent)."""
    from tabulate import tabulate

    counts = Counter(str(r.intent_verdict) for r in rows if r.intent_verdict is not None)
    violations = intent_violations(rows)
    head = f"Intent {name}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    if not violations:
        return [head, "  no violation: what was observed is what the intent says"]
    violations.sort(key=lambda r: (str(r.intent_verdict), r.job.source, r.job.destination, r.job.port))
    table = [
        [
            str(r.intent_verdict),
            r.job.source,
            r.job.destination,
            f"{r.job.port}/{r.job.protocol}",
            str(r.intended),
            str(r.observed),
            str(r.verdict),
        ]
        for r in violations
    ]
    return [
        head,
        f"Intent violations ({len(violations)}):",
        tabulate(
            table,
            headers=["intent_verdict", "source", "destination", "port", "intended", "observed", "vs policy"],
            tablefmt="simple",
        ),
    ]


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    """The audit of the swept snapshot: counts, then the most severe findings (run.json has all)."""
    counts = Counter(str(f.severity) for f in findings)
    order = ("high", "medium", "low", "info")
    lines = ["Audit findings (" + ", ".join(f"{counts[s]} {s}" for s in order if counts[s]) + "):"]
    for f in findings[:LIST_LIMIT]:
        lines.append(f"  {f.severity:<6} {f.title}  [{f.id}]")
    if len(findings) > LIST_LIMIT:
        lines.append(f"  ... and {len(findings) - LIST_LIMIT} more (run.json; `kubereach audit` explains each)")
    return lines


def findings_json(findings: Mapping[str, Sequence[IntrapodFinding]]) -> list[dict[str, Any]]:
    """run.json's ``intrapod_findings``: one entry per finding, as ``predict -o json`` shows them."""
    return [
        {
            "pod": pod,
            "code": str(f.code),
            "containers": list(f.containers),
            "message": f.message,
            "blocking": f.blocking,
        }
        for pod, fs in findings.items()
        for f in fs
    ]


def render_junit(rows: Sequence[Row], *, name: str) -> str:
    """JUnit XML for CI: one testsuite per scope, one testcase per probe; unexpected rows
    are failures, inconclusive ones errors (a probe that did not measure never passes)."""
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "testsuites",
        name=name,
        tests=str(len(rows)),
        failures=str(sum(r.verdict.mismatch for r in rows)),
        errors=str(sum(r.verdict is Verdict.INCONCLUSIVE for r in rows)),
    )
    for scope in Scope:
        mine = [r for r in rows if r.job.scope is scope]
        if not mine:
            continue
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{name} {scope}",
            tests=str(len(mine)),
            failures=str(sum(r.verdict.mismatch for r in mine)),
            errors=str(sum(r.verdict is Verdict.INCONCLUSIVE for r in mine)),
        )
        for r in mine:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{scope}.{r.job.source}",
                name=f"{r.job.source} -> {r.job.destination} {r.job.port}/{r.job.protocol}",
                time=f"{(r.latency_ms or 0) / 1000:.3f}",
            )
            text = f"expected {r.expected}, observed {r.observed} ({r.state}: {r.evidence}); {r.reason}" + (
                f"; confirmed: {r.confirmed}" if str(r.confirmed) else ""
            )
            if r.verdict.mismatch:
                ET.SubElement(case, "failure", type=str(r.verdict), message=str(r.verdict)).text = text
            elif r.verdict is Verdict.INCONCLUSIVE:
                ET.SubElement(case, "error", type="inconclusive", message="did not measure").text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def plain(value: Any) -> Any:
    """Dataclasses, enums, mappings and tuples as JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return value


def render_json(data: Any) -> str:
    return json.dumps(plain(data), indent=2, sort_keys=False, default=str) + "\n"


def default_results_dir(stamp: str, context: str, base: str = "results") -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", context).strip("_") or "cluster"
    return os.path.join(base, f"{stamp}-{safe}")


def write_results(directory: str, files: Mapping[str, str]) -> list[str]:
    """Write ``{name: text}`` into ``directory`` (created); returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        paths.append(path)
    return paths
