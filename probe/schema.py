"""Wire format between the orchestrator and the agent: probe spec in, result document out.

This module is the contract. The orchestrator builds a spec (:class:`probe.spec.Spec`,
whose ``to_document`` is the exact inverse of :func:`probe.spec.parse_spec`), hands it to
``kubereach-probe run`` (JSON on stdin, or as an argument, optionally zlib-compressed and
base64-encoded with the prefix ``z:``), and reads back one result document, printed
as a single JSON line on stdout. The orchestrator reads pod logs, which may interleave
stderr, so it finds the document as the last log line that parses as JSON with
``"kind": "KubereachProbeResult"``.

Spec (version 1)::

    {
      "kind": "KubereachProbeSpec", "version": 1,
      "id": "sweep-3f2a/payments/api-7d9",      # free text, echoed back
      "deadline_s": 60,                          # hard limit for the whole batch
      "concurrency": 256,                        # probes in flight at once
      "rate_per_s": 0,                           # new probes started per second, 0 = unlimited
      "timeout_s": 1.0, "retries": 1,            # defaults for targets that do not say
      "targets": [
        {"id": "0", "address": "10.244.1.7", "port": 8080, "protocol": "TCP",
         "method": "connect", "timeout_s": 1.0, "retries": 1}
      ]
    }

Result document (version 1)::

    {
      "kind": "KubereachProbeResult", "version": 1, "spec_id": "...",
      "agent": {"hostname": "...", "uid": 1000, "pid": 7, "net_raw": false,
                "version": "0.1.0"},
      "started_at": "2026-11-22T14:00:00Z", "duration_s": 0.42,
      "deadline_hit": false,
      "notes": ["syn needs NET_RAW; used connect instead"],
      "results": [
        {"id": "0", "address": "10.244.1.7", "port": 8080, "protocol": "TCP",
         "method": "connect", "method_used": "connect",
         "state": "open", "evidence": "connected", "identity": {...} | null,
         "attempts": 1, "latency_ms": 0.8, "detail": null}
      ]
    }

Every target of a valid spec has exactly one result, in the order of the spec, even
when the deadline cut it short (then ``state`` is ``error`` with evidence
``deadline``).

Field-by-field reference (bounds, defaults, every evidence value per method):
``probe/README.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

SPEC_KIND = "KubereachProbeSpec"
RESULT_KIND = "KubereachProbeResult"
SCHEMA_VERSION = 1

# Identity line a kubereach listener sends first on every TCP connection and as the
# reply to every UDP datagram: one JSON object terminated by "\n".
IDENTITY_KIND = "KubereachListener"


class Protocol(enum.StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


@dataclass(frozen=True, slots=True, order=True)
class PortRef:
    """A port and its protocol, e.g. ``8080/TCP``: the one port type of kubereach
    (flags, plans, intra-pod rules); ``str()`` gives the ``8080/TCP`` spelling."""

    port: int
    protocol: Protocol = Protocol.TCP

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


class Method(enum.StrEnum):
    """How a probe is made. ``connect`` needs no privilege; ``syn`` and ``udp`` want NET_RAW
    for their full evidence (``udp`` still works without it, with less evidence)."""

    CONNECT = "connect"
    SYN = "syn"
    UDP = "udp"
    SCTP = "sctp"


class ProbeState(enum.StrEnum):
    """What one probe observed (DESIGN.md, Semantics)."""

    OPEN = "open"  # connected / SYN-ACK / reply datagram
    CLOSED = "closed"  # ECONNREFUSED / RST / ICMP port unreachable
    FILTERED = "filtered"  # silence after retries, or ICMP admin-prohibited
    UNREACHABLE = "unreachable"  # EHOSTUNREACH / ENETUNREACH / ICMP host or net unreachable
    ERROR = "error"  # anything else, recorded verbatim in evidence/detail

    @property
    def passed(self) -> bool | None:
        """True: packets reached the destination's stack; False: blocked; None: inconclusive."""
        if self in (ProbeState.OPEN, ProbeState.CLOSED):
            return True
        if self in (ProbeState.FILTERED, ProbeState.UNREACHABLE):
            return False
        return None


def find_result_document(log_text: str) -> dict[str, Any] | None:
    """Return the last result document in a pod log, or None if there is none.

    Logs may interleave stderr lines and, on a retried container, earlier output; the
    last complete document wins.
    """
    import json

    for line in reversed(log_text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("kind") == RESULT_KIND:
            return doc
    return None


# The agent image. The lab recognises agent containers by this repository (any tag)
# and runs the installed ``kubereach-probe`` for them; the sweep and the webhook use it
# by default (``--agent-image`` overrides).
AGENT_IMAGE_REPOSITORY = "ghcr.io/kubereach/agent"
DEFAULT_AGENT_IMAGE = f"{AGENT_IMAGE_REPOSITORY}:0.1.0"


def is_agent_image(image: str | None) -> bool:
    """True for ``ghcr.io/kubereach/agent[:tag|@digest]`` and any registry mirror of it."""
    if not image:
        return False
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name == AGENT_IMAGE_REPOSITORY or name.endswith("/kubereach/agent") or name.endswith("kubereach-agent")


# Identity of the container an agent or listener runs in, from the downward API
# (fieldRef metadata.namespace / metadata.name) and a literal for the container name.
ENV_NAMESPACE = "KUBEREACH_NAMESPACE"
ENV_POD = "KUBEREACH_POD"
ENV_CONTAINER = "KUBEREACH_CONTAINER"
