"""``kubereach-probe scan``: the engine for a human at a shell (a tiny nmap).

Pure helpers: port-list parsing, spec building and table rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probe.schema import SCHEMA_VERSION, SPEC_KIND

MAX_PORTS = 65535


def parse_ports(text: str) -> list[int]:
    """``22,80,8000-8010`` -> sorted unique ports; ValueError names the bad part."""
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low_text, dash, high_text = part.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if dash else low
        except ValueError:
            raise ValueError(f"-p: {part!r} is not a port or a range like 8000-8010") from None
        if not (1 <= low <= 65535 and 1 <= high <= 65535):
            raise ValueError(f"-p: {part!r} out of range 1-65535")
        if high < low:
            raise ValueError(f"-p: {part!r} is an empty range")
        ports.update(range(low, high + 1))
    if not ports:
        raise ValueError("-p: no ports given")
    return sorted(ports)


def build_spec(
    hosts: Sequence[str],
    ports: Sequence[int],
    *,
    udp: bool,
    method: str,
    timeout_s: float,
    retries: int,
    concurrency: int,
    deadline_s: float,
    rate_per_s: float = 0.0,
) -> dict[str, Any]:
    protocol = "UDP" if udp else "TCP"
    method = "udp" if udp else method
    targets = [
        {"id": str(i), "address": h, "port": p, "protocol": protocol, "method": method}
        for i, (h, p) in enumerate((h, p) for h in hosts for p in ports)
    ]
    return {
        "kind": SPEC_KIND,
        "version": SCHEMA_VERSION,
        "id": "scan",
        "deadline_s": deadline_s,
        "concurrency": concurrency,
        "rate_per_s": rate_per_s,
        "timeout_s": timeout_s,
        "retries": retries,
        "targets": targets,
    }


def render_table(doc: dict[str, Any], *, show_all: bool = True) -> str:
    rows = [("HOST", "PORT", "STATE", "EVIDENCE", "IDENTITY")]
    for r in doc["results"]:
        if not show_all and r["state"] != "open":
            continue
        ident = r.get("identity") or {}
        who = "/".join(x for x in (ident.get("namespace"), ident.get("pod"), ident.get("container")) if x)
        rows.append((r["address"], f"{r['port']}/{r['protocol'].lower()}", r["state"], r["evidence"], who))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    for note in doc.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
