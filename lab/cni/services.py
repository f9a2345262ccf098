"""Service ClusterIPs, the way kube-proxy's iptables mode does them (pure).

For every Service with a ClusterIP, each port gets a chain in the node's ``nat`` table
that DNATs to one of its endpoints, chosen at random with ``statistic`` probabilities
1/n, 1/(n-1), ... 1 so every endpoint is equally likely. Endpoints come from the
Service's EndpointSlices (label ``kubernetes.io/service-name``), as kube-proxy reads
them: the endpoints whose ``conditions.ready`` is not false, on the slice port with the
Service port's name and protocol (the slice carries the resolved target port). So a pod
that is not ready gets no Service traffic, and who selects the pods (and how a named
``targetPort`` resolves) is decided once, by the EndpointSlice controller. Because DNAT
happens in PREROUTING, NetworkPolicies see the endpoint pod and its target port, as in
a real cluster. A pod reaching itself through its Service (hairpin) is source-NATed to
the node's address so the reply comes back through the node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

CHAIN_SERVICES = "KRL-SERVICES"
CHAIN_HAIRPIN = "KRL-HAIRPIN"
HAIRPIN_MARK = "0x4000/0x4000"


SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _slice_endpoints(
    service: Mapping[str, Any], slices: list[Mapping[str, Any]], port_name: str, protocol: str
) -> list[tuple[str, int]]:
    """(address, port) of the ready endpoints of one Service port, sorted, without duplicates."""
    meta = service.get("metadata") or {}
    ns, name = meta.get("namespace") or "default", meta.get("name", "")
    found: set[tuple[str, int]] = set()
    for slice_ in slices:
        smeta = slice_.get("metadata") or {}
        if (smeta.get("namespace") or "default") != ns or (smeta.get("labels") or {}).get(SERVICE_NAME_LABEL) != name:
            continue
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        ports = [
            p
            for p in slice_.get("ports") or []
            if (p.get("name") or "") == port_name and str(p.get("protocol") or "TCP").upper() == protocol
        ]
        for port in ports:
            if port.get("port") is None:
                continue
            for endpoint in slice_.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or []:
                    found.add((str(address), int(port["port"])))
    return sorted(found)


def service_rules(
    services: Iterable[Mapping[str, Any]], endpoint_slices: Iterable[Mapping[str, Any]], *, sctp: bool = True
) -> tuple[list[str], list[str], list[str]]:
    """(nat chains, nat rules, notes) for every ClusterIP service port with endpoints."""
    slices = list(endpoint_slices)
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
        if not cip or cip == "None" or ":" in cip:
            continue
        key = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
        for port in spec.get("ports") or []:
            proto = str(port.get("protocol") or "TCP").upper()
            if proto == "SCTP" and not sctp:
                notes.append(f"service {key} port {port.get('port')}/SCTP: SCTP rules cannot load; skipped")
                continue
            p = proto.lower()
            dests = _slice_endpoints(svc, slices, str(port.get("name") or ""), proto)
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
