"""Read YAML/JSON manifest files and directories into a :class:`Snapshot`.

Owns file handling: directories are walked recursively for ``*.yaml``, ``*.yml`` and
``*.json`` (sorted, so results are reproducible); YAML files may hold several
documents; ``kind: List`` and ``kubectl get -o yaml`` output are unpacked. ``-`` reads
standard input (YAML, or JSON when it starts with ``{``), named ``<stdin>`` in
messages. Document numbers in messages count from 1 within a file.

A directory holding a ``Chart.yaml`` is a Helm chart: its ``templates/`` are Go
templates, not manifests, so they are skipped (and counted) instead of failing as
invalid YAML; ``helm template`` renders them. Documents that are not Kubernetes objects
(``values.yaml``, ``Chart.yaml``, ``kustomization.yaml``) are skipped by the snapshot
builder; both are counted in ``Snapshot.load.skipped_documents``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import safeyaml
from orchestrator.errors import ManifestError
from orchestrator.snapshot.build import snapshot_from_objects
from orchestrator.snapshot.types import LoadOptions, Origin, Snapshot
from safeyaml import MANIFESTS, QUOTE_LIMIT, Limits, YamlError, quote

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"  # ``-f -``, as kubectl: read the manifests from standard input
_TOO_DEEP = "nested too deeply to be a Kubernetes manifest"
HELM_CHART = "Chart.yaml"


def _chart_templates(found: list[Path]) -> set[Path]:
    """The files under ``templates/`` of a Helm chart (a directory holding Chart.yaml)."""
    charts = {p.parent for p in found if p.name == HELM_CHART}
    return {p for p in found if any(p.is_relative_to(chart / "templates") for chart in charts)}


def manifest_files(paths: Sequence[str], skipped: dict[str, int] | None = None) -> list[Path]:
    """The files named, and every manifest file under the directories named (each once).

    Helm chart templates found while walking a directory are left out and counted in
    ``skipped`` (``"Helm chart templates (chart/templates/)": 5``)."""
    out: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if raw == STDIN:
            found = [path]
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise ManifestError("no *.yaml, *.yml or *.json files in this directory", file=str(path))
            templates = _chart_templates(found)
            for p in sorted(templates):
                label = f"Helm chart templates ({p.parent}/)"
                if skipped is not None:
                    skipped[label] = skipped.get(label, 0) + 1
            found = [p for p in found if p not in templates]
        elif path.exists():
            found = [path]
        else:
            raise ManifestError("no such file or directory", file=str(path))
        for p in found:
            real = STDIN if raw == STDIN else os.path.realpath(p)
            if real not in seen:
                seen.add(real)
                out.append(p)
    return out


def _read(path: Path, limit: int) -> bytes:
    """The file's bytes, refused before reading when larger than ``limit``."""
    if str(path) == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
    else:
        if path.stat().st_size > limit:
            raise ManifestError(f"larger than {limit:,} bytes: not read", file=str(path))
        data = path.read_bytes()
    if len(data) > limit:
        raise ManifestError(f"larger than {limit:,} bytes: not read", file="<stdin>")
    return data


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {quote(key, 60)}: an object cannot have the same key twice")
        out[key] = value
    return out


def _documents(path: Path, limits: Limits = MANIFESTS) -> Iterator[tuple[Any, Origin]]:
    """Each document of one file with where it came from; every problem a ManifestError.

    YAML goes through :mod:`safeyaml` (bounded size, depth and alias expansion; duplicate
    keys refused); JSON through the json module, which is faster on the large output of
    ``kubectl get -o json``, with the same checks."""
    name = "<stdin>" if str(path) == STDIN else str(path)
    try:
        raw = _read(path, limits.max_bytes)
        text = raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is not an error
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", file=name) from None
    except OSError as exc:
        raise ManifestError(f"cannot read: {exc.strerror}", file=name) from None
    if Path(name).suffix.lower() == ".json" or (name == "<stdin>" and text.lstrip().startswith("{")):
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except RecursionError:
            raise ManifestError(_TOO_DEEP, file=name, document=1) from None
        except ValueError as exc:
            raise ManifestError(f"invalid JSON: {str(exc)[:QUOTE_LIMIT]}", file=name, document=1) from None
        if _too_deep(doc, limits.max_depth):
            raise ManifestError(_TOO_DEEP, file=name, document=1)
        yield doc, Origin(name, 1)
        return
    try:
        for index, doc in safeyaml.load_all(text, limits):
            yield doc, Origin(name, index)
    except YamlError as exc:
        if exc.problem.startswith("nested too deeply"):
            raise ManifestError(_TOO_DEEP, file=name, document=exc.document) from None
        where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
        raise ManifestError(f"invalid YAML{where}: {exc.problem}", file=name, document=exc.document) from None


def _too_deep(doc: Any, max_depth: int) -> bool:
    """Whether ``doc`` nests deeper than ``max_depth``, checked without recursion."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def load_manifests(paths: Sequence[str], options: LoadOptions | None = None) -> Snapshot:
    """Files and directories of manifests -> one snapshot; ManifestError on bad input."""
    if not paths:
        raise ManifestError("no manifest files given (use -f FILE_OR_DIR)")
    skipped: dict[str, int] = {}
    files = manifest_files(paths, skipped)

    def objects() -> Iterator[tuple[Any, Origin]]:
        for f in files:
            yield from _documents(f)

    snapshot = snapshot_from_objects(objects(), options)
    if not skipped:
        return snapshot
    documents = {**skipped, **snapshot.load.skipped_documents}
    return replace(snapshot, load=replace(snapshot.load, skipped_documents=documents))
