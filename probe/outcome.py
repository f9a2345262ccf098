"""The value one probe method returns: what it saw, before it becomes a result dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from probe.schema import ProbeState


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ProbeState
    evidence: str
    attempts: int
    latency_ms: float | None = None
    identity: dict[str, Any] | None = None
    detail: str | None = None
    method_used: str | None = None  # set when a fallback replaced the requested method
