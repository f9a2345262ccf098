"""What a sweep covers: the ``--from``/``--to`` pod selectors and the ``--port`` flags.

Pure parsing of the flags into values the plan uses: :class:`PodSelector`
(``[NAMESPACE:]LABEL-SELECTOR`` in kubectl's ``-l`` syntax) and the port selection
(``80/TCP`` exactly these ports, ``+80/TCP`` added to the declared ones). Errors are
:class:`PlanError` naming the flag, which the CLI turns into a usage error (exit 2).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.model.selectors import Operator, Requirement, Selector
from orchestrator.snapshot.types import Pod
from probe.schema import PortRef, Protocol


class PortMode(enum.StrEnum):
    DECLARED = "declared"  # every declared container port of the destination
    EXACT = "exact"  # exactly --port
    ADD = "add"  # declared ones plus --port +N


class PlanError(ValueError):
    """A flag value the plan cannot use (becomes a UsageError in the CLI)."""


# -- flag parsing (pure) ------------------------------------------------------------------


def parse_port(text: str, *, what: str = "--port") -> tuple[PortRef, bool]:
    """``80``, ``80/TCP``, ``53/udp``, ``+8080/TCP`` -> (port, additive?).

    The one parser of port flags (``sweep --port``, ``predict --port``, ``explain``'s
    PORT); ``what`` names the flag in errors."""
    raw = text.strip()
    additive = raw.startswith("+")
    raw = raw.lstrip("+")
    number, _, proto = raw.partition("/")
    proto = (proto or "TCP").strip().upper()
    if not re.fullmatch(r"\s*[0-9]{1,5}\s*", number):
        raise PlanError(f"{what} {text!r}: expected PORT or PORT/PROTOCOL, e.g. 80/TCP or 53/UDP")
    protocol = parse_protocol(proto, what=what, text=text)
    if not 1 <= int(number) <= 65535:
        raise PlanError(f"{what} {text!r}: port out of range 1-65535")
    return PortRef(int(number), protocol), additive


def parse_protocol(name: str, *, what: str, text: str) -> Protocol:
    """``tcp``, ``UDP``, ``SCTP`` -> Protocol; PlanError naming the flag otherwise."""
    proto = name.strip().upper()
    if proto not in Protocol.__members__:
        raise PlanError(f"{what} {text!r}: unknown protocol {proto!r} (expected TCP, UDP or SCTP)")
    return Protocol(proto)


def port_selection(texts: Iterable[str]) -> tuple[PortMode, tuple[PortRef, ...]]:
    parsed = [parse_port(t) for t in texts]
    if not parsed:
        return PortMode.DECLARED, ()
    kinds = {additive for _, additive in parsed}
    if len(kinds) > 1:
        raise PlanError("--port: mix of +PORT (add to declared ports) and PORT (exactly these ports); use one form")
    ports = tuple(sorted({p for p, _ in parsed}))
    return (PortMode.ADD if kinds == {True} else PortMode.EXACT), ports


_REQ = re.compile(
    r"""^\s*(?:
    (?P<neg>!)\s*(?P<nkey>[^\s=!(),]+) |
    (?P<key>[^\s=!(),]+)(?:
        \s*(?P<op>==|=|!=)\s*(?P<value>[^\s=!(),]*) |
        \s+(?P<setop>in|notin)\s*\((?P<values>[^()]*)\)
    )?
)\s*$""",
    re.X,
)


@dataclass(frozen=True, slots=True)
class PodSelector:
    """``--from``/``--to``: ``[NAMESPACE:]LABEL-SELECTOR``.

    ``shop:app=web``, ``shop:`` (every pod of shop), ``tier in (web,api)`` (any
    namespace), ``*:app!=batch``. The label selector is kubectl's ``-l`` syntax.
    """

    text: str
    namespace: str | None  # None: any namespace
    selector: Selector

    @classmethod
    def parse(cls, text: str) -> PodSelector:
        ns: str | None = None
        rest = text
        head, sep, tail = text.partition(":")
        if sep and re.fullmatch(r"[a-z0-9*]([-a-z0-9]*[a-z0-9])?", head.strip() or "-"):
            ns = None if head.strip() == "*" else head.strip()
            rest = tail
        return cls(text, ns, parse_label_selector(rest, flag_text=text))

    def matches(self, pod: Pod) -> bool:
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        return self.selector.matches(pod.labels)


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str, *, flag_text: str | None = None) -> Selector:
    reqs: list[Requirement] = []
    for part in _split_requirements(text):
        m = _REQ.match(part)
        if not m:
            raise PlanError(
                f"selector {flag_text or text!r}: cannot parse {part.strip()!r} (expected "
                "key=value, key!=value, key in (a,b), key notin (a,b), key or !key)"
            )
        if m.group("neg"):
            reqs.append(Requirement(m.group("nkey"), Operator.DOES_NOT_EXIST))
        elif m.group("setop"):
            values = frozenset(v.strip() for v in m.group("values").split(",") if v.strip())
            if not values:
                raise PlanError(f"selector {flag_text or text!r}: {part.strip()!r} needs values")
            op = Operator.IN if m.group("setop") == "in" else Operator.NOT_IN
            reqs.append(Requirement(m.group("key"), op, values))
        elif m.group("op"):
            op = Operator.NOT_IN if m.group("op") == "!=" else Operator.IN
            reqs.append(Requirement(m.group("key"), op, frozenset([m.group("value")])))
        else:
            reqs.append(Requirement(m.group("key"), Operator.EXISTS))
    return Selector(tuple(reqs))
