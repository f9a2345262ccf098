"""Dead configuration: policies that select nothing, peers that match nothing, named ports
that resolve nowhere, and the list-dash mistake (two peers, OR, where one was meant, AND).

Dead rules are usually typos, so each finding looks for the near miss: the label one
or two edits away that the selector was probably meant to match. Which side is wrong
(the selector or the label) only a person can tell; the finding says both.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from orchestrator.audit.context import (
    AuditContext,
    bits,
    describe_mask,
    field_of,
    near_misses,
    peer_word,
)
from orchestrator.audit.findings import Finding, Severity, listing, object_name
from orchestrator.model.policy import Direction, Peer
from orchestrator.model.selectors import Selector
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL


def _isolation_words(ctx: AuditContext, pod_index: int) -> str:
    free = [str(d) for d in (Direction.INGRESS, Direction.EGRESS) if not ctx.isolated(pod_index, d)]
    return f"{ctx.pods[pod_index].key} is not isolated for {' or '.join(free)}" if free else ""


def policy_selects_nothing(ctx: AuditContext) -> Iterator[Finding]:
    for pi, pol in enumerate(ctx.policies):
        if ctx.selected(pi):
            continue
        in_ns = ctx.namespace_pods(pol.namespace, with_host_network=True)
        if any(pol.pod_selector.matches(ctx.pods[i].labels) for i in bits(in_ns)):
            continue  # it selects host-network pods only: host-network-pod-selected reports that
        candidates = [(ctx.pods[i].key, ctx.pods[i].labels) for i in bits(ctx.namespace_pods(pol.namespace))]
        misses = near_misses(pol.pod_selector, candidates)
        name = ctx.policy_name(pol)
        message = f"spec.podSelector ({pol.pod_selector}) matches no pod of namespace {pol.namespace}"
        if not candidates:
            severity = Severity.LOW
            message += " (it has no pods): the policy isolates nothing and its rules admit nothing."
            fix = None
        elif misses:
            severity = Severity.HIGH
            hints = "; ".join(f"{key} has {label}" for key, label in misses)
            states = [w for key, _ in misses if (w := _isolation_words(ctx, ctx.index[key]))]
            message += (
                f", so it isolates nothing and its rules admit nothing. {hints}: a typo in the selector or in "
                "the pod's label? The pods this policy was written for are not protected by it"
                + (f" ({'; '.join(states)})." if states else ".")
            )
            fix = (
                "Make the selector and the pod's labels agree: correct whichever is wrong (kubereach does not "
                f"guess which). Near misses: {hints}."
            )
        else:
            severity = Severity.MEDIUM
            message += (
                ": the policy isolates nothing and its rules admit nothing (a typo, or a workload that is gone?)."
            )
            fix = "Correct the selector, or delete the policy if its workload is gone."
        yield Finding(
            "policy-selects-nothing",
            name,
            severity,
            f"NetworkPolicy {pol.key} selects no pod",
            message,
            (name, *(object_name("Pod", *key.split("/", 1)) for key, _ in misses)),
            fix,
        )


def _names_a_namespace(selector: Selector) -> bool:
    """A selector on ``kubernetes.io/metadata.name`` names namespaces outright: when none of
    them is in the snapshot, they are outside it (manifests of one application), not a typo."""
    return any(r.key == NAMESPACE_NAME_LABEL for r in selector.requirements)


def _peer_field(direction: Direction, rule_index: int, peer_index: int) -> str:
    return f"spec.{direction}[{rule_index}].{peer_word(direction)}[{peer_index}]"


def peer_matches_nothing(ctx: AuditContext) -> Iterator[Finding]:
    for pi, pol in enumerate(ctx.policies):
        if not ctx.selected(pi):
            continue  # the policy itself is dead: reported once, above
        for direction in (Direction.INGRESS, Direction.EGRESS):
            for rule in pol.rules(direction):
                for j, peer in enumerate(rule.peers or ()):
                    if peer.ip_block is not None:
                        continue
                    where = _peer_field(direction, rule.index, j)
                    name = ctx.policy_name(pol)
                    if peer.namespace_selector is not None:
                        namespaces = ctx.namespaces_matching(peer.namespace_selector)
                        if not namespaces:
                            if _names_a_namespace(peer.namespace_selector):
                                continue  # e.g. kube-system for DNS: a namespace outside this snapshot
                            ns_candidates = [(ns, ctx.model.namespace_labels(ns)) for ns in ctx.builder.namespaces]
                            misses = near_misses(peer.namespace_selector, ns_candidates)
                            hints = "; ".join(f"namespace {ns} has {label}" for ns, label in misses)
                            yield Finding(
                                "peer-matches-nothing",
                                f"{name} {where}",
                                Severity.MEDIUM if misses else Severity.LOW,
                                f"{pol.key} {where}: namespaceSelector matches no namespace",
                                f"namespaceSelector ({peer.namespace_selector}) of {where} matches no namespace "
                                "of this snapshot, so this peer admits nobody here."
                                + (f" {hints}: a typo?" if hints else ""),
                                (name, *(object_name("Namespace", None, ns) for ns, _ in misses)),
                                "Correct the selector or the namespace's labels (kubereach does not guess which)."
                                if misses
                                else "Correct the selector, or remove the peer.",
                            )
                            continue
                    else:
                        namespaces = [pol.namespace]
                    if peer.pod_selector is None:
                        continue  # every pod of existing namespaces: empty namespaces are no mistake
                    pool = 0
                    for ns in namespaces:
                        pool |= ctx.namespace_pods(ns)
                    if not pool or ctx.builder.peer_mask(peer, pol.namespace):
                        continue
                    misses = near_misses(peer.pod_selector, [(ctx.pods[i].key, ctx.pods[i].labels) for i in bits(pool)])
                    hints = "; ".join(f"{key} has {label}" for key, label in misses)
                    yield Finding(
                        "peer-matches-nothing",
                        f"{name} {where}",
                        Severity.MEDIUM,
                        f"{pol.key} {where}: podSelector matches no pod",
                        f"podSelector ({peer.pod_selector}) of {where} matches no pod of {listing(namespaces)}, "
                        "so this peer admits nobody." + (f" {hints}: a typo?" if hints else ""),
                        (name, *(object_name("Pod", *key.split("/", 1)) for key, _ in misses)),
                        "Correct the selector or the pod's labels (kubereach does not guess which)."
                        if misses
                        else "Correct the selector, or remove the peer.",
                    )


def named_port_unresolved(ctx: AuditContext) -> Iterator[Finding]:
    for pi, pol in enumerate(ctx.policies):
        selected = ctx.selected(pi)
        if not selected:
            continue
        for direction in (Direction.INGRESS, Direction.EGRESS):
            for rule in pol.rules(direction):
                pool = selected if direction is Direction.INGRESS else ctx.rule_peers(pi, rule)
                if not pool:
                    continue  # a dead peer: reported by peer-matches-nothing
                for k, spec in enumerate(rule.ports or ()):
                    if not isinstance(spec.port, str) or ctx.declaring(spec.port, spec.protocol) & pool:
                        continue
                    where = f"{field_of(rule)}.ports[{k}]"
                    whose = "the pods it selects" if direction is Direction.INGRESS else "the destinations it allows"
                    name = ctx.policy_name(pol)
                    yield Finding(
                        "named-port-unresolved",
                        f"{name} {where}",
                        Severity.MEDIUM,
                        f"{pol.key} {where}: named port {spec.port!r} resolves on no pod",
                        f"None of {whose} ({describe_mask(ctx, pool)}) declares a {spec.protocol} container port "
                        f"named {spec.port!r}, so this port entry allows nothing.",
                        (name,),
                        "Use the port's number, or the name the containers declare.",
                    )


def _is_lone_namespace(peer: Peer) -> bool:
    return peer.namespace_selector is not None and peer.pod_selector is None and peer.ip_block is None


def _is_lone_pods(peer: Peer) -> bool:
    return peer.pod_selector is not None and peer.namespace_selector is None and peer.ip_block is None


def peers_or_instead_of_and(ctx: AuditContext) -> Iterator[Finding]:
    for pi, pol in enumerate(ctx.policies):
        if not ctx.selected(pi):
            continue
        for direction in (Direction.INGRESS, Direction.EGRESS):
            for rule in pol.rules(direction):
                peers = rule.peers or ()
                ns_peers = [j for j, p in enumerate(peers) if _is_lone_namespace(p)]
                pod_peers = [j for j, p in enumerate(peers) if _is_lone_pods(p)]
                if not (ns_peers and pod_peers):
                    continue
                j, k = ns_peers[0], pod_peers[0]
                ns_peer, pod_peer = peers[j], peers[k]
                assert ns_peer.namespace_selector is not None and pod_peer.pod_selector is not None
                either = ctx.builder.peer_mask(ns_peer, pol.namespace)
                own = ctx.builder.peer_mask(pod_peer, pol.namespace)
                both = (
                    ctx.builder.ns_selector_mask(ns_peer.namespace_selector)
                    & ctx.builder.selector_mask(pod_peer.pod_selector)
                    & ~ctx.hostnet
                )
                namespaces = ctx.namespaces_matching(ns_peer.namespace_selector)
                raw = ctx.raw_rule(pol, rule).get(str(peer_word(direction)))
                merged = {}
                if isinstance(raw, list) and max(j, k) < len(raw):
                    merged = {**raw[j], **raw[k]}
                where = f"{field_of(rule)}.{peer_word(direction)}"
                name = ctx.policy_name(pol)
                yield Finding(
                    "peers-or-instead-of-and",
                    f"{name} {where}[{j}]+[{k}]",
                    Severity.MEDIUM,
                    f"{pol.key} {where}: namespaceSelector and podSelector are two peers (OR)",
                    f"{where}[{j}] (namespaceSelector {ns_peer.namespace_selector}) and {where}[{k}] "
                    f"(podSelector {pod_peer.pod_selector}) are separate list items, so the rule admits every pod "
                    f"of {listing(namespaces) or 'no namespace'} ({describe_mask(ctx, either)}) OR the pods with "
                    f"{pod_peer.pod_selector} in {pol.namespace} ({describe_mask(ctx, own)}). As one peer (AND) it "
                    f"would admit {describe_mask(ctx, both)}.",
                    (name,),
                    "If you meant AND, make them one list item (no dash before podSelector):\n"
                    + yaml.safe_dump([merged], sort_keys=False, default_flow_style=False)
                    if merged
                    else "If you meant AND, make them one list item.",
                )


CHECKS = (policy_selects_nothing, peer_matches_nothing, named_port_unresolved, peers_or_instead_of_and)
