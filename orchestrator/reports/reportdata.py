"""The data of the HTML report: a results folder aggregated (pandas) and packed into one JSON value.

The report must open from a laptop's disk at 8 pods and at 2,000 (4 million pod pairs
per port), so the page embeds:

* **aggregates**, plain JSON, rendered at once: counts per scope and verdict class, and
  per port/protocol a namespace x namespace heatmap (counts per class in each cell);
* **every probe**, as packed columns: the rows sorted by scope, port, source namespace,
  destination namespace, source, destination (so a heatmap cell's pods are one slice,
  ``[start, end)``, named in the cell), each column an array of small integers (indexes
  into string tables: names, reasons, evidence, states...) compressed with zlib and
  base64-encoded. The page inflates them with the browser's own ``DecompressionStream``
  when it needs rows (drill-downs, tables), so 4 million probes cost about a megabyte,
  not a few hundred.

Latencies are kept to three significant digits (``0.497`` ms, ``1000`` ms): plenty to
read a probe, and what makes them compress; ``probes.csv`` keeps the exact values.

Everything from a results folder is someone else's text: string tables are cut at
:data:`MAX_TEXT` characters, and what other features put in ``run.json`` (audit
findings, exposure, coverage) is copied bounded in depth, length and size.

:func:`unpack_columns` is the inverse of the packing, for tests (golden files hold the
unpacked form, readable and independent of zlib's version).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.reports.rundir import RunFolder, dig, list_at, mapping_at

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

FORMAT = "kubereach-report/1"


@dataclass(frozen=True, slots=True)
class VerdictClass:
    """One colour of the report: a verdict, split by what was observed when ok."""

    name: str
    glyph: str  # shown in every cell, so colour is never the only cue
    colour: str  # Okabe-Ito palette: distinguishable with the common colour-vision deficiencies
    text: str  # glyph colour with enough contrast on ``colour``
    meaning: str


CLASSES = (
    VerdictClass("ok-allowed", "✓", "#56B4E9", "#000000", "allowed, as the policies say"),
    VerdictClass("ok-blocked", "✕", "#E4E4E4", "#000000", "blocked, as the policies say"),
    VerdictClass("unexpected-allow", "!", "#D55E00", "#FFFFFF", "passed although the policies deny it: a hole"),
    VerdictClass("unexpected-deny", "⊘", "#CC79A7", "#000000", "blocked although the policies allow it: an outage"),
    VerdictClass("inconclusive", "?", "#F0E442", "#000000", "did not measure: never a pass"),
)
CLASS_INDEX = {c.name: i for i, c in enumerate(CLASSES)}
# Drift codes of the "change" column (0: unchanged); disappeared cells are not rows of the new run.
CHANGES = ("", "opened", "closed", "expectation-changed", "appeared")
# Scopes in the order the report lists them; scopes added later sort after, by name.
SCOPE_ORDER = ("pod", "service", "intra-pod")
# Longest text kept from a results folder in one place (reasons are ~100-300 characters).
MAX_TEXT = 2000
# What is copied from run.json sections other features write: nesting, items per list, keys.
MAX_DEPTH = 8
MAX_ITEMS = 5000
# Notes and skipped entries shown (run.json has all of them).
MAX_LISTED = 200
# Disappeared drift cells listed in the report (drift.csv and `kubereach diff` have all).
MAX_DISAPPEARED = 1000
NO_LATENCY = 0xFFFFFFFF


def cut(text: object, limit: int = MAX_TEXT) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def bounded(value: Any, depth: int = 0) -> Any:
    """A JSON value copied with at most MAX_DEPTH levels, MAX_ITEMS items and MAX_TEXT characters."""
    if isinstance(value, str):
        return cut(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= MAX_DEPTH:
        return cut(repr(value), 200)
    if isinstance(value, Mapping):
        return {cut(k, 200): bounded(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple)):
        return [bounded(v, depth + 1) for v in value[:MAX_ITEMS]]
    return cut(value)


def pack(values: np.ndarray) -> dict[str, str]:
    """Unsigned integers as ``{"type": "u1"|"u2"|"u4", "zlib": base64}`` (little-endian)."""
    import numpy as np

    top = int(values.max()) if len(values) else 0
    kind = "u1" if top < 1 << 8 else "u2" if top < 1 << 16 else "u4"
    raw = np.ascontiguousarray(values, dtype="<" + kind).tobytes()
    return {"type": kind, "zlib": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")}


def unpack(column: Mapping[str, str]) -> list[int]:
    """The inverse of :func:`pack`."""
    import numpy as np

    raw = zlib.decompress(base64.b64decode(column["zlib"]))
    values: list[int] = np.frombuffer(raw, dtype="<" + column["type"]).tolist()
    return values


def unpack_columns(data: Mapping[str, Any]) -> dict[str, Any]:
    """The report data with its packed row columns as plain lists (for tests and goldens)."""
    rows = dict(data["rows"])
    rows["columns"] = {name: unpack(col) for name, col in rows["columns"].items()}
    return {**data, "rows": rows}


def three_digits(latency_ms: np.ndarray) -> np.ndarray:
    """Latencies in microseconds, rounded to three significant digits; NO_LATENCY for none."""
    import numpy as np

    x = np.asarray(latency_ms, dtype=np.float64)
    finite = np.isfinite(x) & (x >= 0)
    safe = np.where(finite & (x > 0), x, 1.0)
    scale = 10.0 ** (2 - np.floor(np.log10(safe)))
    rounded = np.round(safe * scale) / scale
    micro = np.round(np.where(x > 0, rounded, 0.0) * 1000)
    return np.where(finite & (micro < NO_LATENCY), micro, NO_LATENCY).astype(np.uint32)


def classes_of(frame: pd.DataFrame) -> np.ndarray:
    """The class index of every row: a verdict, and for ok rows whether it was allowed."""
    import numpy as np

    codes = frame["verdict"].cat.codes.to_numpy()
    by_category = np.array(
        [CLASS_INDEX.get(str(v), CLASS_INDEX["inconclusive"]) for v in frame["verdict"].cat.categories] or [0],
        dtype=np.uint8,
    )
    out = by_category[codes] if len(codes) else np.zeros(0, dtype=np.uint8)
    ok = np.flatnonzero(np.asarray(frame["verdict"].cat.categories) == "ok")
    if len(ok):
        observed_allow = (frame["observed"] == "allow").to_numpy()
        is_ok = codes == ok[0]
        out = np.where(is_ok, np.where(observed_allow, 0, 1), out).astype(np.uint8)
    return out


def _codes(column: pd.Series, categories: Sequence[str]) -> np.ndarray:
    codes: np.ndarray = column.cat.set_categories(list(categories)).cat.codes.to_numpy()
    return codes


def _ns(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else ""


def report_data(run: RunFolder, drift: Any = None) -> dict[str, Any]:
    """The JSON value the report embeds. ``drift``: an :class:`orchestrator.reports.diff.Drift`
    (or None), whose changed cells the report outlines."""
    import numpy as np

    frame = run.probes
    n = len(frame)
    names = sorted(set(frame["source"].cat.categories) | set(frame["destination"].cat.categories))
    src = _codes(frame["source"], names)
    dst = _codes(frame["destination"], names)
    scope_names = sorted(frame["scope"].cat.categories, key=lambda s: (s not in SCOPE_ORDER, _rank(s), s))
    scope = _codes(frame["scope"], scope_names)
    protocols = list(frame["protocol"].cat.categories)
    # (port, protocol) pairs: port * 64 + protocol code, numbered in order (a lookup table
    # over the few million possible keys instead of sorting millions of rows)
    port_key = frame["port"].to_numpy().astype(np.int64) * 64 + frame["protocol"].cat.codes.to_numpy()
    port_keys, pp = _dense_codes(port_key)
    ports = [f"{int(k) // 64}/{protocols[int(k) % 64]}" for k in port_keys]
    pod_scope = scope == (scope_names.index("pod") if "pod" in scope_names else -1)
    seen = np.bincount(src[pod_scope], minlength=len(names)) + np.bincount(dst[pod_scope], minlength=len(names))
    namespaces = sorted({_ns(names[i]) for i in np.flatnonzero(seen)})
    # names outside pod-scope rows (containers, services) get len(namespaces): never in a heatmap
    ns_index = {ns: i for i, ns in enumerate(namespaces)}
    ns_of_name = np.array([ns_index.get(_ns(x), len(namespaces)) for x in names] or [0], dtype=np.int64)
    src_ns, dst_ns = ns_of_name[src], ns_of_name[dst]
    order = _sort_order(
        (scope, pp, src_ns, dst_ns, src, dst),
        (len(scope_names), len(ports), len(namespaces) + 1, len(namespaces) + 1, len(names), len(names)),
    )
    cls = classes_of(frame)
    change = _change_codes(frame, drift)

    columns: dict[str, np.ndarray] = {
        "src": src[order],
        "dst": dst[order],
        "pp": pp[order],
        "scope": scope[order],
        "cls": cls[order],
    }
    strings: dict[str, list[str]] = {}
    text_columns = ["expected", "observed", "state", "evidence", "reason", "confirmed"]
    intent = bool((frame["intent_verdict"] != "").any()) if n else False
    if intent:
        text_columns += ["intended", "intent_verdict"]
    text_columns += list(run.extras)
    for name in text_columns:
        categories = list(frame[name].cat.categories)
        strings[name] = [cut(c) for c in categories]
        columns[name] = frame[name].cat.codes.to_numpy()[order]
    columns["latency"] = three_digits(frame["latency_ms"].to_numpy())[order]
    if change is not None:
        columns["change"] = change[order]

    sorted_scope, sorted_pp = columns["scope"], columns["pp"]
    heatmaps = _heatmaps(
        sorted_pp,
        ns_of_name[columns["src"]],
        ns_of_name[columns["dst"]],
        columns["cls"],
        columns.get("change"),
        pod_scope[order],
        len(ports),
    )
    summary = np.bincount(
        sorted_scope.astype(np.int64) * len(CLASSES) + columns["cls"], minlength=len(scope_names) * len(CLASSES)
    )
    data: dict[str, Any] = {
        "format": FORMAT,
        "title": _title(run.info),
        "run": _run_facts(run),
        "classes": [
            {"name": c.name, "glyph": c.glyph, "colour": c.colour, "text": c.text, "meaning": c.meaning}
            for c in CLASSES
        ],
        "changes": list(CHANGES[1:]),
        "summary": {
            "scopes": scope_names,
            "counts": summary.reshape(len(scope_names), len(CLASSES)).tolist() if scope_names else [],
            "probes": n,
        },
        "names": [cut(x, 400) for x in names],
        "namespaces": namespaces,
        "ports": ports,
        "heatmaps": heatmaps,
        "rows": {
            "count": n,
            "strings": strings,
            "columns": {name: pack(values) for name, values in columns.items()},
        },
        "intent": _intent(frame) if intent else None,
        "drift": _drift_section(drift),
        "sections": _sections(run.info),
    }
    return data


def _sort_order(keys: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """The row order sorting by ``keys`` (most significant first): one int64 key packed from
    all of them when their value ranges fit 63 bits (one argsort instead of a six-key lexsort),
    else a lexsort."""
    import numpy as np

    bits = [max(1, int(size - 1).bit_length()) for size in sizes]
    if sum(bits) > 63:
        return np.lexsort(tuple(reversed(keys)))
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for key, width in zip(keys, bits, strict=True):
        packed = (packed << width) | key.astype(np.int64)
    order: np.ndarray = np.argsort(packed, kind="stable")
    return order


def _dense_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for small non-negative integer keys, in O(n)."""
    import numpy as np

    present = np.bincount(keys, minlength=1) > 0 if len(keys) else np.zeros(1, dtype=bool)
    uniques = np.flatnonzero(present)
    lookup = np.zeros(max(len(present), 1), dtype=np.int64)
    lookup[uniques] = np.arange(len(uniques))
    return uniques, lookup[keys]


def _rank(scope: str) -> int:
    return SCOPE_ORDER.index(scope) if scope in SCOPE_ORDER else len(SCOPE_ORDER)


def _heatmaps(
    pp: np.ndarray,
    src_ns: np.ndarray,
    dst_ns: np.ndarray,
    cls: np.ndarray,
    change: np.ndarray | None,
    pod: np.ndarray,
    n_ports: int,
) -> list[dict[str, Any]]:
    """Per port/protocol, the namespace pairs of pod-scope rows: counts per class, the
    slice of the sorted rows, and how many of them changed since the baseline."""
    import numpy as np

    rows = np.flatnonzero(pod)
    out: list[dict[str, Any]] = [{"port": i, "cells": []} for i in range(n_ports)]
    if not len(rows):
        return [h for h in out if h["cells"]]
    key = (pp[rows].astype(np.int64) << 40) | (src_ns[rows].astype(np.int64) << 20) | dst_ns[rows].astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    ends = np.concatenate([starts[1:], [len(rows)]])
    group = np.repeat(np.arange(len(starts)), ends - starts)
    counts = np.bincount(group * len(CLASSES) + cls[rows], minlength=len(starts) * len(CLASSES)).reshape(
        -1, len(CLASSES)
    )
    changed = (
        np.bincount(group, weights=(change[rows] > 0).astype(np.int64), minlength=len(starts)).astype(np.int64)
        if change is not None
        else np.zeros(len(starts), dtype=np.int64)
    )
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        k = int(key[s])
        out[k >> 40]["cells"].append(
            [(k >> 20) & 0xFFFFF, k & 0xFFFFF, int(rows[s]), int(rows[e - 1]) + 1, counts[g].tolist(), int(changed[g])]
        )
    return [h for h in out if h["cells"]]


def _change_codes(frame: pd.DataFrame, drift: Any) -> np.ndarray | None:
    """The drift code of every row of ``frame`` (0: unchanged), or None without a baseline."""
    import numpy as np
    import pandas as pd

    if drift is None:
        return None
    out = np.zeros(len(frame), dtype=np.uint8)
    cells = drift.rows[drift.rows["change"] != "disappeared"]
    if not len(cells) or not len(frame):
        return out
    keys = ["source", "destination", "port", "protocol", "scope"]
    wanted = frame["source"].isin(set(cells["source"])).to_numpy()
    candidates = frame.loc[wanted, keys].astype({k: str for k in keys if k != "port"})
    candidates["_row"] = np.flatnonzero(wanted)
    right = cells[[*keys, "change"]].astype({k: str for k in keys if k != "port"})
    right = right.astype({"port": np.int64})
    candidates = candidates.astype({"port": np.int64})
    matched = pd.merge(candidates, right, on=keys, how="inner")
    code = {c: i for i, c in enumerate(CHANGES)}
    out[matched["_row"].to_numpy()] = matched["change"].map(code).fillna(0).to_numpy().astype(np.uint8)
    return out


def _drift_section(drift: Any) -> dict[str, Any] | None:
    if drift is None:
        return None
    gone = drift.rows[drift.rows["change"] == "disappeared"]
    return {
        "baseline": cut(drift.baseline, 400),
        "counts": drift.counts,
        "unmeasured": drift.unmeasured,
        "renamed": [[cut(r.old, 400), cut(r.new, 400), cut(r.workload, 400)] for r in drift.renamed[:MAX_LISTED]],
        "renamed_total": len(drift.renamed),
        "disappeared": [
            [cut(r.source, 400), cut(r.destination, 400), f"{r.port}/{r.protocol}", cut(r.scope, 100), cut(r.old, 100)]
            for r in gone.head(MAX_DISAPPEARED).itertuples(index=False)
        ],
        "disappeared_total": len(gone),
        "notes": [cut(x) for x in drift.notes[:MAX_LISTED]],
    }


def _intent(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["intent_verdict"].value_counts()
    return {cut(str(k), 100): int(v) for k, v in counts.items() if str(k) and int(v)}


def _title(info: Mapping[str, Any]) -> str:
    sweep_id = info.get("sweep_id") or dig(info, "options.sweep.sweep_id") or "?"
    return cut(f"kubereach sweep {sweep_id} ({info.get('context', '?')})", 300)


def _run_facts(run: RunFolder) -> dict[str, Any]:
    info = run.info
    sweep = mapping_at(info, "options.sweep")
    keep = {
        "sweep_id": info.get("sweep_id") or sweep.get("sweep_id"),
        "context": info.get("context"),
        "namespaces": info.get("namespaces"),
        "started_at": info.get("started_at") or sweep.get("started_at"),
        "wall_s": info.get("wall_s"),
        "agents": info.get("agents"),
        "probes": info.get("probes"),
        "reprobed": info.get("reprobed"),
        "complete": info.get("complete"),
        "exit_code": info.get("exit_code"),
        "method": sweep.get("method"),
        "source_mode": sweep.get("source_mode"),
        "kubereach": dig(info, "versions.kubereach"),
    }
    facts = {k: (None if v == "" else bounded(v)) for k, v in keep.items()}  # every key, None when unknown
    notes, skipped = list_at(info, "notes"), list_at(info, "skipped")
    facts["notes"] = [cut(x) for x in notes[:MAX_LISTED]]
    facts["notes_total"] = len(notes)
    facts["skipped"] = [bounded(x) for x in skipped[:MAX_LISTED]]
    facts["skipped_total"] = len(skipped)
    return facts


def _sections(info: Mapping[str, Any]) -> dict[str, Any]:
    """What other features add to run.json, shown when present: audit findings (a list, or
    ``{"findings": [...]}``), exposure results, coverage."""
    out: dict[str, Any] = {}
    audit = info.get("audit", info.get("findings"))
    if isinstance(audit, Mapping):
        audit = audit.get("findings")
    if isinstance(audit, list) and audit:
        out["audit"] = bounded(audit)
    exposure = info.get("exposure")
    if isinstance(exposure, Mapping):
        exposure = exposure.get("results", exposure.get("findings", [exposure]))
    if isinstance(exposure, list) and exposure:
        out["exposure"] = bounded(exposure)
    coverage = info.get("coverage")
    if isinstance(coverage, Mapping) and coverage:
        out["coverage"] = bounded(coverage)
    return out


__all__ = ["CHANGES", "CLASSES", "FORMAT", "VerdictClass", "pack", "report_data", "unpack", "unpack_columns"]
