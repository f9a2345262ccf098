"""NetworkPolicy v1 specs, validated and compiled once into matchers.

Owns the *declared* side of the model: which pods a policy selects, which
directions it isolates (explicit ``policyTypes``, or implied: Ingress always, Egress
iff ``spec.egress`` is non-empty), and each rule's peers and ports. Validation
mirrors the API server's so that a manifest the cluster would reject is reported
with its field path (``spec.ingress[0].from[1].ipBlock.cidr``) instead of being
modelled wrongly.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.model.names import port_name_error
from orchestrator.model.selectors import InvalidSpec, Selector, compile_selector, reject_unknown_fields
from probe.schema import Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Direction(enum.StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"

    @property
    def policy_type(self) -> str:
        return "Ingress" if self is Direction.INGRESS else "Egress"


@dataclass(frozen=True, slots=True)
class IPBlock:
    """``ipBlock: {cidr: 10.0.0.0/16, except: [10.0.5.0/24]}``."""

    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if ip.version != self.cidr.version or ip not in self.cidr:
            return False
        return not any(ip in ex for ex in self.excepts)

    def __str__(self) -> str:
        ex = f" except {', '.join(map(str, self.excepts))}" if self.excepts else ""
        return f"ipBlock {self.cidr}{ex}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One entry of ``from``/``to``: pods by selectors, or an ipBlock (never both).

    ``namespace_selector`` None means "the policy's own namespace"; ``pod_selector``
    None with a namespace selector means "every pod of those namespaces".
    """

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None

    def __str__(self) -> str:
        if self.ip_block is not None:
            return str(self.ip_block)
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector}")
        return " AND ".join(parts)


@dataclass(frozen=True, slots=True)
class PortSpec:
    """``{protocol: TCP, port: 80|"http", endPort: 90}``; ``port`` None: every port of the protocol."""

    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = None

    def matches_number(self, port: int, protocol: Protocol) -> bool:
        """Numeric match only; named ports are resolved by the caller on the destination pod."""
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return False
        if self.end_port is None:
            return port == self.port
        return self.port <= port <= self.end_port

    def __str__(self) -> str:
        if self.port is None:
            return f"any/{self.protocol}"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One ingress or egress rule; ``peers``/``ports`` None: all (absent or empty list)."""

    direction: Direction
    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PortSpec, ...] | None

    @property
    def has_ip_block(self) -> bool:
        return self.peers is not None and any(p.ip_block is not None for p in self.peers)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    namespace: str
    name: str
    pod_selector: Selector
    ingress_isolating: bool
    egress_isolating: bool
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def isolates(self, direction: Direction) -> bool:
        return self.ingress_isolating if direction is Direction.INGRESS else self.egress_isolating

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress


_SPEC_FIELDS = ("podSelector", "policyTypes", "ingress", "egress")
_PROTOCOLS = {p.value: p for p in Protocol}


def compile_policy(namespace: str, name: str, spec: Any) -> CompiledPolicy:
    """Validate and compile one policy ``spec``; raises :class:`InvalidSpec` with the field path."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise InvalidSpec("spec", f"expected a mapping, got {type(spec).__name__}")
    reject_unknown_fields(spec, "spec", _SPEC_FIELDS)
    # 1. the pods this policy selects, in its own namespace (absent == {} == all pods)
    selector = compile_selector(spec.get("podSelector"), "spec.podSelector")
    ingress = _rules(spec.get("ingress"), Direction.INGRESS)
    egress = _rules(spec.get("egress"), Direction.EGRESS)
    # 2. the directions it isolates: explicit policyTypes, else Ingress plus Egress iff egress rules exist
    types = spec.get("policyTypes")
    if types is None or types == []:
        ingress_iso, egress_iso = True, bool(egress)
    else:
        if not isinstance(types, list):
            raise InvalidSpec("spec.policyTypes", f"expected a list, got {type(types).__name__}")
        if len(types) > 2:
            raise InvalidSpec("spec.policyTypes", "may not specify more than two policyTypes")
        ingress_iso = egress_iso = False
        for i, t in enumerate(types):
            if t == "Ingress":
                ingress_iso = True
            elif t == "Egress":
                egress_iso = True
            else:
                raise InvalidSpec(f"spec.policyTypes[{i}]", f"unknown policy type {t!r} (expected Ingress or Egress)")
    return CompiledPolicy(namespace, name, selector, ingress_iso, egress_iso, ingress, egress)


def _rules(raw: Any, direction: Direction) -> tuple[Rule, ...]:
    field = f"spec.{direction}"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidSpec(field, f"expected a list of rules, got {type(raw).__name__}")
    peer_key = "from" if direction is Direction.INGRESS else "to"
    out = []
    for i, rule in enumerate(raw):
        where = f"{field}[{i}]"
        if rule is None:
            rule = {}
        if not isinstance(rule, Mapping):
            raise InvalidSpec(where, f"expected a mapping, got {type(rule).__name__}")
        reject_unknown_fields(rule, where, (peer_key, "ports"))
        peers = _peers(rule.get(peer_key), f"{where}.{peer_key}")
        ports = _ports(rule.get("ports"), f"{where}.ports")
        out.append(Rule(direction, i, peers, ports))
    return tuple(out)


def _peers(raw: Any, field: str) -> tuple[Peer, ...] | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise InvalidSpec(field, f"expected a list of peers, got {type(raw).__name__}")
    peers = []
    for j, peer in enumerate(raw):
        where = f"{field}[{j}]"
        if not isinstance(peer, Mapping):
            raise InvalidSpec(where, f"expected a mapping, got {type(peer).__name__}")
        reject_unknown_fields(peer, where, ("podSelector", "namespaceSelector", "ipBlock"))
        has_pod, has_ns, has_ip = (
            "podSelector" in peer and peer["podSelector"] is not None,
            "namespaceSelector" in peer and peer["namespaceSelector"] is not None,
            "ipBlock" in peer and peer["ipBlock"] is not None,
        )
        if not (has_pod or has_ns or has_ip):
            raise InvalidSpec(where, "must specify a peer: podSelector, namespaceSelector or ipBlock")
        if has_ip and (has_pod or has_ns):
            raise InvalidSpec(where, "ipBlock may not be combined with podSelector or namespaceSelector")
        if has_ip:
            peers.append(Peer(ip_block=_ip_block(peer["ipBlock"], f"{where}.ipBlock")))
        else:
            peers.append(
                Peer(
                    pod_selector=compile_selector(peer["podSelector"], f"{where}.podSelector") if has_pod else None,
                    namespace_selector=(
                        compile_selector(peer["namespaceSelector"], f"{where}.namespaceSelector") if has_ns else None
                    ),
                )
            )
    return tuple(peers)


def _network(raw: Any, field: str) -> IPNetwork:
    if not isinstance(raw, str) or "/" not in raw:
        raise InvalidSpec(field, f"expected a CIDR like 10.0.0.0/16 or fd00::/64, got {raw!r}")
    try:
        return ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError as exc:
        raise InvalidSpec(field, f"invalid CIDR {raw!r}: {exc}") from None


def _ip_block(raw: Any, field: str) -> IPBlock:
    if not isinstance(raw, Mapping):
        raise InvalidSpec(field, f"expected a mapping with cidr and except, got {type(raw).__name__}")
    reject_unknown_fields(raw, field, ("cidr", "except"))
    if "cidr" not in raw:
        raise InvalidSpec(f"{field}.cidr", "required")
    cidr = _network(raw["cidr"], f"{field}.cidr")
    raw_ex = raw.get("except") or []
    if not isinstance(raw_ex, list):
        raise InvalidSpec(f"{field}.except", f"expected a list of CIDRs, got {type(raw_ex).__name__}")
    excepts = []
    for k, ex in enumerate(raw_ex):
        net = _network(ex, f"{field}.except[{k}]")
        if not _subnet_of(net, cidr) or net.prefixlen <= cidr.prefixlen:
            raise InvalidSpec(f"{field}.except[{k}]", f"{ex} is not inside cidr {cidr} (must be a strict subset)")
        excepts.append(net)
    return IPBlock(cidr, tuple(excepts))


def _subnet_of(net: IPNetwork, of: IPNetwork) -> bool:
    """``net.subnet_of(of)``; False across address families (where ``subnet_of`` raises)."""
    if isinstance(net, ipaddress.IPv4Network) and isinstance(of, ipaddress.IPv4Network):
        return net.subnet_of(of)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(of, ipaddress.IPv6Network):
        return net.subnet_of(of)
    return False


def _ports(raw: Any, field: str) -> tuple[PortSpec, ...] | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise InvalidSpec(field, f"expected a list of ports, got {type(raw).__name__}")
    out = []
    for k, item in enumerate(raw):
        where = f"{field}[{k}]"
        if item is None:
            item = {}
        if not isinstance(item, Mapping):
            raise InvalidSpec(where, f"expected a mapping with protocol, port, endPort, got {type(item).__name__}")
        reject_unknown_fields(item, where, ("protocol", "port", "endPort"))
        proto_raw = item.get("protocol")
        if proto_raw is None:
            proto = Protocol.TCP
        elif isinstance(proto_raw, str) and proto_raw in _PROTOCOLS:
            proto = _PROTOCOLS[proto_raw]
        else:
            raise InvalidSpec(f"{where}.protocol", f"unsupported protocol {proto_raw!r} (expected TCP, UDP or SCTP)")
        port = item.get("port")
        if isinstance(port, bool):
            raise InvalidSpec(f"{where}.port", f"expected a port number or name, got {port!r}")
        if isinstance(port, int):
            if not 1 <= port <= 65535:
                raise InvalidSpec(f"{where}.port", f"port {port} is out of range 1-65535")
        elif isinstance(port, str):
            if (problem := port_name_error(port)) is not None:
                raise InvalidSpec(f"{where}.port", problem)
        elif port is not None:
            raise InvalidSpec(f"{where}.port", f"expected a port number or name, got {port!r}")
        end = item.get("endPort")
        if end is not None:
            if isinstance(end, bool) or not isinstance(end, int):
                raise InvalidSpec(f"{where}.endPort", f"expected a port number, got {end!r}")
            if port is None:
                raise InvalidSpec(f"{where}.endPort", "endPort requires port")
            if isinstance(port, str):
                raise InvalidSpec(f"{where}.endPort", f"endPort may not be used with a named port ({port!r})")
            if not 1 <= end <= 65535:
                raise InvalidSpec(f"{where}.endPort", f"endPort {end} is out of range 1-65535")
            if end < port:
                raise InvalidSpec(f"{where}.endPort", f"endPort {end} is less than port {port}")
        out.append(PortSpec(proto, port, end))
    return tuple(out)
