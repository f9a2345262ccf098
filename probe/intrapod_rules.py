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
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from probe.schema import PortRef, Protocol

ANNOTATION = "intrapod.kubereach.io/rules"
ANY_CONTAINER = "*"


class Action(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """What the rules need to know about one container of the pod."""

    name: str
    uid: int | None = None
    ports: tuple[PortRef, ...] = ()
    port_names: Mapping[str, PortRef] = field(default_factory=dict)
    net_admin: bool = False


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


@dataclass(frozen=True, slots=True)
class Finding:
    """A reason the rules cannot be enforced as declared (never silently accepted)."""

    code: FindingCode
    containers: tuple[str, ...]
    message: str


class RulesError(ValueError):
    """The rules are invalid; ``problems`` lists every one, each with its field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


_PROTOCOLS = {p.value: p for p in Protocol}


def parse_port(value: Any, *, where: str, target: ContainerInfo | None, problems: list[str]) -> PortRef | None:
    """``8080``, ``"8080"``, ``"9090/UDP"`` or a named port of the target container."""
    if isinstance(value, bool):
        problems.append(f"{where}: expected a port number, got {value!r}")
        return None
    if isinstance(value, int):
        number, proto = value, Protocol.TCP
    elif isinstance(value, str):
        text = value.strip()
        number_text, _, proto_text = text.partition("/")
        proto_text = proto_text.strip().upper() or "TCP"
        if proto_text not in _PROTOCOLS:
            problems.append(f"{where}: unknown protocol {proto_text!r} in {value!r} (expected TCP, UDP or SCTP)")
            return None
        proto = _PROTOCOLS[proto_text]
        if number_text.isdigit():
            number = int(number_text)
        elif target is not None and number_text in target.port_names:
            return target.port_names[number_text]
        else:
            problems.append(
                f"{where}: {value!r} is not a port number"
                + (f" nor a named port of container {target.name!r}" if target else "")
            )
            return None
    else:
        problems.append(f'{where}: expected a port like 8080 or "9090/UDP", got {value!r}')
        return None
    if not 1 <= number <= 65535:
        problems.append(f"{where}: port {number} is out of range 1-65535")
        return None
    return PortRef(number, proto)


def parse_rules(data: Any, containers: Mapping[str, ContainerInfo] | None = None) -> IntraPodRules:
    """Validate decoded annotation data; with ``containers``, also check names and ports.

    Raises :class:`RulesError` listing every problem found, not just the first.
    """
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RulesError([f"rules: expected a mapping with 'default' and 'rules', got {type(data).__name__}"])
    for key in data:
        if key not in ("default", "rules"):
            problems.append(f"{key}: unknown field (expected 'default' and 'rules')")
    default = _parse_action(data.get("default", "allow"), "default", problems)
    raw_rules = data.get("rules", [])
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        problems.append(f"rules: expected a list, got {type(raw_rules).__name__}")
        raw_rules = []
    rules: list[IntraPodRule] = []
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: expected a mapping, got {type(raw).__name__}")
            continue
        for key in raw:
            if key not in ("from", "to", "ports", "action"):
                problems.append(f"{where}.{key}: unknown field (expected from, to, ports, action)")
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
                    if target_info is not None and ref not in target_info.ports:
                        problems.append(
                            f"{where}.ports[{j}]: {ref} is not declared by container "
                            f"{target_info.name!r} (declared: "
                            f"{', '.join(map(str, target_info.ports)) or 'none'})"
                        )
                        continue
                    parsed.append(ref)
                ports = tuple(parsed)
        if source and target and source == target:
            problems.append(f"{where}: from and to are both {source!r}; a container always reaches its own ports")
        if source and target and action:
            rules.append(IntraPodRule(i, source, target, ports, action))
    if problems:
        raise RulesError(problems)
    return IntraPodRules(default=default or Action.ALLOW, rules=tuple(rules))


def _parse_action(value: Any, where: str, problems: list[str]) -> Action | None:
    if isinstance(value, str) and value.strip().lower() in ("allow", "deny"):
        return Action(value.strip().lower())
    problems.append(f"{where}: expected allow or deny, got {value!r}")
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
        problems.append(
            f"{where}: no container named {value!r} in the pod (containers: {', '.join(sorted(containers)) or 'none'})"
        )
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
    """The verdict for every (from container, to container's declared port), from != to."""
    infos = list(containers)
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


def enforceability_findings(containers: Iterable[ContainerInfo]) -> list[Finding]:
    """Why owner-match enforcement cannot tell these containers apart, or can be undone."""
    infos = list(containers)
    findings: list[Finding] = []
    for c in infos:
        if c.uid is None:
            findings.append(
                Finding(
                    FindingCode.NO_UID,
                    (c.name,),
                    f"container {c.name!r} has no runAsUser: its traffic cannot be told apart by UID",
                )
            )
        elif c.uid == 0:
            findings.append(
                Finding(
                    FindingCode.ROOT_UID, (c.name,), f"container {c.name!r} runs as UID 0: root can remove the rules"
                )
            )
        if c.net_admin:
            findings.append(
                Finding(
                    FindingCode.NET_ADMIN, (c.name,), f"container {c.name!r} has NET_ADMIN: it can remove the rules"
                )
            )
    counts = Counter(c.uid for c in infos if c.uid is not None)
    for uid, n in sorted(counts.items()):
        if n > 1:
            names = tuple(c.name for c in infos if c.uid == uid)
            findings.append(
                Finding(
                    FindingCode.SHARED_UID,
                    names,
                    f"containers {', '.join(map(repr, names))} share UID {uid}: rules cannot tell them apart",
                )
            )
    return findings
