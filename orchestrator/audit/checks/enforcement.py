"""Intra-pod rules that cannot be enforced: findings of the one enforceability function
(:func:`orchestrator.intrapod.intrapod_findings`), as audit findings, plus the kinds of
objects the snapshot skipped (whatever they do is not audited).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orchestrator.audit.context import AuditContext
from orchestrator.audit.findings import Finding, Severity, listing
from orchestrator.errors import ManifestError
from orchestrator.intrapod import intrapod_findings, pod_rules
from orchestrator.snapshot.types import Pod

# Root or NET_ADMIN can delete the rules outright: worse than rules that cannot tell two
# containers apart.
_HIGH = {"root-uid", "net-admin"}


def _findings_per_pod(ctx: AuditContext) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Enforceability findings per pod (the one function predict, the sweep and the webhook
    use), and the pods whose rules are invalid, with why: an invalid annotation enforces
    nothing, and it must not hide any other pod's findings."""
    invalid: dict[str, str] = {}
    for pod in ctx.pods:
        try:
            pod_rules(pod)
        except ManifestError as exc:
            invalid[pod.key] = exc.detail
    return dict(intrapod_findings(ctx.snapshot)), invalid


def intrapod_unenforceable(ctx: AuditContext) -> Iterator[Finding]:
    found, invalid = _findings_per_pod(ctx)
    pods: dict[str, Pod] = {p.key: p for p in ctx.pods}
    for key, problem in sorted(invalid.items()):
        pod = pods[key]
        yield Finding(
            "intrapod-unenforceable",
            f"{ctx.pod_name(pod)} invalid",
            Severity.HIGH,
            f"{key}: invalid intra-pod rules",
            f"The intrapod.kubereach.io/rules annotation of {key} is invalid, so none of its rules is "
            f"enforced: {problem[:300]}",
            (ctx.pod_name(pod),),
            "Fix the annotation (kubereach predict -f names the field).",
        )
    for key, items in sorted(found.items()):
        pod = pods[key]
        for item in items:
            code = str(getattr(item, "code", ""))
            containers = tuple(getattr(item, "containers", ()))
            yield Finding(
                "intrapod-unenforceable",
                f"{ctx.pod_name(pod)} {code} {','.join(containers)}",
                Severity.HIGH if code in _HIGH else Severity.MEDIUM,
                f"{key}: intra-pod rules not enforceable ({code})",
                f"{getattr(item, 'message', '')}; the rules of {key} that involve {listing(list(containers))} "
                "cannot be enforced as declared.",
                (ctx.pod_name(pod),),
                "Give every container its own non-root runAsUser, and no NET_ADMIN.",
            )


def objects_skipped(ctx: AuditContext) -> Iterator[Finding]:
    skipped = ctx.snapshot.skipped_kinds
    if skipped:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
        yield Finding(
            "objects-skipped",
            "snapshot",
            Severity.INFO,
            f"{sum(skipped.values())} objects of kinds kubereach does not model were skipped",
            f"Skipped: {kinds}. Whatever they do to traffic is not part of this audit.",
            (),
        )


CHECKS = (intrapod_unenforceable, objects_skipped)
