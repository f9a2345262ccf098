"""Service ClusterIPs, the way kube-proxy's iptables mode does them (pure).

For every Service with a ClusterIP and a selector, each port gets a chain in the
node's ``nat`` table that DNATs to one ready endpoint, chosen at random with
``statistic`` probabilities 1/n, 1/(n-1), ... 1 so every endpoint is equally likely.
``targetPort`` defaults to ``port``; a named ``targetPort`` resolves on each endpoint
pod's container ports (same name and protocol), native sidecars' (init containers with
``restartPolicy: Always``) included. Because DNAT happens in PREROUTING,
NetworkPolicies see the endpoint pod and its target port, as in a real cluster.
A pod reaching itself through its Service (hairpin) is source-NATed to the node's
address so the reply comes back through the node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

CHAIN_SERVICES = "KRL-SERVICES"
CHAIN_HAIRPIN = "KRL-HAIRPIN"
HAIRPIN_MARK = "0x4000/0x4000"


def _endpoints(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    selector = spec.get("selector") or {}
    ns = meta.get("namespace") or "default"
    out = []
    for pod in pods:
        pm, ps, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        if (pm.get("namespace") or "default") != ns or not st.get("podIP") or st.get("phase") != "Running":
            continue
        if pm.get("deletionTimestamp") or ps.get("hostNetwork"):
            continue
        labels = pm.get("labels") or {}
        if all(labels.get(k) == str(v) for k, v in selector.items()):
            out.append(pod)
    out.sort(key=lambda p: p["status"]["podIP"])
    return out


def _target(pod: Mapping[str, Any], target: Any, protocol: str) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for c in list(spec.get("containers") or []) + sidecars:  # native sidecars' ports are the pod's too
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP").upper() == protocol:
                return int(p["containerPort"])
    return None


def service_rules(
    services: Iterable[Mapping[str, Any]], pods: list[Mapping[str, Any]], *, sctp: bool = True
) -> tuple[list[str], list[str], list[str]]:
    """(nat chains, nat rules, notes) for every selectable ClusterIP service port."""
    chains = [CHAIN_SERVICES, CHAIN_HAIRPIN]
    rules = [f"-A PREROUTING -j {CHAIN_SERVICES}", f"-A POSTROUTING -m mark --mark {HAIRPIN_MARK} -j {CHAIN_HAIRPIN}"]
    notes: list[str] = []
    ordered = sorted(
        services,
        key=lambda s: ((s.get("metadata") or {}).get("namespace", ""), (s.get("metadata") or {}).get("name", "")),
    )
    for svc in ordered:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        cip = spec.get("clusterIP")
        if not cip or cip == "None" or ":" in cip or not spec.get("selector"):
            continue
        key = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
        eps = _endpoints(svc, pods)
        for port in spec.get("ports") or []:
            proto = str(port.get("protocol") or "TCP").upper()
            if proto == "SCTP" and not sctp:
                notes.append(f"service {key} port {port.get('port')}/SCTP: SCTP rules cannot load; skipped")
                continue
            p = proto.lower()
            target = port.get("targetPort", port.get("port"))
            dests = [(ep["status"]["podIP"], t) for ep in eps if (t := _target(ep, target, proto)) is not None]
            if not dests:
                notes.append(f"service {key} port {port.get('port')}/{proto}: no endpoints")
                continue
            chain = "KRL-SVC-" + hashlib.sha1(f"{key}:{port.get('port')}/{proto}".encode()).hexdigest()[:12]
            chains.append(chain)
            comment = f'-m comment --comment "{key}:{port.get("port")}/{proto}"'
            rules.append(
                f"-A {CHAIN_SERVICES} -d {cip}/32 -p {p} -m {p} --dport {int(port['port'])} {comment} -j {chain}"
            )
            for i, (ip, t) in enumerate(dests):
                sep = "KRL-SEP-" + hashlib.sha1(f"{chain}>{ip}:{t}".encode()).hexdigest()[:12]
                chains.append(sep)
                left = len(dests) - i
                pick = f"-m statistic --mode random --probability {1 / left:.11f} " if left > 1 else ""
                rules.append(f"-A {chain} {pick}-j {sep}")
                rules.append(f"-A {sep} -s {ip}/32 -j MARK --set-xmark {HAIRPIN_MARK}")  # hairpin
                rules.append(f"-A {sep} -p {p} -j DNAT --to-destination {ip}:{t}")
    return chains, rules, notes
