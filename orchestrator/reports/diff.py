"""Drift between two sweeps' results folders: which cells of observed reachability changed.

A *cell* is one (source, destination, port, protocol, scope) of ``probes.csv``. Compared
cell by cell, a change is one of (:data:`CHANGES`):

* ``expectation-changed`` — the policies' verdict changed (someone edited a policy);
  ``old``/``new`` are the expected values. It wins over a change of observation, which
  it usually explains.
* ``opened`` / ``closed`` — same expectation, reality changed: observed deny -> allow
  (a hole may have opened) or allow -> deny (an outage may have begun);
  ``old``/``new`` are the observed values.
* ``appeared`` / ``disappeared`` — the cell exists in one run only (pods, ports or
  services added or removed); ``old``/``new`` is the observed value on the side that has it.

Pods are matched by ``namespace/name``, and where names changed, by the workload that
runs them (``snapshot.json`` records each pod's workload, from its owner chain: see
:mod:`orchestrator.snapshot.owners`): a Deployment's pods after a rollout belong to a new
ReplicaSet and have new names, but the same ``Deployment/<name>``; such pods are paired
(in name order) and their cells compared as the same cells. A matched cell where either run did not measure
(``inconclusive``) is neither drift nor a pass: it is counted as *unmeasured*.

Pure over two :class:`~orchestrator.reports.rundir.RunFolder` values (pandas on category
codes, so two 4-million-row runs compare in seconds); renderers return strings.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import EXIT_INCOMPLETE, EXIT_MISMATCH, EXIT_OK, UsageError
from orchestrator.reports.rundir import QUOTE_LIMIT, RunFolder, dig, mapping_at, quote

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

CHANGES = ("opened", "closed", "expectation-changed", "appeared", "disappeared")
KEY = ("source", "destination", "port", "protocol", "scope")
DRIFT_COLUMNS = (*KEY, "change", "old", "new")
# Scopes whose destination is a pod (or a container of one): renamed pods are renamed there too.
POD_DESTINATION_SCOPES = frozenset({"pod", "intra-pod"})
MEASURED = ("allow", "deny")
# The table output lists this many rows; -o csv and -o json list all of them.
TABLE_LIMIT = 500
# drift.csv in a results folder: at most one row per probe of the two runs.
MAX_DRIFT_BYTES = 8 << 30
# Renamed pairs kept in run.json (the report lists them).
MAX_RENAMED_RECORDED = 1000


@dataclass(frozen=True, slots=True)
class Renamed:
    """A pod of the baseline matched to a pod of the new run through their workload."""

    old: str  # namespace/pod in the baseline
    new: str  # namespace/pod now
    workload: str  # namespace/Kind/name


@dataclass(frozen=True)
class Drift:
    baseline: str  # the baseline's results folder
    rows: pd.DataFrame  # DRIFT_COLUMNS, sorted by change then cell; old/new "" where absent
    renamed: tuple[Renamed, ...] = ()
    unmeasured: int = 0  # matched cells where one of the runs did not measure
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def counts(self) -> dict[str, int]:
        found = self.rows["change"].value_counts() if len(self.rows) else {}
        return {c: int(found.get(c, 0)) for c in CHANGES}

    @property
    def exit_code(self) -> int:
        """0 no drift; 1 drift; 3 no drift found but some cells did not measure (never a pass)."""
        if len(self.rows):
            return EXIT_MISMATCH
        return EXIT_INCOMPLETE if self.unmeasured else EXIT_OK


def pod_of(endpoint: str) -> str:
    """``ns/pod`` of ``ns/pod`` or ``ns/pod/container``."""
    return "/".join(endpoint.split("/", 2)[:2])


def _pods(frame: pd.DataFrame) -> set[str]:
    pod_rows = frame["scope"].isin(POD_DESTINATION_SCOPES).to_numpy()
    endpoints = set(frame["source"].unique()) | set(frame.loc[pod_rows, "destination"].unique())
    return {pod_of(str(e)) for e in endpoints}


def match_pods(old: RunFolder, new: RunFolder) -> tuple[Renamed, ...]:
    """Pods that left the baseline and pods new in this run, paired by workload."""
    before, after = _pods(old.probes), _pods(new.probes)
    gone: dict[str, list[str]] = defaultdict(list)
    came: dict[str, list[str]] = defaultdict(list)
    for pods, records, out in ((before - after, old.pods, gone), (after - before, new.pods, came)):
        for pod in sorted(pods):
            record = records.get(pod)
            if record is not None and record.workload:
                out[f"{pod.split('/', 1)[0]}/{record.workload}"].append(pod)
    return tuple(
        Renamed(a, b, workload)
        for workload in sorted(gone.keys() & came.keys())
        for a, b in zip(gone[workload], came[workload], strict=False)
    )


def _rename(endpoint: str, renames: Mapping[str, str]) -> str:
    pod = pod_of(endpoint)
    new = renames.get(pod)
    return endpoint if new is None else new + endpoint[len(pod) :]


def _codes(series: pd.Series, vocabulary: Mapping[str, int], renames: Mapping[str, str] | None = None) -> np.ndarray:
    """The vocabulary code of every value of a categorical column (renamed first)."""
    import numpy as np

    categories = [str(c) for c in series.cat.categories]
    if renames:
        categories = [_rename(c, renames) for c in categories]
    table = np.array([vocabulary[c] for c in categories] or [0], dtype=np.int64)
    return table[series.cat.codes.to_numpy()] if len(series) else np.zeros(0, dtype=np.int64)


def _vocabulary(*lists: Sequence[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(sorted({str(x) for values in lists for x in values}))}


def diff_runs(old: RunFolder, new: RunFolder) -> Drift:
    """The drift from ``old`` (the baseline) to ``new``."""
    import numpy as np
    import pandas as pd

    renamed = match_pods(old, new)
    renames = {r.old: r.new for r in renamed}
    a, b = old.probes, new.probes
    old_sources = [_rename(str(c), renames) for c in a["source"].cat.categories]
    old_dests = [str(c) for c in a["destination"].cat.categories]
    names = _vocabulary(
        old_sources,
        old_dests,
        [_rename(c, renames) for c in old_dests],
        b["source"].cat.categories,
        b["destination"].cat.categories,
    )
    protocols = _vocabulary(a["protocol"].cat.categories, b["protocol"].cat.categories)
    scopes = _vocabulary(a["scope"].cat.categories, b["scope"].cat.categories)
    values = _vocabulary(
        a["expected"].cat.categories,
        b["expected"].cat.categories,
        a["observed"].cat.categories,
        b["observed"].cat.categories,
    )
    pod_scopes = [scopes[s] for s in POD_DESTINATION_SCOPES if s in scopes]

    def cells(frame: pd.DataFrame, renames: Mapping[str, str]) -> pd.DataFrame:
        scope = _codes(frame["scope"], scopes)
        dest_plain = _codes(frame["destination"], names)
        dest = _codes(frame["destination"], names, renames) if renames else dest_plain
        return pd.DataFrame(
            {
                "s": _codes(frame["source"], names, renames),
                "d": np.where(np.isin(scope, pod_scopes), dest, dest_plain),
                "p": frame["port"].to_numpy(),
                "pr": _codes(frame["protocol"], protocols),
                "sc": scope,
                "exp": _codes(frame["expected"], values),
                "obs": _codes(frame["observed"], values),
                "row": np.arange(len(frame)),
            }
        ).drop_duplicates(subset=["s", "d", "p", "pr", "sc"], keep="first")

    merged = pd.merge(
        cells(a, renames),
        cells(b, {}),
        on=["s", "d", "p", "pr", "sc"],
        how="outer",
        suffixes=("_a", "_b"),
        indicator=True,
    )
    side = merged["_merge"].to_numpy()
    both, left, right = side == "both", side == "left_only", side == "right_only"
    exp_a, exp_b = merged["exp_a"].to_numpy(), merged["exp_b"].to_numpy()
    obs_a, obs_b = merged["obs_a"].to_numpy(), merged["obs_b"].to_numpy()
    measured_codes = [values[v] for v in MEASURED if v in values]
    measured = np.isin(obs_a, measured_codes) & np.isin(obs_b, measured_codes)
    expectation = both & (exp_a != exp_b)
    same_expectation = both & ~expectation
    moved = same_expectation & measured & (obs_a != obs_b)
    unmeasured = int((same_expectation & ~measured).sum())
    allow = values.get("allow", -1)
    change = np.full(len(merged), "", dtype=object)
    change[expectation] = "expectation-changed"
    change[moved & (obs_b == allow)] = "opened"
    change[moved & (obs_b != allow)] = "closed"
    change[right] = "appeared"
    change[left] = "disappeared"
    picked = merged[change != ""]
    changes = change[change != ""]
    out = _drift_rows(picked, changes, a, b)
    return Drift(old.path, out, renamed, unmeasured, tuple(_notes(old, new, renamed)))


def _take(frame: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """``frame[name]`` at ``rows`` as plain values, without materialising the whole column."""
    import numpy as np
    import pandas as pd

    if not len(frame):
        return np.full(len(rows), "", dtype=object)
    column = frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = np.asarray(column.cat.categories, dtype=object)
        picked: np.ndarray = categories[column.cat.codes.to_numpy()[rows]]
        return picked
    values: np.ndarray = column.to_numpy()[rows]
    return values


def _drift_rows(picked: pd.DataFrame, changes: np.ndarray, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The drift rows as strings: names from the new run, or the baseline's for disappeared cells."""
    import numpy as np
    import pandas as pd

    rows_a = picked["row_a"].to_numpy(dtype=float)
    rows_b = picked["row_b"].to_numpy(dtype=float)
    has_a, has_b = ~np.isnan(rows_a), ~np.isnan(rows_b)
    at_a = np.nan_to_num(rows_a, nan=0).astype(np.int64)
    at_b = np.nan_to_num(rows_b, nan=0).astype(np.int64)
    gone = ~has_b  # disappeared: only the baseline has the cell

    def column(name: str) -> np.ndarray:
        return np.where(gone, _take(a, name, at_a), _take(b, name, at_b))

    def value(frame: pd.DataFrame, at: np.ndarray, present: np.ndarray, name: str) -> np.ndarray:
        return np.where(present, _take(frame, name, at), "")

    expectation = changes == "expectation-changed"
    old_value = np.where(expectation, value(a, at_a, has_a, "expected"), value(a, at_a, has_a, "observed"))
    new_value = np.where(expectation, value(b, at_b, has_b, "expected"), value(b, at_b, has_b, "observed"))
    out = pd.DataFrame(
        {
            "source": column("source").astype(str),
            "destination": column("destination").astype(str),
            "port": column("port").astype(np.int64),
            "protocol": column("protocol").astype(str),
            "scope": column("scope").astype(str),
            "change": changes.astype(str),
            "old": old_value.astype(str),
            "new": new_value.astype(str),
        }
    )
    order = {c: i for i, c in enumerate(CHANGES)}
    out["_order"] = out["change"].map(order)
    out = out.sort_values(["_order", "source", "destination", "port", "protocol", "scope"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)


def diff_folders(old_path: str, new_path: str) -> Drift:
    """The drift between two results folders (``kubereach diff OLD_RUN NEW_RUN``)."""
    from orchestrator.reports.rundir import load_run

    return diff_runs(load_run(old_path), load_run(new_path))


def _notes(old: RunFolder, new: RunFolder, renamed: Sequence[Renamed]) -> list[str]:
    notes = []
    before, after = _pods(old.probes), _pods(new.probes)
    if (before - after) and (after - before):
        for label, run in (("the baseline", old), ("this run", new)):
            if not run.workloads_recorded:
                notes.append(
                    f"{label} ({run.path}) records no pod workloads (snapshot.json from an older kubereach, or "
                    "missing): pods whose names changed could only be matched by name"
                )
    for key, label in (
        ("namespaces", "namespaces"),
        ("options.plan.scopes", "scopes"),
        ("options.plan.ports", "ports"),
    ):
        x, y = dig(old.info, key), dig(new.info, key)
        if x is not None and y is not None and x != y:
            notes.append(
                f"the runs differ in {label} (baseline {quote(x, 120)}, this run {quote(y, 120)}): cells outside "
                "what both probed appear or disappear"
            )
    return notes


# -- rendering ----------------------------------------------------------------------------------


def _records(drift: Drift) -> Iterator[dict[str, Any]]:
    for row in drift.rows.itertuples(index=False):
        yield {
            "source": row.source,
            "destination": row.destination,
            "port": int(row.port),
            "protocol": row.protocol,
            "scope": row.scope,
            "change": row.change,
            "old": row.old or None,
            "new": row.new or None,
        }


def iter_drift_csv(drift: Drift) -> Iterator[str]:
    """``drift.csv`` / ``diff -o csv``: DRIFT_COLUMNS, one line per changed cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DRIFT_COLUMNS)
    for i, row in enumerate(drift.rows.itertuples(index=False), 1):
        writer.writerow(row)
        if i % 10_000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def render_drift_csv(drift: Drift) -> str:
    return "".join(iter_drift_csv(drift))


def render_drift_json(drift: Drift) -> str:
    """``{"drift": [...], "renamed": [...], "unmeasured": N, "notes": [...]}``; ``drift`` rows
    carry the issue's fields, ``old``/``new`` null on the side a cell is absent from."""
    body = {
        "drift": list(_records(drift)),
        "renamed": [{"old": r.old, "new": r.new, "workload": r.workload} for r in drift.renamed],
        "unmeasured": drift.unmeasured,
        "notes": list(drift.notes),
    }
    return json.dumps(body, indent=2) + "\n"


def drift_headline(drift: Drift) -> str:
    counts = drift.counts
    total = sum(counts.values())
    parts = ", ".join(f"{n} {c}" for c, n in counts.items() if n) or "no changed cell"
    line = f"Drift since {drift.baseline}: {parts}" if total else f"No drift since {drift.baseline}"
    if drift.unmeasured:
        line += f"; {drift.unmeasured} cell(s) did not measure in one of the runs (not compared)"
    return line


def render_drift_table(drift: Drift, *, limit: int = TABLE_LIMIT) -> str:
    from tabulate import tabulate

    lines = [drift_headline(drift)]
    if len(drift.rows):
        shown = drift.rows.head(limit)
        table = [
            [r.change, r.source, r.destination, f"{r.port}/{r.protocol}", r.scope, r.old or "-", r.new or "-"]
            for r in shown.itertuples(index=False)
        ]
        lines += [
            "",
            tabulate(
                table, headers=["change", "source", "destination", "port", "scope", "old", "new"], tablefmt="simple"
            ),
        ]
        if len(drift.rows) > limit:
            lines.append(f"... and {len(drift.rows) - limit} more (-o csv or -o json for all)")
    if drift.renamed:
        lines += ["", f"Pods matched by workload ({len(drift.renamed)}):"]
        lines += [f"  {r.old} -> {r.new} ({r.workload})" for r in drift.renamed[:limit]]
    if drift.notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in drift.notes]
    return "\n".join(lines) + "\n"


# -- a results folder's own drift (sweep --baseline) ------------------------------------------


def baseline_record(drift: Drift) -> dict[str, Any]:
    """What run.json says about the baseline a sweep was compared with."""
    return {
        "path": drift.baseline,
        "counts": drift.counts,
        "unmeasured": drift.unmeasured,
        "renamed": [{"old": r.old, "new": r.new, "workload": r.workload} for r in drift.renamed[:MAX_RENAMED_RECORDED]],
        "notes": list(drift.notes),
    }


def read_folder_drift(directory: str, info: Mapping[str, Any]) -> Drift | None:
    """The drift a sweep recorded in its folder (``drift.csv`` and run.json's ``baseline``), or None."""
    import pandas as pd

    path = os.path.join(directory, "drift.csv")
    if not os.path.isfile(path):
        return None
    if os.path.getsize(path) > MAX_DRIFT_BYTES:
        raise UsageError(f"{path}: larger than {MAX_DRIFT_BYTES >> 20} MiB, not a kubereach drift.csv")
    try:
        rows = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: not a well-formed drift.csv: {str(exc)[:QUOTE_LIMIT]}") from None
    missing = [c for c in DRIFT_COLUMNS if c not in rows.columns]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}: not a kubereach drift.csv")
    bad = sorted(set(rows["change"]) - set(CHANGES))
    if bad:
        raise UsageError(f"{path}: column change: {quote(bad[0], 60)} is not one of {', '.join(CHANGES)}")
    ports = pd.to_numeric(rows["port"], errors="coerce")
    if ports.isna().any():
        raise UsageError(f"{path}: column port: {quote(rows['port'][ports.isna()].iloc[0], 60)} is not a port number")
    rows = rows[list(DRIFT_COLUMNS)].assign(port=ports.astype("int64"))
    record = mapping_at(info, "baseline")
    renamed = tuple(
        Renamed(str(r.get("old", "")), str(r.get("new", "")), str(r.get("workload", "")))
        for r in (record.get("renamed") or [])
        if isinstance(r, Mapping)
    )
    unmeasured = record.get("unmeasured")
    notes = record.get("notes")
    return Drift(
        str(record.get("path") or "the baseline"),
        rows,
        renamed,
        unmeasured if isinstance(unmeasured, int) else 0,
        tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    )


__all__ = [
    "CHANGES",
    "DRIFT_COLUMNS",
    "Drift",
    "Renamed",
    "baseline_record",
    "diff_folders",
    "diff_runs",
    "drift_headline",
    "iter_drift_csv",
    "match_pods",
    "read_folder_drift",
    "render_drift_csv",
    "render_drift_json",
    "render_drift_table",
]
