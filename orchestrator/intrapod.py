"""Intra-pod rules of snapshot pods: the one pod -> containers translation, rules, findings.

Owns the orchestrator's side of the ``intrapod.kubereach.io/rules`` annotation, for
``predict``, the sweep *and* the admission webhook (which turns the pod of an
AdmissionReview into a snapshot :class:`~orchestrator.snapshot.types.Pod` first):

- :func:`container_infos` is the one translation from a snapshot pod to what the rules
  and their enforceability need of each container (regular containers, native sidecars
  and plain init containers, each with its effective UID, declared ports, NET_ADMIN and
  privileged);
- :func:`pod_intrapod` decodes the annotation with :mod:`safeyaml` (the bounds of one
  annotation), validates it against those containers with
  :func:`probe.intrapod_rules.parse_rules`, and asks
  :func:`probe.intrapod_rules.enforceability_findings` what cannot be enforced. Every
  caller gets the same findings because there is only this path.

``predict`` shows every finding, the sweep reports them for the pods it swept, the
webhook denies blocking ones and warns about the others.

Public API:
- ``container_infos(pod) -> list[ContainerInfo]``; ``pod_intrapod(pod) -> PodIntrapod | None``
- ``pod_rules(pod) -> IntraPodRules | None`` (ManifestError for invalid rules)
- ``analyze_intrapod(snapshot, ports=None)`` (rows and findings), ``expected_intrapod``,
  ``intrapod_findings(snapshot, pods=None)`` (never raises: for reports)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import safeyaml
from orchestrator.errors import ManifestError
from orchestrator.model.verdict import Decision
from orchestrator.snapshot.types import Container, Pod, Snapshot
from probe.intrapod_rules import (
    ANNOTATION,
    INIT_CONTAINER_NAME,
    Action,
    ContainerInfo,
    ContainerKind,
    Finding,
    IntraPodRules,
    RulesError,
    enforceability_findings,
    expected_pairs,
    has_net_admin,
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


@dataclass(frozen=True, slots=True)
class PodIntrapod:
    """A pod's intra-pod rules as every consumer sees them.

    ``rules`` is None when ``problems`` (invalid YAML or rule fields) were found;
    ``findings`` are computed either way (they depend on the containers only).
    """

    rules: IntraPodRules | None
    containers: tuple[ContainerInfo, ...]
    findings: tuple[Finding, ...]
    problems: tuple[str, ...] = ()

    @property
    def rule_containers(self) -> dict[str, ContainerInfo]:
        """The containers a rule may name: regular ones and native sidecars."""
        return {c.name: c for c in self.containers if c.in_rules}


def _kind(c: Container) -> ContainerKind:
    if c.kind == "container":
        return ContainerKind.CONTAINER
    return ContainerKind.SIDECAR if c.native_sidecar else ContainerKind.INIT


def container_info(c: Container) -> ContainerInfo:
    """What the rules need of one container: effective UID, declared ports, capabilities."""
    ports = tuple(dict.fromkeys(PortRef(p.port, p.protocol) for p in c.ports))
    names = {p.name: PortRef(p.port, p.protocol) for p in c.ports if p.name}
    return ContainerInfo(
        c.name,
        c.run_as_user,
        ports,
        names,
        net_admin=has_net_admin(c.capabilities_add, c.capabilities_drop, privileged=c.privileged),
        privileged=c.privileged,
        kind=_kind(c),
    )


def container_infos(pod: Pod) -> list[ContainerInfo]:
    """Regular containers, then init containers (native sidecars and plain ones) in spec
    order. Left out: kubereach's own init container (``kubereach-intrapod``: it installs
    the rules; the webhook replaces anything of that name with exactly its own) and
    ephemeral containers (added after the pod started, kubereach's sweep agents among
    them; they take no part in the rules)."""
    inits = (c for c in pod.init_containers if c.name != INIT_CONTAINER_NAME)
    return [container_info(c) for c in (*pod.containers, *inits)]


def decode_rules(text: str) -> Any:
    """The annotation's YAML (or JSON) with the bounds of one annotation; YamlError otherwise."""
    return safeyaml.load(text, safeyaml.ANNOTATIONS)


def _yaml_problem(exc: safeyaml.YamlError) -> str:
    where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
    return f"invalid YAML{where}: {exc.problem}"


def pod_intrapod(pod: Pod) -> PodIntrapod | None:
    """The pod's rules, containers and findings; None when it has no annotation."""
    text = pod.annotations.get(ANNOTATION)
    if text is None:
        return None
    infos = tuple(container_infos(pod))
    findings = tuple(enforceability_findings(infos, host_network=pod.host_network))
    try:
        data = decode_rules(text)
    except safeyaml.YamlError as exc:
        return PodIntrapod(None, infos, findings, (_yaml_problem(exc),))
    try:
        rules = parse_rules(data, {c.name: c for c in infos if c.in_rules})
    except RulesError as exc:
        return PodIntrapod(None, infos, findings, tuple(exc.problems))
    return PodIntrapod(rules, infos, findings)


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
    """The pod's validated rules, or None when it has no annotation; ManifestError listing
    every problem of invalid rules."""
    found = pod_intrapod(pod)
    if found is None:
        return None
    if found.rules is None:
        raise _error(pod, "; ".join(found.problems))
    return found.rules


def _rows(pod: Pod, found: PodIntrapod) -> list[IntraPodRow]:
    assert found.rules is not None
    weak: dict[str, list[str]] = {}
    for f in found.findings:
        if f.blocking:
            for name in f.containers:
                weak.setdefault(name, []).append(str(f.code))
    rows = []
    for exp in expected_pairs(found.rules, found.containers):
        reason = f"intra-pod {exp.decision.reason}"
        codes = sorted({code for n in (exp.source, exp.target) for code in weak.get(n, ())})
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
    no row is made up for an undeclared one. Invalid rules raise ManifestError."""
    wanted = None if ports is None else {(int(p), Protocol(proto)) for p, proto in ports}
    rows: list[IntraPodRow] = []
    findings: dict[str, list[Finding]] = {}
    for pod in snapshot.pods:
        found = pod_intrapod(pod)
        if found is None:
            continue
        if found.rules is None:
            raise _error(pod, "; ".join(found.problems))
        findings[pod.key] = list(found.findings)
        rows.extend(r for r in _rows(pod, found) if wanted is None or (r.port, r.protocol) in wanted)
    return IntraPodAnalysis(tuple(rows), findings)


def expected_intrapod(snapshot: Snapshot) -> list[IntraPodRow]:
    return list(analyze_intrapod(snapshot).rows)


def intrapod_findings(snapshot: Snapshot, pods: Iterable[str] | None = None) -> dict[str, list[Finding]]:
    """pod key -> findings, for every pod carrying the annotation (only ``pods`` when given).

    Never raises: invalid rules are reported where they are met (predict's error, the
    sweep's "not probed"), and a pod's findings do not depend on its rules."""
    keys = None if pods is None else set(pods)
    out: dict[str, list[Finding]] = {}
    for pod in snapshot.pods:
        if keys is not None and pod.key not in keys:
            continue
        found = pod_intrapod(pod)
        if found is not None:
            out[pod.key] = list(found.findings)
    return out
