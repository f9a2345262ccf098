"""Services: selectors that match no pod, and targetPorts no backend declares.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.audit.context import AuditContext, bits, near_misses
from orchestrator.audit.findings import Finding, Severity, listing, object_name
from orchestrator.model.selectors import Operator, Requirement, Selector


def _selector(labels: dict[str, str]) -> Selector:
    return Selector(tuple(Requirement(k, Operator.IN, frozenset([v])) for k, v in sorted(labels.items())))


def services(ctx: AuditContext) -> Iterator[Finding]:
    for svc in ctx.snapshot.services:
        if not svc.selector:
            continue  # no selector: endpoints are managed by hand (or ExternalName)
        name = object_name("Service", svc.namespace, svc.name)
        selector = _selector(dict(svc.selector))
        pool = [ctx.pods[i] for i in bits(ctx.namespace_pods(svc.namespace, with_host_network=True))]
        backends = [p for p in pool if selector.matches(p.labels)]
        if not backends:
            misses = near_misses(selector, [(p.key, p.labels) for p in pool])
            hints = "; ".join(f"{key} has {label}" for key, label in misses)
            yield Finding(
                "service-selects-nothing",
                name,
                Severity.MEDIUM,
                f"Service {svc.namespace}/{svc.name} selects no pod",
                f"spec.selector ({selector}) matches no pod of namespace {svc.namespace}: connections to the "
                "Service reach nothing." + (f" {hints}: a typo?" if hints else ""),
                (name, *(object_name("Pod", *key.split("/", 1)) for key, _ in misses)),
                "Correct the selector or the pods' labels (kubereach does not guess which)."
                if misses
                else "Correct the selector, or delete the Service if its workload is gone.",
            )
            continue
        for k, port in enumerate(svc.ports):
            target = port.target_port if port.target_port is not None else port.port
            declared = [
                p
                for p in backends
                if any(
                    cp.protocol == port.protocol
                    and (cp.name == target if isinstance(target, str) else cp.port == target)
                    for c in p.serving_containers
                    for cp in c.ports
                )
            ]
            if declared:
                continue
            named = isinstance(target, str)
            yield Finding(
                "service-target-port-undeclared",
                f"{name} spec.ports[{k}]",
                Severity.MEDIUM if named else Severity.LOW,
                f"Service {svc.namespace}/{svc.name} port {port.port}: targetPort {target} declared by no backend",
                f"None of its backends ({listing([p.key for p in backends])}) declares a {port.protocol} container "
                f"port {'named ' + repr(target) if named else str(target)}"
                + (
                    ": a named targetPort resolves on the pods' declared ports, so this port has no endpoints."
                    if named
                    else ": it works only if the container listens there anyway, and NetworkPolicy named ports "
                    "and kubereach's probes cannot see it."
                ),
                (name, *(ctx.pod_name(p) for p in backends)),
                "Declare the port on the containers, or point targetPort at a declared one.",
            )


CHECKS = (services,)
