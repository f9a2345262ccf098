"""Coverage: which pods the policies isolate, default-deny per namespace, DNS for isolated
egress, and host-network pods a policy thinks it protects.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.audit.context import AuditContext, bits
from orchestrator.audit.dns import dns_servers, reaches_dns
from orchestrator.audit.findings import Finding, Severity, listing, object_name
from orchestrator.audit.fixes import allow_dns, default_deny, to_yaml
from orchestrator.audit.selection import select
from orchestrator.model.policy import Direction
from orchestrator.snapshot.types import Pod

_BOTH = (Direction.INGRESS, Direction.EGRESS)


def _words(directions: tuple[Direction, ...]) -> str:
    return " and ".join(str(d) for d in directions)


def _deny_fix(namespace: str, directions: tuple[Direction, ...]) -> str:
    return (
        "Add a default deny (it closes everything no other policy of the namespace allows: add the allow "
        "rules first; `kubereach suggest --intent FILE --tighten` writes both):\n"
        + to_yaml(default_deny(namespace, directions))
    )


def pods_not_isolated(ctx: AuditContext) -> Iterator[Finding]:
    groups: dict[tuple[str, tuple[Direction, ...]], list[Pod]] = {}
    for i, pod in enumerate(ctx.pods):
        if pod.host_network:
            continue  # not subject to policies at all: host-network-pod-selected says more
        missing = tuple(d for d in _BOTH if not ctx.isolated(i, d))
        if missing:
            groups.setdefault((pod.namespace, missing), []).append(pod)
    for (ns, missing), pods in sorted(groups.items()):
        words = "ingress or egress" if len(missing) == 2 else str(missing[0])
        keys = [p.key for p in pods]
        what = {
            Direction.INGRESS: "every source may connect to them",
            Direction.EGRESS: "they may connect anywhere",
        }
        yield Finding(
            "pods-not-isolated",
            f"{object_name('Namespace', None, ns)} {'+'.join(str(d) for d in missing)}",
            Severity.MEDIUM if len(missing) == 2 else Severity.LOW,
            f"{len(pods)} pod{'s' if len(pods) != 1 else ''} of namespace {ns} not isolated for {words}",
            f"No NetworkPolicy selects {listing(keys)} for {words}: " + "; ".join(what[d] for d in missing) + ".",
            (object_name("Namespace", None, ns), *(ctx.pod_name(p) for p in pods)),
            _deny_fix(ns, missing),
        )


def namespace_without_default_deny(ctx: AuditContext) -> Iterator[Finding]:
    covered: dict[str, set[Direction]] = {}
    for pol in ctx.policies:
        if pol.pod_selector.matches_all:
            covered.setdefault(pol.namespace, set()).update(d for d in _BOTH if pol.isolates(d))
    for ns in sorted({p.namespace for p in ctx.pods if not p.host_network}):
        missing = tuple(d for d in _BOTH if d not in covered.get(ns, set()))
        if not missing:
            continue
        yield Finding(
            "namespace-without-default-deny",
            f"{object_name('Namespace', None, ns)} {'+'.join(str(d) for d in missing)}",
            Severity.LOW,
            f"namespace {ns} has no default-deny for {_words(missing)}",
            f"No policy of namespace {ns} selects every pod (podSelector: {{}}) for {_words(missing)}: "
            "a new pod whose labels no policy expects starts open in that direction.",
            (object_name("Namespace", None, ns),),
            _deny_fix(ns, missing),
        )


def egress_without_dns(ctx: AuditContext) -> Iterator[Finding]:
    servers = dns_servers(ctx.snapshot)
    answer: dict[tuple[int, ...], bool] = {}  # per isolating policy set: the pod itself does not matter
    blind: dict[str, list[Pod]] = {}
    for i, pod in enumerate(ctx.pods):
        pols = ctx.builder.isolating[Direction.EGRESS][i]
        if pod.host_network or not pols:
            continue
        if pols not in answer:
            answer[pols] = reaches_dns(ctx.model, pod, servers)
        if not answer[pols]:
            blind.setdefault(pod.namespace, []).append(pod)
    for ns, pods in sorted(blind.items()):
        mine = {p.key for p in pods}
        others = [ctx.pods[i] for i in bits(ctx.namespace_pods(ns)) if ctx.pods[i].key not in mine]
        selection = select(pods, others)
        why = f"pods of {ns} are isolated for egress: let them query cluster DNS"
        if selection.unresolved or not selection.selectors:
            fix = (
                "Allow egress to kube-system pods labelled k8s-app=kube-dns on 53/UDP and 53/TCP; the isolated "
                "pods share their labels with pods that are not isolated, so no selector picks only them."
            )
        else:
            fix = "Allow DNS (egress to cluster DNS on 53/UDP and 53/TCP):\n" + "".join(
                to_yaml(allow_dns(ns, sel, why)) if k == 0 else "---\n" + to_yaml(allow_dns(ns, sel, why))
                for k, sel in enumerate(selection.selectors)
            )
        yield Finding(
            "egress-without-dns",
            object_name("Namespace", None, ns),
            Severity.MEDIUM,
            f"{len(pods)} egress-isolated pod{'s' if len(pods) != 1 else ''} of {ns} cannot reach cluster DNS",
            f"{listing([p.key for p in pods])} {'are' if len(pods) != 1 else 'is'} isolated for egress and no rule "
            "lets them reach cluster DNS (kube-system pods labelled k8s-app=kube-dns, 53/UDP): "
            "they will fail to resolve names.",
            (object_name("Namespace", None, ns), *(ctx.pod_name(p) for p in pods)),
            fix,
        )


def host_network_pod_selected(ctx: AuditContext) -> Iterator[Finding]:
    for pod in ctx.pods:
        if not pod.host_network:
            continue
        selecting = [
            pol for pol in ctx.policies if pol.namespace == pod.namespace and pol.pod_selector.matches(pod.labels)
        ]
        if not selecting:
            continue
        yield Finding(
            "host-network-pod-selected",
            ctx.pod_name(pod),
            Severity.MEDIUM,
            f"host-network pod {pod.key} is selected by a policy that does not apply to it",
            f"{listing([p.key for p in selecting])} select{'s' if len(selecting) == 1 else ''} {pod.key} by its "
            "labels, but the pod uses the node's network: NetworkPolicies do not apply to it, in either "
            "direction, and selectors never match it as a peer.",
            (ctx.pod_name(pod), *(ctx.policy_name(p) for p in selecting)),
            "Protect it on the node (host firewall), or run it without hostNetwork.",
        )


CHECKS = (pods_not_isolated, namespace_without_default_deny, egress_without_dns, host_network_pod_selected)
