"""Strict validation of a probe spec (the wire format of :mod:`probe.schema`).

Owns turning untrusted JSON into :class:`Spec` / :class:`Target` values, or a
:class:`SpecError` that names the field (``targets[3].port: 70000 out of range``).
Imports the standard library only; no I/O besides decoding the ``z:`` form.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from probe.schema import SCHEMA_VERSION, SPEC_KIND, Method, Protocol

# Bounds that keep one agent sane; a spec outside them is a bug in the caller.
MAX_DEADLINE_S = 3600.0  # an agent run longer than an hour is a stuck sweep
MAX_TIMEOUT_S = 120.0  # per attempt
MAX_RETRIES = 10
MAX_CONCURRENCY = 65536
MAX_TARGETS = 1_000_000  # a few hundred bytes each: the JSON is the real limit
MAX_DECODED_BYTES = 256 << 20  # a z: spec must not inflate into a memory bomb

DEFAULT_DEADLINE_S = 60.0
DEFAULT_CONCURRENCY = 256
DEFAULT_TIMEOUT_S = 1.0
DEFAULT_RETRIES = 1

# Which methods make sense for which protocol; the first is the default.
METHODS_FOR: dict[Protocol, tuple[Method, ...]] = {
    Protocol.TCP: (Method.CONNECT, Method.SYN),
    Protocol.UDP: (Method.UDP,),
    Protocol.SCTP: (Method.SCTP,),
}

_PROTOCOL_BY_NAME = {p.value: p for p in Protocol}
_METHOD_BY_NAME = {m.value: m for m in Method}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")
_SPEC_FIELDS = {"kind", "version", "id", "deadline_s", "concurrency", "rate_per_s", "timeout_s", "retries", "targets"}
_TARGET_FIELDS = {"id", "address", "port", "protocol", "method", "timeout_s", "retries"}


class SpecError(ValueError):
    """The spec is invalid; the message starts with the field path."""


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    address: str
    port: int
    protocol: Protocol
    method: Method
    timeout_s: float
    retries: int

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "port": self.port,
            "protocol": str(self.protocol),
            "method": str(self.method),
            "timeout_s": self.timeout_s,
            "retries": self.retries,
        }


@dataclass(frozen=True, slots=True)
class Spec:
    id: str
    deadline_s: float
    concurrency: int
    rate_per_s: float
    timeout_s: float
    retries: int
    targets: tuple[Target, ...]

    def to_document(self) -> dict[str, Any]:
        """The wire form; ``parse_spec(spec.to_document()) == spec`` (a test checks it)."""
        return {
            "kind": SPEC_KIND,
            "version": SCHEMA_VERSION,
            "id": self.id,
            "deadline_s": self.deadline_s,
            "concurrency": self.concurrency,
            "rate_per_s": self.rate_per_s,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "targets": [t.to_document() for t in self.targets],
        }


def decode_spec_text(text: str) -> Any:
    """JSON text, or ``z:`` + base64(zlib(JSON)), decoded to Python data."""
    text = text.strip()
    if text.startswith("z:"):
        try:
            packed = base64.b64decode(text[2:], validate=True)
            d = zlib.decompressobj()
            raw = d.decompress(packed, MAX_DECODED_BYTES)
            if d.unconsumed_tail:
                raise SpecError(f"spec: decompressed spec larger than {MAX_DECODED_BYTES} bytes")
        except (binascii.Error, zlib.error, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"spec: bad z: encoding ({exc})") from exc
        text = raw.decode("utf-8", errors="replace")
    if not text:
        raise SpecError("spec: empty input (expected a JSON object)")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SpecError(f"spec: not valid JSON ({exc})") from exc
    except RecursionError:
        raise SpecError("spec: not valid JSON (nested too deeply)") from None


def encode_spec(spec: dict[str, Any]) -> str:
    """The compact ``z:`` form for passing a large spec as one argument."""
    raw = json.dumps(spec, separators=(",", ":")).encode()
    return "z:" + base64.b64encode(zlib.compress(raw, 9)).decode()


def parse_spec(data: Any) -> Spec:
    """Validate decoded JSON into a :class:`Spec`; raises :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"spec: expected a JSON object, got {_tname(data)}")
    for key in data:
        if key not in _SPEC_FIELDS:
            raise SpecError(f"{key}: unknown field (expected {', '.join(sorted(_SPEC_FIELDS))})")
    if data.get("kind") != SPEC_KIND:
        raise SpecError(f"kind: expected {SPEC_KIND!r}, got {data.get('kind')!r}")
    version = data.get("version")
    if _is_int(version) is False or version != SCHEMA_VERSION:
        raise SpecError(f"version: expected {SCHEMA_VERSION}, got {version!r}")
    spec_id = data.get("id", "")
    if not isinstance(spec_id, str):
        raise SpecError(f"id: expected a string, got {_tname(spec_id)}")
    deadline = _number(
        data, "deadline_s", DEFAULT_DEADLINE_S, low=0.0, high=MAX_DEADLINE_S, where="deadline_s", exclusive_low=True
    )
    concurrency = _integer(data, "concurrency", DEFAULT_CONCURRENCY, low=1, high=MAX_CONCURRENCY, where="concurrency")
    rate = _number(data, "rate_per_s", 0.0, low=0.0, high=1e9, where="rate_per_s")
    timeout = _number(
        data, "timeout_s", DEFAULT_TIMEOUT_S, low=0.0, high=MAX_TIMEOUT_S, where="timeout_s", exclusive_low=True
    )
    retries = _integer(data, "retries", DEFAULT_RETRIES, low=0, high=MAX_RETRIES, where="retries")
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list):
        raise SpecError(f"targets: expected a list, got {_tname(raw_targets)}")
    if len(raw_targets) > MAX_TARGETS:
        raise SpecError(f"targets: {len(raw_targets)} targets, at most {MAX_TARGETS}")
    targets = tuple(_parse_target(t, i, timeout, retries) for i, t in enumerate(raw_targets))
    return Spec(spec_id, deadline, concurrency, rate, timeout, retries, targets)


def _parse_target(raw: Any, i: int, timeout: float, retries: int) -> Target:
    where = f"targets[{i}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected an object, got {_tname(raw)}")
    for key in raw:
        if key not in _TARGET_FIELDS:
            raise SpecError(f"{where}.{key}: unknown field (expected {', '.join(sorted(_TARGET_FIELDS))})")
    tid = raw.get("id", str(i))
    if not isinstance(tid, str):
        raise SpecError(f"{where}.id: expected a string, got {_tname(tid)}")
    address = raw.get("address")
    if not isinstance(address, str) or not address:
        raise SpecError(f"{where}.address: required, an IP address or host name")
    if not _valid_address(address):
        raise SpecError(f"{where}.address: {address!r} is not an IP address or host name")
    if "port" not in raw:
        raise SpecError(f"{where}.port: required")
    port = raw["port"]
    if not _is_int(port):
        raise SpecError(f"{where}.port: expected an integer, got {port!r}")
    if not 1 <= port <= 65535:
        raise SpecError(f"{where}.port: {port} out of range 1-65535")
    proto_text = raw.get("protocol", "TCP")
    protocol = _PROTOCOL_BY_NAME.get(proto_text.upper()) if isinstance(proto_text, str) else None
    if protocol is None:
        raise SpecError(f"{where}.protocol: expected TCP, UDP or SCTP, got {proto_text!r}")
    allowed = METHODS_FOR[protocol]
    method_text = raw.get("method")
    method: Method | None
    if method_text is None and "method" not in raw:
        method = allowed[0]
    else:
        method = _METHOD_BY_NAME.get(method_text) if isinstance(method_text, str) else None
        if method is None:
            raise SpecError(f"{where}.method: expected one of {', '.join(_METHOD_BY_NAME)}, got {method_text!r}")
    if method not in allowed:
        raise SpecError(
            f"{where}.method: {method} does not apply to {protocol} (use {' or '.join(m.value for m in allowed)})"
        )
    t_timeout = _number(
        raw, "timeout_s", timeout, low=0.0, high=MAX_TIMEOUT_S, where=f"{where}.timeout_s", exclusive_low=True
    )
    t_retries = _integer(raw, "retries", retries, low=0, high=MAX_RETRIES, where=f"{where}.retries")
    return Target(tid, address, port, protocol, method, t_timeout, t_retries)


def _valid_address(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):  # inet_pton: strict and fast
        try:
            socket.inet_pton(family, text)
            return True
        except (OSError, ValueError):
            continue
    return bool(_HOSTNAME.match(text)) and not text.replace(".", "").isdigit()


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(
    data: Mapping[str, Any],
    key: str,
    default: float,
    *,
    low: float,
    high: float,
    where: str,
    exclusive_low: bool = False,
) -> float:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if (value <= low if exclusive_low else value < low) or value > high:
        bound = f"> {low:g}" if exclusive_low else f">= {low:g}"
        raise SpecError(f"{where}: {value!r} out of range (must be {bound} and <= {high:g})")
    return float(value)


def _integer(data: Mapping[str, Any], key: str, default: int, *, low: int, high: int, where: str) -> int:
    if key not in data:
        return default
    value = data[key]
    if not _is_int(value):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise SpecError(f"{where}: {value} out of range {low}-{high}")
    return value


def _tname(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
