"""Compile NetworkPolicies into ipsets and an iptables ``filter`` table (pure).

Input: plain Kubernetes dicts (Namespaces, Pods with ``status.podIP`` and
``spec.nodeName``, NetworkPolicies, Services and their EndpointSlices), the injected
faults, and the name of the node the rules are for. Output: a :class:`RuleSet` whose
text ``ipset restore`` and ``iptables-restore`` load into that node's namespace, where
every packet from or to one of its pods crosses the ``FORWARD`` chain.

Each node enforces what happens at its own pods, as real CNIs do: the egress rules of
the pods on it (the packet leaves through it) and the ingress rules of the pods on it
(the packet arrives through it). A packet between two nodes is checked for egress on the
source's node and for ingress on the destination's node; peer sets name pods on every
node. Without a node name every pod counts as local (one node).

Written from the NetworkPolicy v1 specification, not from any other code:

1. A pod is isolated for ingress (egress) only if some policy in its namespace selects
   it and lists ``Ingress`` (``Egress``) in ``policyTypes``. ``policyTypes`` defaults
   to ``Ingress``, plus ``Egress`` when the policy has egress rules.
2. Traffic passes only if the source's egress *and* the destination's ingress allow it.
   Non-isolated directions allow everything.
3. Policies are additive: a connection is allowed in a direction if any rule of any
   policy selecting the pod allows it. Within a rule, peers are OR-ed and ports are
   OR-ed; an empty/missing ``from``/``to`` means every peer, empty/missing ``ports``
   every port and protocol.
4. A peer with ``podSelector`` only selects pods in the policy's namespace; with
   ``namespaceSelector`` only, every pod of the selected namespaces; with both, the pods
   matching the pod selector inside the selected namespaces (AND).
5. ``ipBlock`` matches addresses in ``cidr`` but not in any ``except`` (pod addresses
   too); expressed as an ``hash:net`` set whose except entries are ``nomatch``.
6. A named port resolves against the *destination* pod's container ports (same name
   and protocol; native sidecars, init containers with ``restartPolicy: Always``, count
   as containers): on ingress the selected pod; on egress each peer pod, grouped by the
   number their name resolves to. A peer without a pod cannot have a named port.
7. ``endPort`` makes a range ``port:endPort``.
8. Replies of allowed connections pass (conntrack ``ESTABLISHED,RELATED``); denied
   packets are dropped, so probes see silence (``filtered``), as with most CNIs.
9. Traffic from a pod to itself stays on its loopback and never reaches these rules;
   through its own Service it does cross the node (hairpin) and is always accepted.

Faults come first: ``deny`` drops and ``allow`` accepts a (source, destination, port,
protocol) before any policy is looked at, on every node (so an ``allow`` fault passes
both the source's and the destination's node).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.cni.selectors import matches
from lab.cni.services import CHAIN_HAIRPIN, HAIRPIN_MARK, service_rules

CHAIN_FAULTS = "KRL-FAULTS"
CHAIN_INGRESS = "KRL-INGRESS"
CHAIN_EGRESS = "KRL-EGRESS"
SET_PREFIX = "KRL-"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True, slots=True)
class IpSet:
    """One ipset, named after its content so equal content means the same set.

    ``IpSet("KRL-i-…", "hash:ip", ("10.244.0.3",))`` or, for an ipBlock,
    ``IpSet("KRL-n-…", "hash:net", ("10.0.0.0/8",), nomatch=("10.1.0.0/16",))``.
    """

    name: str
    kind: str
    members: tuple[str, ...]
    nomatch: tuple[str, ...] = ()

    def restore_lines(self) -> list[str]:
        lines = [f"create {self.name} {self.kind} family inet -exist"]
        lines += [f"add {self.name} {m} -exist" for m in self.members]
        lines += [f"add {self.name} {m} nomatch -exist" for m in self.nomatch]
        return lines


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What the node loads: ipsets, then the whole ``filter`` table in one transaction."""

    ipsets: tuple[IpSet, ...]
    chains: tuple[str, ...]
    rules: tuple[str, ...]
    notes: tuple[str, ...] = ()
    nat_chains: tuple[str, ...] = ()
    nat_rules: tuple[str, ...] = ()

    @property
    def set_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.ipsets)

    def iptables_restore(self) -> str:
        out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        out += [f":{c} - [0:0]" for c in self.chains]
        out += list(self.rules)
        out.append("COMMIT")
        out += [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":INPUT ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            ":POSTROUTING ACCEPT [0:0]",
        ]
        out += [f":{c} - [0:0]" for c in self.nat_chains]
        out += list(self.nat_rules)
        out.append("COMMIT")
        return "\n".join(out) + "\n"

    def ipset_restore(self, *, skip: Iterable[str] = ()) -> str:
        skipped = set(skip)
        lines: list[str] = []
        for s in self.ipsets:
            if s.name not in skipped:
                lines += s.restore_lines()
        return "\n".join(lines) + ("\n" if lines else "")


# -- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pod:
    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    ns_labels: Mapping[str, str]
    named_ports: Mapping[tuple[str, str], tuple[int, ...]]  # (name, protocol) -> ports
    node: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _serving_containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Containers whose ports are the pod's: regular ones and native sidecars (init
    containers with ``restartPolicy: Always``, KEP-753), which keep running with the pod."""
    return list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]


def _pods(namespaces: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]) -> list[_Pod]:
    ns_labels: dict[str, dict[str, str]] = {}
    for ns in namespaces:
        meta = ns.get("metadata") or {}
        name = meta.get("name", "")
        labels = dict(meta.get("labels") or {})
        labels.setdefault(NS_NAME_LABEL, name)  # set by every real API server
        ns_labels[name] = labels
    out: list[_Pod] = []
    for pod in pods:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        namespace = meta.get("namespace") or "default"
        named: dict[tuple[str, str], list[int]] = {}
        for c in _serving_containers(spec):
            for p in c.get("ports") or []:
                if p.get("name") and p.get("containerPort"):
                    named.setdefault((p["name"], (p.get("protocol") or "TCP").upper()), []).append(
                        int(p["containerPort"])
                    )
        out.append(
            _Pod(
                namespace,
                meta.get("name", ""),
                ip,
                dict(meta.get("labels") or {}),
                ns_labels.get(namespace, {NS_NAME_LABEL: namespace}),
                {k: tuple(v) for k, v in named.items()},
                str(spec.get("nodeName") or ""),
            )
        )
    out.sort(key=lambda p: (p.namespace, p.name))
    return out


# -- building blocks -----------------------------------------------------------------------


@dataclass(slots=True)
class _Builder:
    sctp: bool
    sets: dict[str, IpSet] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ip_set(self, ips: Iterable[str]) -> str:
        members = tuple(sorted(set(ips), key=lambda a: ipaddress.ip_address(a)))
        name = SET_PREFIX + "i-" + _digest("\n".join(members))
        self.sets.setdefault(name, IpSet(name, "hash:ip", members))
        return name

    def net_set(self, cidr: str, excepts: Iterable[str]) -> str | None:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
            ex = [ipaddress.ip_network(e, strict=False) for e in excepts]
        except ValueError as exc:
            self.notes.append(f"ipBlock {cidr!r}: {exc}; rule skipped")
            return None
        if not isinstance(net, ipaddress.IPv4Network):
            self.notes.append(f"ipBlock {cidr}: the lab network is IPv4 only; rule matches nothing")
            return None
        ex4 = [e for e in ex if isinstance(e, ipaddress.IPv4Network)]
        if any(net.subnet_of(e) for e in ex4):  # everything excepted (the API should refuse this)
            return None
        # Only excepts inside the block mean anything; a nomatch entry outside it could not
        # win over the block's own, more specific entry anyway.
        members = tuple(str(n) for n in _no_zero_prefix(net))
        nomatch = tuple(sorted(str(n) for e in ex4 if e.subnet_of(net) for n in _no_zero_prefix(e)))
        name = SET_PREFIX + "n-" + _digest("\n".join(members) + "|" + "\n".join(nomatch))
        self.sets.setdefault(name, IpSet(name, "hash:net", members, nomatch))
        return name


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _no_zero_prefix(net: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    """hash:net cannot hold a /0; two /1 halves cover the same addresses."""
    return list(net.subnets(new_prefix=1)) if net.prefixlen == 0 else [net]


def _chain(kind: str, pod: _Pod) -> str:
    return f"KRL-{kind}-" + hashlib.sha1(pod.key.encode()).hexdigest()[:12]


def _comment(text: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_./:[]=>, " else "_" for ch in text)[:250]
    return f'-m comment --comment "{safe}"'


def _port_matches(port: Mapping[str, Any] | None, b: _Builder, where: str) -> list[str] | None:
    """iptables matches for one numeric/absent NetworkPolicyPort (None: matches nothing)."""
    if port is None:
        return [""]
    proto = str(port.get("protocol") or "TCP").upper()
    if proto not in PROTOCOLS:
        b.notes.append(f"{where}: unknown protocol {proto}; port skipped")
        return None
    if proto == "SCTP" and not b.sctp:
        b.notes.append(f"{where}: SCTP rules cannot load on this kernel; SCTP stays denied")
        return None
    p = proto.lower()
    number = port.get("port")
    if number is None:
        return [f"-p {p}"]
    end = port.get("endPort")
    if end is not None and int(end) > int(number):
        return [f"-p {p} -m {p} --dport {int(number)}:{int(end)}"]
    return [f"-p {p} -m {p} --dport {int(number)}"]


def _is_named(port: Mapping[str, Any] | None) -> bool:
    return port is not None and isinstance(port.get("port"), str) and not str(port["port"]).isdigit()


def _normalise_port(port: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if port is not None and isinstance(port.get("port"), str) and port["port"].isdigit():
        return {**port, "port": int(port["port"])}
    return port


def _peer_pods(peer: Mapping[str, Any], policy_ns: str, pods: list[_Pod]) -> list[_Pod]:
    """Pods a podSelector/namespaceSelector peer selects (rule 4)."""
    pod_sel = peer.get("podSelector")
    ns_sel = peer.get("namespaceSelector")
    out = []
    for p in pods:
        if ns_sel is None:
            if p.namespace != policy_ns:
                continue
        elif not matches(ns_sel, p.ns_labels):
            continue
        if pod_sel is not None and not matches(pod_sel, p.labels):
            continue
        out.append(p)
    return out


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        if addr not in ipaddress.ip_network(block.get("cidr", ""), strict=False):
            return False
        return not any(addr in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    types = spec.get("policyTypes")
    if types:
        return {str(t) for t in types}
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


# -- the compiler --------------------------------------------------------------------------


def compile_ruleset(
    namespaces: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    policies: Iterable[Mapping[str, Any]],
    faults: Iterable[Any] = (),
    *,
    enforce: bool = True,
    sctp: bool = True,
    services: Iterable[Mapping[str, Any]] = (),
    endpoint_slices: Iterable[Mapping[str, Any]] = (),
    hairpin_source: str = "",
    node_name: str | None = None,
) -> RuleSet:
    """Everything node ``node_name`` loads for this state of the cluster (see the module
    docstring; ``None``: every pod is on this node).

    ``faults`` are :class:`lab.runtime.Fault` values or their dicts; ``enforce=False``
    ignores policies (a CNI without NetworkPolicy support) but still applies faults.
    ``services`` get kube-proxy style DNAT to the ready endpoints of their
    ``endpoint_slices`` (:mod:`lab.cni.services`); hairpin traffic is source-NATed to
    ``hairpin_source`` (the node's address).
    """
    pods = list(pods)
    nat_chains, nat_rules, nat_notes = service_rules(services, endpoint_slices, sctp=sctp)
    if hairpin_source:
        nat_rules.append(f"-A {CHAIN_HAIRPIN} -j SNAT --to-source {hairpin_source}")
    all_pods = _pods(namespaces, pods)
    b = _Builder(sctp=sctp)
    chains = [CHAIN_FAULTS, CHAIN_EGRESS, CHAIN_INGRESS]
    rules = [
        f"-A FORWARD -j {CHAIN_FAULTS}",
        "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        # Rule 9 through a Service: the hairpin mark is only set when DNAT picked the source.
        f"-A FORWARD -m mark --mark {HAIRPIN_MARK} {_comment('a pod reaching itself via a Service')} -j ACCEPT",
    ]
    rules += _fault_rules(faults, all_pods, b)
    if enforce:
        rules += [f"-A FORWARD -j {CHAIN_EGRESS}", f"-A FORWARD -j {CHAIN_INGRESS}"]
        pol_list = sorted(
            (dict(p) for p in policies),
            key=lambda p: ((p.get("metadata") or {}).get("namespace", ""), (p.get("metadata") or {}).get("name", "")),
        )
        local = [p for p in all_pods if node_name is None or p.node == node_name]
        for pod in local:
            for direction in ("Ingress", "Egress"):
                selecting = [
                    p for p in pol_list if _selects(p, pod) and direction in _policy_types(p.get("spec") or {})
                ]
                if not selecting:
                    continue
                kind = "I" if direction == "Ingress" else "E"
                chain = _chain(kind, pod)
                chains.append(chain)
                parent = CHAIN_INGRESS if kind == "I" else CHAIN_EGRESS
                addr = "-d" if kind == "I" else "-s"
                rules.append(f"-A {parent} {addr} {pod.ip}/32 {_comment(pod.key)} -j {chain}")
                for pol in selecting:
                    rules += _direction_rules(pol, pod, direction, chain, all_pods, b)
                rules.append(f"-A {chain} {_comment(f'{pod.key} isolated for {direction.lower()}')} -j DROP")
    return RuleSet(
        tuple(sorted(b.sets.values(), key=lambda s: s.name)),
        tuple(chains),
        tuple(rules),
        tuple(b.notes + nat_notes),
        tuple(nat_chains),
        tuple(nat_rules),
    )


def _selects(policy: Mapping[str, Any], pod: _Pod) -> bool:
    meta = policy.get("metadata") or {}
    if (meta.get("namespace") or "default") != pod.namespace:
        return False
    return matches((policy.get("spec") or {}).get("podSelector") or {}, pod.labels)


def _direction_rules(
    policy: Mapping[str, Any], pod: _Pod, direction: str, chain: str, all_pods: list[_Pod], b: _Builder
) -> list[str]:
    meta, spec = policy.get("metadata") or {}, policy.get("spec") or {}
    pol_ns = meta.get("namespace") or "default"
    key = "ingress" if direction == "Ingress" else "egress"
    peer_key, addr = ("from", "src") if direction == "Ingress" else ("to", "dst")
    out: list[str] = []
    for i, rule in enumerate(spec.get(key) or []):
        where = f"{pol_ns}/{meta.get('name', '')} {key}[{i}]"
        comment = _comment(where)
        peers: list[Mapping[str, Any] | None] = list(rule.get(peer_key) or []) or [None]
        ports: list[Mapping[str, Any] | None] = [_normalise_port(p) for p in (rule.get("ports") or [])] or [None]
        for port in ports:
            for peer in peers:
                for match in _rule_matches(peer, port, pod, direction, pol_ns, addr, all_pods, b, where):
                    out.append(f"-A {chain} {match} {comment} -j RETURN".replace("  ", " "))
    return out


def _rule_matches(
    peer: Mapping[str, Any] | None,
    port: Mapping[str, Any] | None,
    pod: _Pod,
    direction: str,
    pol_ns: str,
    addr: str,
    all_pods: list[_Pod],
    b: _Builder,
    where: str,
) -> list[str]:
    """iptables match strings for one (peer, port) pair of a rule; [] matches nothing."""
    if _is_named(port):
        assert port is not None
        proto = str(port.get("protocol") or "TCP").upper()
        name = str(port["port"])
        if direction == "Ingress":
            numbers = pod.named_ports.get((name, proto), ())
            peer_match = _peer_match(peer, pol_ns, addr, all_pods, b)
            if peer_match is None:
                return []
            return [
                f"{peer_match} {m}".strip()
                for n in numbers
                for m in (_port_matches({"protocol": proto, "port": n}, b, where) or [])
            ]
        # Egress: resolve on each destination pod the peer covers (rule 6).
        if peer is None:
            dests = all_pods
        elif "ipBlock" in peer:
            dests = [p for p in all_pods if _in_block(p.ip, peer["ipBlock"])]
        else:
            dests = _peer_pods(peer, pol_ns, all_pods)
        by_number: dict[int, list[str]] = {}
        for d in dests:
            for n in d.named_ports.get((name, proto), ()):
                by_number.setdefault(n, []).append(d.ip)
        out = []
        for n, ips in sorted(by_number.items()):
            for m in _port_matches({"protocol": proto, "port": n}, b, where) or []:
                out.append(f"-m set --match-set {b.ip_set(ips)} {addr} {m}".strip())
        return out
    port_matches = _port_matches(port, b, where)
    if port_matches is None:
        return []
    peer_match = _peer_match(peer, pol_ns, addr, all_pods, b)
    if peer_match is None:
        return []
    return [f"{peer_match} {m}".strip() for m in port_matches]


def _peer_match(
    peer: Mapping[str, Any] | None, pol_ns: str, addr: str, all_pods: list[_Pod], b: _Builder
) -> str | None:
    """The address match for a peer: '' for any, None when it can match nothing."""
    if peer is None:
        return ""
    if "ipBlock" in peer:
        block = peer["ipBlock"] or {}
        name = b.net_set(str(block.get("cidr", "")), block.get("except") or [])
        return None if name is None else f"-m set --match-set {name} {addr}"
    selected = _peer_pods(peer, pol_ns, all_pods)
    if not selected:
        return None
    return f"-m set --match-set {b.ip_set(p.ip for p in selected)} {addr}"


def _fault_rules(faults: Iterable[Any], pods: list[_Pod], b: _Builder) -> list[str]:
    by_key = {p.key: p.ip for p in pods}
    out: list[str] = []
    for f in faults:
        d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        action = str(d["action"]).lower()
        src, dst = _endpoint_ip(d["source"], by_key), _endpoint_ip(d["destination"], by_key)
        label = f"fault {action} {d['source']} -> {d['destination']} {d['port']}/{d.get('protocol', 'TCP')}"
        if src is None or dst is None:
            b.notes.append(f"{label}: waiting for {'source' if src is None else 'destination'} to have an address")
            continue
        proto = str(d.get("protocol") or "TCP").lower()
        if proto == "sctp" and not b.sctp:
            b.notes.append(f"{label}: SCTP rules cannot load on this kernel; skipped")
            continue
        target = "ACCEPT" if action == "allow" else "DROP"
        out.append(
            f"-A {CHAIN_FAULTS} -s {src}/32 -d {dst}/32 -p {proto} -m {proto} --dport {int(d['port'])} "
            f"{_comment(label)} -j {target}"
        )
    return out


def _endpoint_ip(ref: str, by_key: Mapping[str, str]) -> str | None:
    """``namespace/pod`` to its address; an IPv4 literal (a fake external host) as is."""
    try:
        return str(ipaddress.IPv4Address(ref))
    except ValueError:
        return by_key.get(ref)
