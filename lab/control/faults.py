"""``lab fault``: make the CNI misbehave on purpose, one fault at a time.

A fault is keyed by (source, destination, port, protocol); adding one with the same key
replaces it, ``remove`` takes one away, ``clear`` all. The daemon refuses a fault naming
a pod that does not exist, and names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.control.client import EXIT_USAGE, LabClient, LabError, message_of, resolve
from lab.runtime import Fault, FaultAction


def parse_fault(action: str, source: str, destination: str, port_proto: str) -> Fault:
    try:
        act = FaultAction(action)
    except ValueError:
        raise LabError(f"fault action must be allow or deny, not {action!r}", EXIT_USAGE) from None
    for what, ref in (("SRC", source), ("DST", destination)):
        if ref.count("/") != 1 or not all(ref.split("/")):
            raise LabError(f"{what} must be namespace/pod, not {ref!r}", EXIT_USAGE)
    port_text, _, proto = port_proto.partition("/")
    proto = (proto or "TCP").upper()
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535 or proto not in ("TCP", "UDP", "SCTP"):
        raise LabError(f"PORT/PROTO must look like 8080/TCP, not {port_proto!r}", EXIT_USAGE)
    return Fault(act, source, destination, int(port_text), proto)


def _answer(code: int, doc: Any, what: str) -> list[dict[str, Any]]:
    if code != 200:
        raise LabError(f"the lab refused {what}: {message_of(doc)}", EXIT_USAGE if 400 <= code < 500 else 3)
    faults: list[dict[str, Any]] = doc["faults"]
    return faults


def fault(fault_: Fault | None, *, state_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Add one fault, or clear them all (``None``); returns the faults now in force."""
    client = LabClient.for_state_dir(resolve(state_dir))
    if fault_ is None:
        code, doc = client.request("DELETE", "/lab/v1/faults")
    else:
        code, doc = client.request("POST", "/lab/v1/faults", {"faults": [fault_.to_dict()]})
    return _answer(code, doc, "the fault")


def remove_fault(fault_: Fault, *, state_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Remove the fault with this source, destination, port and protocol (whatever its action)."""
    client = LabClient.for_state_dir(resolve(state_dir))
    code, doc = client.request("POST", "/lab/v1/faults/remove", {"faults": [fault_.to_dict()]})
    return _answer(code, doc, "removing the fault")


def list_faults(*, state_dir: Path | str | None = None) -> list[dict[str, Any]]:
    code, doc = LabClient.for_state_dir(resolve(state_dir)).request("GET", "/lab/v1/faults")
    return _answer(code, doc, "listing faults")
