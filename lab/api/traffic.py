"""What the lab API served: calls and response bytes, per verb and resource.

A real API server's operators count exactly this (apiserver_request_total and the
response sizes) to decide whether a tool may stay on their cluster; the lab counts it so
tests and benchmarks can show what a client costs (``GET /lab/v1/traffic``). Bytes are
the response bodies as written (a watch's or a followed log's chunks as they go out),
so a stream still open is counted up to now; ``inFlight`` says how many requests are.
The lab's own ``/lab/`` endpoints are not counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# request[CALL_KEY]: "list pods", "watch pods", "get pods/log"
CALL_KEY = web.RequestKey("kubereach.traffic.call", str)


@dataclass
class Traffic:
    calls: int = 0
    bytes: int = 0
    in_flight: int = 0
    by_call: Counter[str] = field(default_factory=Counter)
    bytes_by_call: Counter[str] = field(default_factory=Counter)

    def call(self, request: web.Request, key: str) -> None:
        """One request to a resource path, named in RBAC terms (``list pods``)."""
        request[CALL_KEY] = key
        self.calls += 1
        self.by_call[key] += 1

    def sent(self, request: web.Request, size: int) -> None:
        key = request.get(CALL_KEY) or "other"
        self.bytes += size
        self.bytes_by_call[key] += size

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "bytes": self.bytes,
            "inFlight": self.in_flight,
            "byCall": dict(sorted(self.by_call.items())),
            "bytesByCall": dict(sorted(self.bytes_by_call.items())),
        }


TRAFFIC_KEY = web.AppKey("traffic", Traffic)


def traffic_of(request: web.Request) -> Traffic | None:
    return request.app.get(TRAFFIC_KEY)


def verb_of(method: str, *, named: bool, watch: bool, collection_delete: bool = False) -> str:
    """The RBAC verb of a request (what `kubectl auth can-i` would name)."""
    if method == "GET":
        return "get" if named else ("watch" if watch else "list")
    if method == "DELETE":
        return "delete" if named or not collection_delete else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


__all__ = ["CALL_KEY", "TRAFFIC_KEY", "Traffic", "traffic_of", "verb_of"]
