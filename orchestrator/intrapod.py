"""Expected intra-pod verdicts and enforceability findings for every pod of a snapshot.

Owns the orchestrator's side of the ``intrapod.kubereach.io/rules`` annotation: it
decodes the annotation's YAML (PyYAML lives here, not in ``probe/``), validates it
against the pod's containers with :mod:`probe.intrapod_rules`, and turns
``expected_pairs`` into rows shaped like the pod-level ones, with
``namespace/pod/container`` as source and destination.

Public API:
- ``expected_intrapod(snapshot) -> list[IntraPodRow]``; ``analyze_intrapod(snapshot, ports=None)``
  (rows and findings; ``ports`` keeps only those (port, protocol) rows, as ``--port`` does)
- ``intrapod_findings(snapshot) -> dict[str, list[Finding]]`` (pod key -> findings)
- ``pod_rules(pod) -> IntraPodRules | None`` and ``container_infos(pod)``

Invalid rules raise :class:`ManifestError` naming the pod's file, document, the pod
and the annotation, listing every problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import yaml

from orchestrator.errors import ManifestError
from orchestrator.model.verdict import Decision
from orchestrator.snapshot.types import Pod, Snapshot
from probe.intrapod_rules import (
    ANNOTATION,
    Action,
    ContainerInfo,
    Finding,
    IntraPodRules,
    RulesError,
    enforceability_findings,
    expected_pairs,
    parse_rules,
)
from probe.schema import PortRef, Protocol

FIELD = f"metadata.annotations[{ANNOTATION}]"


class IntraPodRow(NamedTuple):
    """Same shape as :class:`orchestrator.model.ExpectedRow`; keys are ``namespace/pod/container``."""

    source: str
    destination: str
    port: int
    protocol: Protocol
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class IntraPodAnalysis:
    rows: tuple[IntraPodRow, ...]
    findings: dict[str, list[Finding]]


def container_infos(pod: Pod) -> list[ContainerInfo]:
    """What the rules need of each (regular) container: UID, declared ports, NET_ADMIN."""
    infos = []
    for c in pod.containers:
        ports = tuple(dict.fromkeys(PortRef(p.port, p.protocol) for p in c.ports))
        names = {p.name: PortRef(p.port, p.protocol) for p in c.ports if p.name}
        net_admin = any(cap.upper() in ("NET_ADMIN", "CAP_NET_ADMIN", "ALL") for cap in c.capabilities_add)
        infos.append(ContainerInfo(c.name, c.run_as_user, ports, names, net_admin))
    return infos


def _error(pod: Pod, message: str) -> ManifestError:
    origin = pod.origin
    return ManifestError(
        message,
        file=origin.source if origin else None,
        document=origin.document if origin else None,
        obj=f"Pod {pod.key}",
        field=FIELD,
    )


def pod_rules(pod: Pod) -> IntraPodRules | None:
    """The pod's validated rules, or None when it has no annotation."""
    text = pod.annotations.get(ANNOTATION)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _error(pod, f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    infos = {c.name: c for c in container_infos(pod)}
    try:
        return parse_rules(data, infos)
    except RulesError as exc:
        raise _error(pod, "; ".join(exc.problems)) from None


def _rows(pod: Pod, rules: IntraPodRules, findings: list[Finding]) -> list[IntraPodRow]:
    weak = {name: f.code for f in findings for name in f.containers}
    rows = []
    for exp in expected_pairs(rules, container_infos(pod)):
        reason = f"intra-pod {exp.decision.reason}"
        codes = sorted({weak[n] for n in (exp.source, exp.target) if n in weak})
        if codes:
            reason += f"; not enforceable as declared: {', '.join(codes)}"
        decision = Decision.ALLOW if exp.decision.action is Action.ALLOW else Decision.DENY
        rows.append(
            IntraPodRow(
                f"{pod.key}/{exp.source}", f"{pod.key}/{exp.target}", exp.port.port, exp.port.protocol, decision, reason
            )
        )
    return rows


def analyze_intrapod(snapshot: Snapshot, ports: Iterable[tuple[int, Protocol]] | None = None) -> IntraPodAnalysis:
    """Rows and findings for every pod carrying the annotation (host-network pods included).

    ``ports`` (``--port``): keep only the rows on these (port, protocol) pairs, as the
    sweep does; intra-pod rules only cover ports the target container declares, so
    no row is made up for an undeclared one."""
    wanted = None if ports is None else {(int(p), Protocol(proto)) for p, proto in ports}
    rows: list[IntraPodRow] = []
    findings: dict[str, list[Finding]] = {}
    for pod in snapshot.pods:
        rules = pod_rules(pod)
        if rules is None:
            continue
        found = enforceability_findings(container_infos(pod))
        findings[pod.key] = found
        rows.extend(r for r in _rows(pod, rules, found) if wanted is None or (r.port, r.protocol) in wanted)
    return IntraPodAnalysis(tuple(rows), findings)


def expected_intrapod(snapshot: Snapshot) -> list[IntraPodRow]:
    return list(analyze_intrapod(snapshot).rows)


def intrapod_findings(snapshot: Snapshot) -> dict[str, list[Finding]]:
    return analyze_intrapod(snapshot).findings
