"""Intra-pod rules: the ``intrapod.kubereach.io/rules`` annotation, parsed and decided.

Shared by the orchestrator (expected verdicts, the admission webhook) and the init
container (``kubereach-probe intrapod apply``), so it lives in ``probe/`` and depends on
the standard library only. It works on already-decoded data: the orchestrator decodes
the annotation's YAML with PyYAML, the agent accepts JSON (which is YAML too), so the
agent image needs no YAML library.

Semantics (DESIGN.md): containers share the pod's network namespace, so a target is a
port declared by the ``to`` container and reached on localhost, and a source is the UID
of the ``from`` container. Rules are tried in order, the first one matching (from, to,
port) decides; ``default`` applies when none matches. A container reaching its own
ports is outside the rules (it is always allowed: the rules only ever name *other*
containers' UIDs, also when ``from`` is ``"*"``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from probe.schema import PortRef, Protocol

ANNOTATION = "intrapod.kubereach.io/rules"
ANY_CONTAINER = "*"
# The init container the admission webhook injects: it installs the rules, so it is not
# one of the pod's containers here (the webhook replaces anything of that name with its
# own, and the validating webhook checks it is exactly kubereach's).
INIT_CONTAINER_NAME = "kubereach-intrapod"
# How much of a value someone else wrote a problem message may quote, and how many
# problems one error lists (a 256 KiB annotation can hold thousands of mistakes).
QUOTE_LIMIT = 60
MAX_PROBLEMS = 20


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of ``value``, cut to ``limit`` characters (``…`` marks the cut)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class Action(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class ContainerKind(enum.StrEnum):
    CONTAINER = "container"  # a regular container
    SIDECAR = "sidecar"  # a native sidecar: an init container with restartPolicy Always
    INIT = "init"  # a plain init container: runs to completion before the containers start


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """What the rules need to know about one container of the pod.

    ``uid`` is the effective ``runAsUser`` (container, else pod); ``net_admin`` whether
    its effective capabilities hold NET_ADMIN (see :func:`has_net_admin`).
    """

    name: str
    uid: int | None = None
    ports: tuple[PortRef, ...] = ()
    port_names: Mapping[str, PortRef] = field(default_factory=dict)
    net_admin: bool = False
    privileged: bool = False
    kind: ContainerKind = ContainerKind.CONTAINER

    @property
    def in_rules(self) -> bool:
        """Whether it can be a rule's ``from`` or ``to`` (it runs next to the others)."""
        return self.kind is not ContainerKind.INIT

    @property
    def label(self) -> str:
        """``container 'app'``, ``native sidecar 'proxy'``, ``init container 'setup'``."""
        what = {ContainerKind.CONTAINER: "container", ContainerKind.SIDECAR: "native sidecar"}
        return f"{what.get(self.kind, 'init container')} {quote(self.name)}"


def has_net_admin(add: Iterable[str], drop: Iterable[str] = (), *, privileged: bool = False) -> bool:
    """Whether a container gets CAP_NET_ADMIN, as the container runtime computes it.

    containerd and CRI-O start from their default set (without NET_ADMIN), take every
    capability if ``add`` holds ``ALL``, none if ``drop`` holds ``ALL``, then add ``add``
    and remove ``drop``: ``add: [ALL], drop: [NET_ADMIN]`` has none, ``drop: [ALL],
    add: [NET_ADMIN]`` has it. Names are case-insensitive, a ``CAP_`` prefix is read as
    the capability (the safe reading). ``privileged`` has every capability.
    """
    if privileged:
        return True
    added = {_cap(c) for c in add}
    dropped = {_cap(c) for c in drop}
    if "NET_ADMIN" in dropped:
        return False
    return "NET_ADMIN" in added or ("ALL" in added and "ALL" not in dropped)


def _cap(name: Any) -> str:
    return str(name).strip().upper().removeprefix("CAP_")


@dataclass(frozen=True, slots=True)
class IntraPodRule:
    index: int
    source: str  # container name or "*"
    target: str  # container name
    ports: tuple[PortRef, ...] | None  # None: every declared port of the target
    action: Action


@dataclass(frozen=True, slots=True)
class IntraPodRules:
    default: Action
    rules: tuple[IntraPodRule, ...]


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """The verdict for one (from, to, port) and what decided it (a rule index or the default)."""

    action: Action
    rule_index: int | None

    @property
    def reason(self) -> str:
        if self.rule_index is None:
            return f"no rule matches: default {self.action}"
        return f"rule {self.rule_index} ({self.action})"


@dataclass(frozen=True, slots=True)
class IntraPodExpectation:
    source: str
    target: str
    port: PortRef
    decision: RuleDecision


class FindingCode(enum.StrEnum):
    NO_UID = "no-runAsUser"
    ROOT_UID = "root-uid"
    SHARED_UID = "shared-uid"
    NET_ADMIN = "net-admin"
    PRIVILEGED = "privileged"
    HOST_NETWORK = "host-network"
    SHARED_PORT = "shared-port"
    INIT_NET_ADMIN = "init-net-admin"


# Findings that are warnings only: the rules hold once every container runs. A plain
# init container with NET_ADMIN (a service mesh's, like istio-init) runs after
# kubereach's and before any container starts; it could change the rules, but so could
# whoever writes the pod, and `kubereach-probe intrapod check` and the sweep see drift.
WARNINGS = frozenset({FindingCode.INIT_NET_ADMIN})


@dataclass(frozen=True, slots=True)
class Finding:
    """A reason the rules cannot be enforced as declared (never silently accepted)."""

    code: FindingCode
    containers: tuple[str, ...]
    message: str

    @property
    def blocking(self) -> bool:
        """True: the webhook denies the pod and the init container refuses to install."""
        return self.code not in WARNINGS


class RulesError(ValueError):
    """The rules are invalid; ``problems`` lists every one (up to :data:`MAX_PROBLEMS`,
    then how many more), each with its field path."""

    def __init__(self, problems: list[str]) -> None:
        if len(problems) > MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        self.problems = problems
        super().__init__("; ".join(problems))


_PROTOCOLS = {p.value: p for p in Protocol}


def parse_port(value: Any, *, where: str, target: ContainerInfo | None, problems: list[str]) -> PortRef | None:
    """``8080``, ``"8080"``, ``"9090/UDP"`` or a named port of the target container."""
    if isinstance(value, bool):
        problems.append(f"{where}: expected a port number, got {quote(value)}")
        return None
    if isinstance(value, int):
        number, proto = value, Protocol.TCP
    elif isinstance(value, str):
        text = value.strip()
        number_text, _, proto_text = text.partition("/")
        proto_text = proto_text.strip().upper() or "TCP"
        if proto_text not in _PROTOCOLS:
            problems.append(
                f"{where}: unknown protocol {quote(proto_text)} in {quote(value)} (expected TCP, UDP or SCTP)"
            )
            return None
        proto = _PROTOCOLS[proto_text]
        if number_text.isascii() and number_text.isdigit() and len(number_text) <= 5:
            number = int(number_text)
        elif target is not None and number_text in target.port_names:
            return target.port_names[number_text]
        else:
            problems.append(
                f"{where}: {quote(value)} is not a port number"
                + (f" nor a named port of {target.label}" if target else "")
            )
            return None
    else:
        problems.append(f'{where}: expected a port like 8080 or "9090/UDP", got {quote(value)}')
        return None
    if not 1 <= number <= 65535:
        problems.append(f"{where}: port {quote(number)} is out of range 1-65535")
        return None
    return PortRef(number, proto)


def parse_rules(data: Any, containers: Mapping[str, ContainerInfo] | None = None) -> IntraPodRules:
    """Validate decoded annotation data; with ``containers``, also check names and ports.

    Raises :class:`RulesError` listing every problem found, not just the first. Linear
    in the size of ``data`` (a rule's ports are checked against a set, not a list).
    """
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RulesError([f"rules: expected a mapping with 'default' and 'rules', got {type(data).__name__}"])
    for key in data:
        if key not in ("default", "rules"):
            problems.append(f"{_field(key)}: unknown field (expected 'default' and 'rules')")
    default = _parse_action(data.get("default", "allow"), "default", problems)
    raw_rules = data.get("rules", [])
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        problems.append(f"rules: expected a list, got {type(raw_rules).__name__}")
        raw_rules = []
    declared = {name: frozenset(info.ports) for name, info in (containers or {}).items()}
    rules: list[IntraPodRule] = []
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: expected a mapping, got {type(raw).__name__}")
            continue
        for key in raw:
            if key not in ("from", "to", "ports", "action"):
                problems.append(f"{where}.{_field(key)}: unknown field (expected from, to, ports, action)")
        source = _parse_name(raw.get("from"), f"{where}.from", containers, problems, allow_any=True)
        target = _parse_name(raw.get("to"), f"{where}.to", containers, problems, allow_any=False)
        if "action" not in raw:
            problems.append(f"{where}.action: required (allow or deny)")
            action = None
        else:
            action = _parse_action(raw["action"], f"{where}.action", problems)
        target_info = containers.get(target) if (containers and target) else None
        ports: tuple[PortRef, ...] | None = None
        if raw.get("ports") is not None:
            raw_ports = raw["ports"]
            if not isinstance(raw_ports, list) or not raw_ports:
                problems.append(f"{where}.ports: expected a non-empty list of ports")
            else:
                parsed = []
                for j, value in enumerate(raw_ports):
                    ref = parse_port(value, where=f"{where}.ports[{j}]", target=target_info, problems=problems)
                    if ref is None:
                        continue
                    if target_info is not None and ref not in declared[target_info.name]:
                        problems.append(
                            f"{where}.ports[{j}]: {ref} is not declared by {target_info.label} (declared: "
                            f"{_port_list(target_info.ports)})"
                        )
                        continue
                    parsed.append(ref)
                ports = tuple(parsed)
        if source and target and source == target:
            problems.append(f"{where}: from and to are both {quote(source)}; a container always reaches its own ports")
        if source and target and action:
            rules.append(IntraPodRule(i, source, target, ports, action))
    if problems:
        raise RulesError(problems)
    return IntraPodRules(default=default or Action.ALLOW, rules=tuple(rules))


def _field(key: Any) -> str:
    """A key as it appears in a field path: ``colour``, or quoted when it is not a plain name."""
    return key if isinstance(key, str) and key.isidentifier() and len(key) <= QUOTE_LIMIT else quote(key)


def _port_list(ports: tuple[PortRef, ...], limit: int = 10) -> str:
    shown = ", ".join(map(str, ports[:limit]))
    return (shown + (f", ... ({len(ports)} ports)" if len(ports) > limit else "")) or "none"


def _parse_action(value: Any, where: str, problems: list[str]) -> Action | None:
    if isinstance(value, str) and value.strip().lower() in ("allow", "deny"):
        return Action(value.strip().lower())
    problems.append(f"{where}: expected allow or deny, got {quote(value)}")
    return None


def _parse_name(
    value: Any, where: str, containers: Mapping[str, ContainerInfo] | None, problems: list[str], *, allow_any: bool
) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: required, a container name" + (' or "*"' if allow_any else ""))
        return None
    if value == ANY_CONTAINER:
        if allow_any:
            return value
        problems.append(f'{where}: must name one container, not "*"')
        return None
    if containers is not None and value not in containers:
        names = sorted(containers)
        listed = ", ".join(quote(n) for n in names[:10]) + (f", ... ({len(names)})" if len(names) > 10 else "")
        problems.append(f"{where}: no container named {quote(value)} in the pod (containers: {listed or 'none'})")
        return None
    return value


def decide(rules: IntraPodRules, source: str, target: str, port: PortRef) -> RuleDecision:
    """First matching rule wins; the default applies when none matches."""
    for rule in rules.rules:
        if rule.target != target:
            continue
        if rule.source != ANY_CONTAINER and rule.source != source:
            continue
        if rule.ports is not None and port not in rule.ports:
            continue
        return RuleDecision(rule.action, rule.index)
    return RuleDecision(rules.default, None)


def expected_pairs(rules: IntraPodRules, containers: Iterable[ContainerInfo]) -> list[IntraPodExpectation]:
    """The verdict for every (from container, to container's declared port), from != to,
    among the containers that run together (plain init containers take no part)."""
    infos = [c for c in containers if c.in_rules]
    out: list[IntraPodExpectation] = []
    for target in infos:
        for port in target.ports:
            for source in infos:
                if source.name == target.name:
                    continue
                out.append(
                    IntraPodExpectation(source.name, target.name, port, decide(rules, source.name, target.name, port))
                )
    return out


def enforceability_findings(containers: Iterable[ContainerInfo], *, host_network: bool = False) -> list[Finding]:
    """Every reason the rules of a pod with these containers cannot be enforced as declared.

    Enforcement matches the sending container by UID (iptables ``owner``) in the pod's
    network namespace, so among the containers that run together (regular ones and
    native sidecars) each needs its own non-root UID (root can take any UID), none may
    hold NET_ADMIN or be privileged (it could remove the rules), no port may be declared
    twice (the chain sees only the port), and the pod must have its own network
    namespace. A plain init container with NET_ADMIN is a warning (see ``WARNINGS``).
    Findings come in a stable order: per container, then across containers.
    """
    infos = list(containers)
    running = [c for c in infos if c.in_rules]
    findings: list[Finding] = []
    if host_network:
        findings.append(
            Finding(
                FindingCode.HOST_NETWORK,
                (),
                "spec.hostNetwork: the pod shares the node's network namespace; "
                "the rules would apply to the whole node",
            )
        )
    for c in running:
        if c.uid is None:
            findings.append(
                Finding(
                    FindingCode.NO_UID,
                    (c.name,),
                    f"{c.label} has no runAsUser: its traffic cannot be told apart by UID",
                )
            )
        elif c.uid == 0:
            findings.append(
                Finding(
                    FindingCode.ROOT_UID,
                    (c.name,),
                    f"{c.label} runs as UID 0: root can take another container's UID, or remove the rules",
                )
            )
        if c.privileged:
            findings.append(
                Finding(
                    FindingCode.PRIVILEGED,
                    (c.name,),
                    f"{c.label} is privileged: it has NET_ADMIN and can remove the rules",
                )
            )
        elif c.net_admin:
            findings.append(
                Finding(FindingCode.NET_ADMIN, (c.name,), f"{c.label} has NET_ADMIN: it can remove the rules")
            )
    by_uid: dict[int, list[ContainerInfo]] = {}
    for c in running:
        if c.uid is not None:
            by_uid.setdefault(c.uid, []).append(c)
    for uid, group in sorted(by_uid.items()):
        if len(group) > 1:
            findings.append(
                Finding(
                    FindingCode.SHARED_UID,
                    tuple(c.name for c in group),
                    f"{', '.join(c.label for c in group)} share UID {uid}: rules cannot tell them apart",
                )
            )
    owners: dict[PortRef, list[str]] = {}
    for c in running:
        for port in dict.fromkeys(c.ports):
            owners.setdefault(port, []).append(c.name)
    for port, names in sorted(owners.items()):
        if len(names) > 1:
            findings.append(
                Finding(
                    FindingCode.SHARED_PORT,
                    tuple(names),
                    f"port {port} is declared by containers {', '.join(map(quote, names))}: "
                    "rules cannot tell them apart",
                )
            )
    for c in infos:
        if not c.in_rules and (c.net_admin or c.privileged):
            findings.append(
                Finding(
                    FindingCode.INIT_NET_ADMIN,
                    (c.name,),
                    f"{c.label} has NET_ADMIN{' (privileged)' if c.privileged else ''}: it runs after the rules "
                    "are installed, before the containers start, and could change them",
                )
            )
    return findings
