"""``audit(snapshot)``: every check over one compiled snapshot, findings sorted, located.

Each finding gets the origin (file, document, line) of each of its objects, None where
unknown, so SARIF can point at the manifest line.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.audit.checks import ALL
from orchestrator.audit.context import AuditContext
from orchestrator.audit.findings import Finding, object_name, sort_findings
from orchestrator.model.evaluate import PolicyModel
from orchestrator.snapshot.types import Origin, Snapshot


def _origins(snapshot: Snapshot) -> dict[str, Origin]:
    out: dict[str, Origin] = {}
    for ns in snapshot.namespaces.values():
        if ns.origin:
            out[object_name("Namespace", None, ns.name)] = ns.origin
    for pod in snapshot.pods:
        if pod.origin:
            out[object_name("Pod", pod.namespace, pod.name)] = pod.origin
    for svc in snapshot.services:
        if svc.origin:
            out[object_name("Service", svc.namespace, svc.name)] = svc.origin
    for pol in snapshot.policies:
        if pol.origin:
            out[object_name("NetworkPolicy", pol.namespace, pol.name)] = pol.origin
    return out


def audit(snapshot: Snapshot, *, model: PolicyModel | None = None) -> list[Finding]:
    """Every finding about the snapshot's policies, most severe first."""
    ctx = AuditContext(snapshot, model)
    where = _origins(snapshot)
    found: dict[str, Finding] = {}
    for check in ALL:
        for finding in check(ctx):
            located = tuple(where.get(obj) for obj in finding.objects)
            found.setdefault(finding.id, replace(finding, origins=located))
    return sort_findings(found.values())
