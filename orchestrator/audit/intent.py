"""Reachability intent: what *should* be reachable, written down, validated, and evaluated.

The file format (``kubereach.io/v1alpha1``, ``kind: ReachabilityIntent``)::

    apiVersion: kubereach.io/v1alpha1
    kind: ReachabilityIntent
    metadata:
      name: shop
    spec:
      default: deny          # allow | deny | unspecified: cells no rule covers (default: unspecified)
      rules:                 # tried in order; the first rule matching a cell decides it
        - name: frontend-calls-the-api           # optional, shown in reports
          action: allow                          # allow | deny
          from: {namespace: shop-frontend}       # who connects
          to:                                    # where to
            namespace: shop-backend
            podSelector: {matchLabels: {app: api}}
          ports: [http]                          # optional; default: every port

A ``from``/``to`` is one selector or a list of them (OR). A selector is ``"*"`` (every
pod), ``"NAMESPACE/*"``, ``"NAMESPACE/POD"``, or a mapping of ``namespace`` (a name) or
``namespaceSelector``, and ``pod`` (a name) or ``podSelector`` (label selectors as in a
NetworkPolicy, compiled by the model's own code); what is left out matches everything.
A port is a number (``5432``: TCP), ``"53/UDP"``, a range ``"8000-8100/TCP"``, or a
name the destination declares (``http``, ``dns/UDP``), resolved on each destination pod
like a NetworkPolicy named port.

A *cell* is one (source pod, destination pod, port, protocol), as in ``predict``. Its
intended verdict is the action of the first rule matching it, else ``default``. A pod
reaching itself is always allowed and never covered by the intent (``unspecified``).

Errors name the file, the document, the intent and the field (``spec.rules[2].to.podSelector``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safeyaml
from orchestrator.errors import ManifestError
from orchestrator.model.selectors import MATCH_ALL, InvalidSpec, Selector, compile_selector
from orchestrator.snapshot.types import Pod, Snapshot
from probe.schema import Protocol

API_VERSION = "kubereach.io/v1alpha1"
KIND = "ReachabilityIntent"
# An intent is written by people: a few hundred rules. These bounds stop a hostile or
# generated file long before it could cost memory or time.
LIMITS = safeyaml.Limits(max_bytes=4 << 20, max_depth=64, max_nodes=500_000)
MAX_RULES = 10_000
_PROTOCOLS = {p.value: p for p in Protocol}
_PORT_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")
_PORT_TEXT = re.compile(r"^\s*(\d+)(?:\s*-\s*(\d+))?\s*(?:/\s*([A-Za-z]+))?\s*$")


class Intended(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    UNSPECIFIED = "unspecified"


class IntentVerdict(enum.StrEnum):
    OK = "ok"
    VIOLATION_OPEN = "violation-open"  # intended deny, but it is (predicted or observed) allowed
    VIOLATION_CLOSED = "violation-closed"  # intended allow, but it is denied
    UNSPECIFIED = "unspecified"
    INCONCLUSIVE = "inconclusive"  # the sweep could not measure the cell

    @property
    def violation(self) -> bool:
        return self in (IntentVerdict.VIOLATION_OPEN, IntentVerdict.VIOLATION_CLOSED)


def intent_verdict(intended: Intended, allowed: bool | None) -> IntentVerdict:
    """Compare a cell's intended verdict with what is predicted or observed (None: not measured)."""
    if intended is Intended.UNSPECIFIED:
        return IntentVerdict.UNSPECIFIED
    if allowed is None:
        return IntentVerdict.INCONCLUSIVE
    if intended is Intended.ALLOW:
        return IntentVerdict.OK if allowed else IntentVerdict.VIOLATION_CLOSED
    return IntentVerdict.VIOLATION_OPEN if allowed else IntentVerdict.OK


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One selector of a ``from``/``to``: namespace by name or labels, pod by name or labels."""

    text: str  # as a person reads it: "shop-frontend/*", "ns team=data, pods app=web"
    namespace: str | None = None
    namespace_selector: Selector = MATCH_ALL
    pod: str | None = None
    pod_selector: Selector = MATCH_ALL

    def matches(self, pod: Pod, namespace_labels: Mapping[str, str]) -> bool:
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        if self.pod is not None and pod.name != self.pod:
            return False
        return self.namespace_selector.matches(namespace_labels) and self.pod_selector.matches(pod.labels)


@dataclass(frozen=True, slots=True)
class PortMatch:
    """``5432`` / ``53/UDP`` / ``8000-8100/TCP`` (numbers) or ``http`` / ``dns/UDP`` (a name)."""

    text: str
    protocol: Protocol | None  # None: a name declared for any protocol
    low: int = 0
    high: int = 0
    name: str | None = None

    def matches_number(self, port: int, protocol: Protocol) -> bool:
        """For a numeric entry: whether it covers ``port/protocol`` (on any destination)."""
        return self.name is None and protocol == self.protocol and self.low <= port <= self.high

    def matches(self, dst: Pod, port: int, protocol: Protocol) -> bool:
        if self.name is None:
            return self.matches_number(port, protocol)
        if self.protocol is not None and protocol != self.protocol:
            return False
        return any(
            cp.name == self.name and cp.port == port and cp.protocol == protocol
            for c in dst.serving_containers
            for cp in c.ports
        )


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    name: str | None
    action: Intended  # ALLOW or DENY
    sources: tuple[Endpoint, ...]
    destinations: tuple[Endpoint, ...]
    ports: tuple[PortMatch, ...] | None  # None: every port

    @property
    def label(self) -> str:
        """``rule 2 (frontend-calls-the-api)``."""
        return f"rule {self.index}" + (f" ({self.name})" if self.name else "")

    def describe(self) -> str:
        ports = "every port" if self.ports is None else ", ".join(p.text for p in self.ports)
        src = " or ".join(e.text for e in self.sources)
        dst = " or ".join(e.text for e in self.destinations)
        return f"{self.action} from {src} to {dst} on {ports}"


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    default: Intended
    statements: tuple[Statement, ...]
    source: str = "<intent>"  # the file it was read from

    def numeric_ports(self) -> list[tuple[int, Protocol]]:
        """Single port numbers the rules name (``5432``, ``53/UDP``): cells worth evaluating
        even on destinations that do not declare them."""
        out: dict[tuple[int, Protocol], None] = {}
        for s in self.statements:
            for p in s.ports or ():
                if p.name is None and p.low == p.high and p.protocol is not None:
                    out[(p.low, p.protocol)] = None
        return list(out)


# -- parsing ------------------------------------------------------------------------------


class _Where:
    def __init__(self, file: str, obj: str | None = None) -> None:
        self.file, self.obj = file, obj

    def error(self, field: str | None, message: str) -> ManifestError:
        return ManifestError(message, file=self.file, document=1, obj=self.obj, field=field)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any, where: _Where, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(field, f"expected a mapping, got {_type(value)}")
    return value


def _known(value: Mapping[str, Any], where: _Where, field: str, allowed: tuple[str, ...]) -> None:
    for key in value:
        if key not in allowed:
            prefix = f"{field}." if field else ""
            raise where.error(f"{prefix}{key}", f"unknown field (expected {', '.join(allowed)})")


def _selector(raw: Any, where: _Where, field: str) -> Selector:
    try:
        return compile_selector(raw, field)
    except InvalidSpec as exc:
        raise where.error(exc.field, exc.message) from None


def _name(value: Any, where: _Where, field: str) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise where.error(field, f"expected a name (a non-empty string without '/'), got {safeyaml.quote(str(value))}")
    return value


def _endpoint(raw: Any, where: _Where, field: str) -> Endpoint:
    if isinstance(raw, str):
        text = raw.strip()
        if text == "*":
            return Endpoint("*")
        ns, slash, pod_text = text.partition("/")
        if not slash or not ns or not pod_text or "/" in pod_text:
            raise where.error(field, f'expected "*", "NAMESPACE/*" or "NAMESPACE/POD", got {safeyaml.quote(text, 80)}')
        return Endpoint(text, namespace=ns, pod=None if pod_text == "*" else pod_text)
    value = _mapping(raw, where, field)
    _known(value, where, field, ("namespace", "namespaceSelector", "pod", "podSelector"))
    if "namespace" in value and "namespaceSelector" in value:
        raise where.error(field, "namespace and namespaceSelector exclude each other")
    if "pod" in value and "podSelector" in value:
        raise where.error(field, "pod and podSelector exclude each other")
    namespace = _name(value["namespace"], where, f"{field}.namespace") if "namespace" in value else None
    pod = _name(value["pod"], where, f"{field}.pod") if "pod" in value else None
    ns_sel = _selector(value.get("namespaceSelector"), where, f"{field}.namespaceSelector")
    pod_sel = _selector(value.get("podSelector"), where, f"{field}.podSelector")
    parts = []
    if namespace is not None:
        parts.append(f"namespace {namespace}")
    elif not ns_sel.matches_all:
        parts.append(f"namespaces with {ns_sel}")
    if pod is not None:
        parts.append(f"pod {pod}")
    elif not pod_sel.matches_all:
        parts.append(f"pods with {pod_sel}")
    return Endpoint(", ".join(parts) or "*", namespace, ns_sel, pod, pod_sel)


def _endpoints(raw: Any, where: _Where, field: str) -> tuple[Endpoint, ...]:
    if raw is None:
        raise where.error(field, 'required: a selector or a list of selectors ("*" for every pod)')
    if isinstance(raw, list):
        if not raw:
            raise where.error(field, 'an empty list matches nothing: use "*" for every pod')
        return tuple(_endpoint(item, where, f"{field}[{i}]") for i, item in enumerate(raw))
    return (_endpoint(raw, where, field),)


def _port(raw: Any, where: _Where, field: str) -> PortMatch:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise where.error(field, f'expected a port like 5432, "53/UDP", "8000-8100/TCP" or a name, got {raw!r}')
    if isinstance(raw, int):
        if not 1 <= raw <= 65535:
            raise where.error(field, f"port {raw} is out of range 1-65535")
        return PortMatch(str(raw), Protocol.TCP, raw, raw)
    text = raw.strip()
    m = _PORT_TEXT.match(text)
    if m:
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        proto_text = (m.group(3) or "TCP").upper()
        if proto_text not in _PROTOCOLS:
            raise where.error(field, f"unknown protocol {safeyaml.quote(m.group(3), 20)} (expected TCP, UDP or SCTP)")
        if not (1 <= low <= 65535 and 1 <= high <= 65535) or high < low:
            raise where.error(field, f"{safeyaml.quote(text, 40)} is not a port or range within 1-65535")
        return PortMatch(text, _PROTOCOLS[proto_text], low, high)
    name, slash, proto_text = text.partition("/")
    if not _PORT_NAME.match(name):
        raise where.error(
            field,
            f"{safeyaml.quote(text, 40)} is neither a port number, a range, nor a valid port name (IANA_SVC_NAME)",
        )
    proto = None
    if slash:
        if proto_text.strip().upper() not in _PROTOCOLS:
            raise where.error(field, f"unknown protocol {safeyaml.quote(proto_text, 20)} (expected TCP, UDP or SCTP)")
        proto = _PROTOCOLS[proto_text.strip().upper()]
    return PortMatch(text, proto, name=name)


def _statement(raw: Any, index: int, where: _Where) -> Statement:
    field = f"spec.rules[{index}]"
    value = _mapping(raw, where, field)
    _known(value, where, field, ("name", "action", "from", "to", "ports"))
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise where.error(f"{field}.name", "expected a short string")
    action = value.get("action")
    if action not in ("allow", "deny"):
        raise where.error(f"{field}.action", f"required: allow or deny, got {safeyaml.quote(str(action), 40)}")
    ports_raw = value.get("ports")
    ports = None
    if ports_raw is not None:
        if not isinstance(ports_raw, list) or not ports_raw:
            raise where.error(f"{field}.ports", "expected a non-empty list of ports (leave it out for every port)")
        ports = tuple(_port(p, where, f"{field}.ports[{k}]") for k, p in enumerate(ports_raw))
    return Statement(
        index,
        name,
        Intended(action),
        _endpoints(value.get("from"), where, f"{field}.from"),
        _endpoints(value.get("to"), where, f"{field}.to"),
        ports,
    )


def parse_intent(data: Any, source: str = "<intent>") -> Intent:
    """Validate a decoded intent document; ManifestError naming the field otherwise."""
    where = _Where(source)
    doc = _mapping(data, where, "")
    if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        raise where.error(
            "kind" if doc.get("kind") != KIND else "apiVersion",
            f"expected apiVersion: {API_VERSION} and kind: {KIND}, got "
            f"{safeyaml.quote(str(doc.get('apiVersion')), 60)} {safeyaml.quote(str(doc.get('kind')), 60)}",
        )
    _known(doc, where, "", ("apiVersion", "kind", "metadata", "spec"))
    meta = _mapping(doc.get("metadata") or {}, where, "metadata")
    name = meta.get("name") or "intent"
    if not isinstance(name, str):
        raise where.error("metadata.name", f"expected a string, got {_type(name)}")
    where.obj = f"{KIND} {safeyaml.quote(name, 60)[1:-1]}"
    spec = _mapping(doc.get("spec"), where, "spec")
    _known(spec, where, "spec", ("default", "rules"))
    default = spec.get("default", "unspecified")
    if default not in ("allow", "deny", "unspecified"):
        raise where.error(
            "spec.default", f"expected allow, deny or unspecified, got {safeyaml.quote(str(default), 40)}"
        )
    rules = spec.get("rules")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise where.error("spec.rules", f"expected a list of rules, got {_type(rules)}")
    if len(rules) > MAX_RULES:
        raise where.error("spec.rules", f"more than {MAX_RULES:,} rules")
    statements = tuple(_statement(r, i, where) for i, r in enumerate(rules))
    return Intent(name, Intended(default), statements, source)


def load_intent(path: str) -> Intent:
    """Read and validate an intent file (YAML or JSON), through safeyaml's bounds."""
    file = Path(path)
    try:
        if file.stat().st_size > LIMITS.max_bytes:
            raise ManifestError(f"larger than {LIMITS.max_bytes:,} bytes: not read", file=path)
        text = file.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read the intent file: {exc.strerror}", file=path) from None
    try:
        data = safeyaml.load(text, LIMITS)
    except safeyaml.YamlError as exc:
        where = f" at line {exc.line}" if exc.line is not None else ""
        raise ManifestError(f"invalid YAML{where}: {exc.problem}", file=path, document=exc.document) from None
    if data is None:
        raise ManifestError(f"empty: expected a {KIND}", file=path)
    return parse_intent(data, path)


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    intended: Intended
    statement: Statement | None  # None: the default (or a pod reaching itself)


class IntentIndex:
    """An intent over one snapshot: who each rule's ``from`` and ``to`` match, as bitsets.

    ``cell`` answers one cell; ``row`` the intended verdicts of one source towards many
    destinations at one port (the bulk path for large matrices)."""

    def __init__(self, intent: Intent, snapshot: Snapshot) -> None:
        self.intent = intent
        self.pods = snapshot.pods
        self.index = {p.key: i for i, p in enumerate(self.pods)}
        ns_labels = {name: ns.labels for name, ns in snapshot.namespaces.items()}

        def mask(endpoints: Iterable[Endpoint]) -> int:
            out = 0
            eps = list(endpoints)
            for i, pod in enumerate(self.pods):
                labels = ns_labels.get(pod.namespace) or {"kubernetes.io/metadata.name": pod.namespace}
                if any(e.matches(pod, labels) for e in eps):
                    out |= 1 << i
            return out

        self.src = [mask(s.sources) for s in intent.statements]
        self.dst = [mask(s.destinations) for s in intent.statements]
        self._port_masks: dict[tuple[int, int, Protocol], int] = {}
        self._rows: dict[tuple[int, int, Protocol], tuple[int, int]] = {}

    def _ports(self, k: int, port: int, protocol: Protocol) -> int:
        """Destinations on which rule ``k``'s ports match ``port/protocol``."""
        key = (k, port, protocol)
        found = self._port_masks.get(key)
        if found is None:
            ports = self.intent.statements[k].ports
            if ports is None:
                found = -1
            else:
                found = 0
                for pm in ports:
                    if pm.name is None:
                        if pm.matches_number(port, protocol):
                            found = -1
                            break
                    else:
                        for i, pod in enumerate(self.pods):
                            if pm.matches(pod, port, protocol):
                                found |= 1 << i
            self._port_masks[key] = found
        return found

    def row(self, source: int, port: int, protocol: Protocol) -> tuple[int, int]:
        """(allowed, denied) destination bitsets for ``source`` at ``port/protocol``; the rest
        (and the source itself) is unspecified."""
        key = (source, port, protocol)
        found = self._rows.get(key)
        if found is not None:
            return found
        everyone = (1 << len(self.pods)) - 1
        remaining = everyone & ~(1 << source)
        allowed = denied = 0
        bit = 1 << source
        for k, statement in enumerate(self.intent.statements):
            if not self.src[k] & bit:
                continue
            hit = self.dst[k] & self._ports(k, port, protocol) & remaining
            if hit:
                if statement.action is Intended.ALLOW:
                    allowed |= hit
                else:
                    denied |= hit
                remaining &= ~hit
        if self.intent.default is Intended.ALLOW:
            allowed |= remaining
        elif self.intent.default is Intended.DENY:
            denied |= remaining
        found = self._rows[key] = (allowed, denied)
        return found

    def column(self, destination: int, port: int, protocol: Protocol) -> tuple[int, int]:
        """(allowed, denied) *source* bitsets towards ``destination`` at ``port/protocol``:
        :meth:`row` seen from the other end (the first matching rule decides each cell)."""
        bit = 1 << destination
        remaining = ((1 << len(self.pods)) - 1) & ~bit
        allowed = denied = 0
        for k, statement in enumerate(self.intent.statements):
            if not (self.dst[k] & bit and self._ports(k, port, protocol) & bit):
                continue
            hit = self.src[k] & remaining
            if hit:
                if statement.action is Intended.ALLOW:
                    allowed |= hit
                else:
                    denied |= hit
                remaining &= ~hit
        if self.intent.default is Intended.ALLOW:
            allowed |= remaining
        elif self.intent.default is Intended.DENY:
            denied |= remaining
        return allowed, denied

    def cell(self, source: str, destination: str, port: int, protocol: Protocol) -> Match:
        """The intended verdict of one cell and the rule that decided it."""
        s, d = self.index.get(source), self.index.get(destination)
        if s is None or d is None or s == d:
            return Match(Intended.UNSPECIFIED, None)
        bit = 1 << d
        for k, statement in enumerate(self.intent.statements):
            if self.src[k] >> s & 1 and self.dst[k] & bit and self._ports(k, port, protocol) & bit:
                return Match(statement.action, statement)
        return Match(self.intent.default, None)

    def intended(self, source: str, destination: str, port: int, protocol: Protocol) -> Intended:
        return self.cell(source, destination, port, protocol).intended

    def codes(self, source: int, port: int, protocol: Protocol, dests: Sequence[int]) -> list[Intended]:
        """Intended verdicts of ``source`` towards each of ``dests`` (pod indices) at one port."""
        allowed, denied = self.row(source, port, protocol)
        out = []
        for d in dests:
            if allowed >> d & 1:
                out.append(Intended.ALLOW)
            elif denied >> d & 1:
                out.append(Intended.DENY)
            else:
                out.append(Intended.UNSPECIFIED)
        return out
