"""``kubereach audit`` output: a table grouped by severity, JSON, and SARIF 2.1.0.

SARIF puts each finding on the manifest file and line its first object was read from
(``Origin``), so CI code scanning annotates the YAML; the finding's ``id`` is its
partial fingerprint, so a finding keeps its identity across runs. Findings about a live
cluster have no file: they carry the object names as logical locations only.
Strings in, strings out.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from orchestrator.audit.findings import KINDS, Finding, Severity
from orchestrator.snapshot.types import Origin

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.INFO: "note"}
# GitHub code scanning ranks security alerts by this property (0.1-10): high >= 7, medium >= 4.
SECURITY_SEVERITY = {Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0", Severity.INFO: "0.5"}
WIDTH = 100


def counts_line(findings: Sequence[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    if not findings:
        return "no findings"
    parts = ", ".join(f"{counts[s]} {s}" for s in Severity if counts[s])
    return f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {parts}"


def _indent(text: str, prefix: str) -> str:
    lines = []
    for line in text.splitlines():
        wrapped = textwrap.wrap(line, WIDTH - len(prefix), break_on_hyphens=False) if line.strip() else [""]
        lines += (
            [prefix + w if w else prefix.rstrip() for w in wrapped] if not line.startswith(" ") else [prefix + line]
        )
    return "\n".join(lines)


def render_table(findings: Sequence[Finding]) -> str:
    """Grouped by severity, most severe first; each finding with its objects and fix."""
    if not findings:
        return "no findings\n"
    parts = []
    for severity in Severity:
        mine = [f for f in findings if f.severity is severity]
        if not mine:
            continue
        parts.append(f"{severity.upper()} ({len(mine)})")
        for f in mine:
            block = [f"  [{f.id}]", _indent(f.title, "    "), _indent(f.message, "    ")]
            if f.objects:
                shown = list(f.objects[:10]) + ([f"... and {len(f.objects) - 10} more"] if len(f.objects) > 10 else [])
                block.append("    objects: " + ", ".join(shown))
            first = next((o for o in f.origins if o is not None), None)
            if first is not None:
                block.append(f"    at: {first.source}" + (f":{first.line}" if first.line else ""))
            if f.fix:
                fix_lines = f.fix.splitlines()
                block.append("    fix: " + fix_lines[0])
                block += ["      " + line for line in fix_lines[1:]]
            parts.append("\n".join(block))
    parts.append(counts_line(findings))
    return "\n\n".join(parts) + "\n"


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2) + "\n"


def _file_origin(origin: Origin) -> bool:
    return origin.document is not None and origin.source != "<stdin>" and not origin.source.startswith("context ")


def _artifact(origin: Origin, root: Path) -> dict[str, object]:
    path = Path(origin.source)
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return {"uri": path.resolve().as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}


def _location(origin: Origin, name: str, root: Path) -> dict[str, object]:
    physical: dict[str, object] = {"artifactLocation": _artifact(origin, root)}
    if origin.line:
        physical["region"] = {"startLine": origin.line}
    return {
        "physicalLocation": physical,
        "logicalLocations": [{"fullyQualifiedName": name, "kind": "resource"}],
    }


def render_sarif(findings: Sequence[Finding], *, version: str, root: str | None = None) -> str:
    """A SARIF 2.1.0 log with one run; file URIs relative to ``root`` (default: the current
    directory, where CI checks the repository out) under ``%SRCROOT%``."""
    base = Path(root or ".").resolve()
    kinds = sorted({f.kind for f in findings} | set(KINDS))
    rule_index = {k: i for i, k in enumerate(kinds)}
    rules = []
    for k in kinds:
        kind = KINDS[k]
        rules.append(
            {
                "id": k,
                "name": "".join(w.capitalize() for w in k.split("-")),
                "shortDescription": {"text": kind.title},
                "fullDescription": {"text": kind.description},
                "help": {"text": kind.description},
                "defaultConfiguration": {"level": SARIF_LEVEL[kind.severity]},
                "properties": {
                    "tags": ["security", "kubernetes", "networkpolicy"],
                    "security-severity": SECURITY_SEVERITY[kind.severity],
                },
            }
        )
    results = []
    for f in findings:
        located = [(n, o) for n, o in zip(f.objects, f.origins, strict=False) if o is not None and _file_origin(o)]
        result: dict[str, object] = {
            "ruleId": f.kind,
            "ruleIndex": rule_index[f.kind],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.title}. {f.message}"},
            "partialFingerprints": {"kubereachFindingId/v1": f.id},
            "properties": {
                "severity": str(f.severity),
                "security-severity": SECURITY_SEVERITY[f.severity],
                "objects": list(f.objects),
                **({"fix": f.fix} if f.fix else {}),
            },
        }
        if located:
            name, origin = located[0]
            result["locations"] = [_location(origin, name, base)]
            related = [
                {**_location(o, n, base), "id": i, "message": {"text": n}} for i, (n, o) in enumerate(located[1:], 1)
            ]
            if related:
                result["relatedLocations"] = related
        elif f.objects:
            result["locations"] = [
                {"logicalLocations": [{"fullyQualifiedName": n, "kind": "resource"} for n in f.objects[:10]]}
            ]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "kubereach", "version": version, "rules": rules}},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
