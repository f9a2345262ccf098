"""Reading a sweep's results folder back: ``probes.csv``, ``run.json``, ``snapshot.json``.

``kubereach report``, ``kubereach diff``, ``sweep --baseline`` and ``sweep --format json``
all start from a results folder, and a folder may come from anywhere (a CI artifact, a
colleague's laptop, a CronJob's volume), so it is read as hostile input: file sizes and
row counts are bounded before anything is built, JSON nesting is bounded, the columns
the reports rely on are checked, and every error is a :class:`~orchestrator.errors.UsageError`
naming the file and what is wrong, quoting at most :data:`QUOTE_LIMIT` characters of it.

Folders written by older versions lack newer files and columns: a missing optional
column reads as empty, a missing ``run.json`` or ``snapshot.json`` as empty; columns this
version does not know (added by newer versions) are kept and shown as they are.

pandas is imported where it is used, so importing this module costs nothing.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UsageError
from orchestrator.sweep.compare import PROBES_COLUMNS, Verdict

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# Columns every probes.csv has had since the first version (DESIGN.md's contract).
REQUIRED_COLUMNS = ("source", "destination", "port", "protocol", "scope", "expected", "observed", "state", "verdict")
# Columns this version knows beyond those: the rest of the sweep's own, then the intent's
# two (posture issue); absent ones read as empty.
KNOWN_COLUMNS = (*PROBES_COLUMNS, "intended", "intent_verdict")
VERDICTS = frozenset(str(v) for v in Verdict)

# A 3,000-pod cluster probed in full on two ports is 18 million rows (about 6 GB of CSV);
# past these bounds a folder is more likely hostile than real, and would exhaust memory.
MAX_ROWS = 20_000_000
MAX_PROBES_BYTES = 8 << 30
# run.json carries one entry per API call: ~10,000 calls (2 MB) for a 2,000-pod sweep.
MAX_RUN_BYTES = 256 << 20
# snapshot.json of 2,000 pods with 500 policies is about 10 MB.
MAX_SNAPSHOT_BYTES = 512 << 20
# Columns a newer version may have added that are shown as they are; more is not a results folder.
MAX_EXTRA_COLUMNS = 32
# probes.csv's header line: 13 short names today.
MAX_HEADER_BYTES = 64 << 10
# How much of someone else's text an error message quotes.
QUOTE_LIMIT = 200


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of someone else's value, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class PodRecord:
    """What ``snapshot.json`` says about one pod that diffs and reports need."""

    key: str  # namespace/pod
    workload: str | None  # ``Kind/name`` of the workload that runs it (orchestrator.snapshot.owners), None: none


@dataclass(frozen=True)
class RunFolder:
    """One results folder, read back."""

    path: str
    probes: pd.DataFrame  # KNOWN_COLUMNS + extras; strings as categories, port int, latency_ms float (NaN: none)
    info: Mapping[str, Any] = field(default_factory=dict)  # run.json ({} when absent)
    pods: Mapping[str, PodRecord] = field(default_factory=dict)  # snapshot.json's pods by key ({} when absent)
    extras: tuple[str, ...] = ()  # probes.csv columns this version does not know
    workloads_recorded: bool = False  # whether snapshot.json records each pod's workload (newer folders)


def load_run(path: str, *, snapshot: bool = True) -> RunFolder:
    """Read a results folder; ``snapshot=False`` skips ``snapshot.json`` (only diffs need it)."""
    if not os.path.isdir(path):
        raise UsageError(f"{path}: not a directory (expected a kubereach results folder)")
    probes_path = os.path.join(path, "probes.csv")
    if not os.path.isfile(probes_path):
        raise UsageError(f"{path}: not a kubereach results folder (no probes.csv)")
    probes, extras = read_probes(probes_path)
    info = read_json_object(os.path.join(path, "run.json"), MAX_RUN_BYTES, missing_ok=True)
    pods: dict[str, PodRecord] = {}
    workloads_recorded = False
    if snapshot:
        snap = read_json_object(os.path.join(path, "snapshot.json"), MAX_SNAPSHOT_BYTES, missing_ok=True)
        pods, workloads_recorded = pod_records(snap, os.path.join(path, "snapshot.json"))
    return RunFolder(path, probes, info, pods, extras, workloads_recorded)


def read_json_object(path: str, max_bytes: int, *, missing_ok: bool = False) -> dict[str, Any]:
    """A JSON object from ``path``, at most ``max_bytes`` long; ``{}`` when missing and allowed."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise UsageError(f"{path}: larger than {max_bytes >> 20} MiB, not a kubereach results file")
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not valid JSON: {str(exc)[:QUOTE_LIMIT]}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def pod_records(snapshot: Mapping[str, Any], where: str) -> tuple[dict[str, PodRecord], bool]:
    """``{namespace/pod: PodRecord}`` from a snapshot.json object, and whether it records workloads
    (``pods[].workload``: ``{"kind": "Deployment", "name": "web"}`` or null)."""
    pods = snapshot.get("pods", [])
    if not isinstance(pods, list):
        raise UsageError(f"{where}: field pods: expected a list, got {type(pods).__name__}")
    out: dict[str, PodRecord] = {}
    recorded = False
    for i, pod in enumerate(pods):
        if not isinstance(pod, Mapping):
            raise UsageError(f"{where}: pods[{i}]: expected an object, got {type(pod).__name__}")
        ns, name = pod.get("namespace"), pod.get("name")
        if not isinstance(ns, str) or not isinstance(name, str):
            raise UsageError(f"{where}: pods[{i}]: namespace and name must be strings")
        recorded = recorded or "workload" in pod
        ref = pod.get("workload")
        kind, ref_name = (ref.get("kind"), ref.get("name")) if isinstance(ref, Mapping) else (None, None)
        workload = f"{kind}/{ref_name}" if isinstance(kind, str) and isinstance(ref_name, str) else None
        key = f"{ns}/{name}"
        out[key] = PodRecord(key, workload)
    return out, recorded


def read_header(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            line = fh.readline(MAX_HEADER_BYTES)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not line.endswith("\n") and len(line) >= MAX_HEADER_BYTES:
        raise UsageError(f"{path}: header line longer than {MAX_HEADER_BYTES} bytes")
    return next(csv.reader([line]), [])


def read_probes(
    path: str, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_PROBES_BYTES
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """probes.csv as a frame with every known column (absent ones empty), and the extra columns.

    Strings are categories (a 4-million-row file is ~60 MB in memory this way instead of
    several GB of Python strings), ``port`` an int, ``latency_ms`` a float (NaN: none).
    """
    import numpy as np
    import pandas as pd

    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise UsageError(f"{path}: {size >> 20} MiB, larger than the {max_bytes >> 20} MiB a results folder may hold")
    header = read_header(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}: not a kubereach probes.csv")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise UsageError(f"{path}: column(s) {', '.join(quote(c, 60) for c in dupes)} appear more than once")
    extras = tuple(c for c in header if c not in KNOWN_COLUMNS)
    if len(extras) > MAX_EXTRA_COLUMNS:
        raise UsageError(f"{path}: {len(header)} columns, more than a kubereach probes.csv has")
    dtype: dict[str, Any] = dict.fromkeys(header, "category")
    if "latency_ms" in header:
        dtype["latency_ms"] = "float64"
    try:
        frame = pd.read_csv(
            path,
            dtype=dtype,
            keep_default_na=False,
            na_values={"latency_ms": [""]},
            nrows=max_rows + 1,
            encoding="utf-8",
            engine="c",
        )
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: not a well-formed probes.csv: {str(exc)[:QUOTE_LIMIT]}") from None
    if len(frame) > max_rows:
        raise UsageError(f"{path}: more than {max_rows:,} rows, more than a results folder may hold")
    for column in KNOWN_COLUMNS:
        if column not in frame.columns:
            frame[column] = (
                np.nan
                if column == "latency_ms"
                else pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), categories=[""])
            )
    ports = frame["port"].cat.categories
    values = []
    for text in ports:
        try:
            number = int(text)
        except ValueError:
            number = -1
        if not 0 <= number <= 65535:
            raise UsageError(
                f"{path}: column port: {quote(str(text), 60)} is not a port number (row {_row_of(frame, 'port', text)})"
            )
        values.append(number)
    codes = frame["port"].cat.codes.to_numpy()
    frame["port"] = np.asarray(values, dtype=np.int32)[codes] if values else np.zeros(len(frame), dtype=np.int32)
    bad = [v for v in frame["verdict"].cat.categories if v not in VERDICTS]
    if bad:
        raise UsageError(
            f"{path}: column verdict: {quote(bad[0], 60)} (row {_row_of(frame, 'verdict', bad[0])}) is not one of "
            + ", ".join(sorted(VERDICTS))
        )
    for column in frame.columns:
        if column not in ("port", "latency_ms") and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str).astype("category")
    return frame[[*KNOWN_COLUMNS, *extras]], extras


def _row_of(frame: pd.DataFrame, column: str, value: str) -> int:
    """The data row (1 = the first after the header) where ``value`` first occurs."""
    return int((frame[column] == value).to_numpy().argmax()) + 1


def find_latest(parent: str, *, exclude: str | None = None) -> str:
    """The newest results folder directly under ``parent`` (by its probes.csv's modification
    time), other than ``exclude``: what ``sweep --baseline latest`` compares with."""
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        raise UsageError(
            f"--baseline latest: {parent} does not exist, so there is no earlier run to compare with"
        ) from None
    except OSError as exc:
        raise UsageError(f"--baseline latest: cannot list {parent}: {exc.strerror or exc}") from exc
    skip = os.path.realpath(exclude) if exclude else None
    best: tuple[float, str] | None = None
    for entry in entries:
        if not entry.is_dir() or (skip and os.path.realpath(entry.path) == skip):
            continue
        try:
            mtime = os.stat(os.path.join(entry.path, "probes.csv")).st_mtime
        except OSError:
            continue
        if best is None or (mtime, entry.path) > best:
            best = (mtime, entry.path)
    if best is None:
        raise UsageError(f"--baseline latest: no earlier results folder (with a probes.csv) in {parent}")
    return best[1]


def dig(info: Mapping[str, Any], dotted: str) -> Any:
    """``info["a"]["b"]`` for ``"a.b"``; None where a level is missing or not an object."""
    value: Any = info
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def mapping_at(info: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    """The object at ``dotted`` in someone else's JSON, or ``{}``."""
    value = dig(info, dotted)
    return value if isinstance(value, Mapping) else {}


def list_at(info: Mapping[str, Any], dotted: str) -> list[Any]:
    """The list at ``dotted`` in someone else's JSON, or ``[]``."""
    value = dig(info, dotted)
    return value if isinstance(value, list) else []


def resolve_baseline(value: str, output_dir: str | None, *, default_base: str = "results") -> str:
    """The folder ``sweep --baseline`` names: a results folder, or ``latest`` for the newest one
    beside this sweep's folder (the parent of ``-o DIR``, else ``results/``). Checked before
    the sweep starts, so a typo costs nothing."""
    if value == "latest":
        parent = os.path.dirname(os.path.abspath(output_dir)) if output_dir else default_base
        return find_latest(parent, exclude=output_dir)
    if not os.path.isfile(os.path.join(value, "probes.csv")):
        raise UsageError(f"--baseline {value}: not a kubereach results folder (no probes.csv)")
    if output_dir and os.path.realpath(value) == os.path.realpath(output_dir):
        raise UsageError(f"--baseline {value}: is this sweep's own results folder (-o); name an earlier run")
    return value


__all__ = [
    "KNOWN_COLUMNS",
    "PodRecord",
    "REQUIRED_COLUMNS",
    "RunFolder",
    "dig",
    "list_at",
    "mapping_at",
    "find_latest",
    "load_run",
    "pod_records",
    "quote",
    "read_json_object",
    "read_probes",
    "resolve_baseline",
]
