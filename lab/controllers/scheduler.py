"""The scheduler: binds pods without ``spec.nodeName`` to a node, spreading them.

:func:`assign` is the decision, pure: for each pending pod (oldest first), the fitting
nodes (:mod:`lab.controllers.placement`, and room under the node's ``pods``
allocatable), and among them the one running the fewest pods (ties: by name) — simple
spreading, enough for DaemonSet-free workloads to land on every node. A pod no node fits
stays Pending with ``PodScheduled=False``, reason ``Unschedulable`` and the scheduler's
message (``0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.``);
it is tried again whenever a node or a pod changes.

All pending pods are placed in one pass (a single key), so a thousand pods created at
once cost one listing, not a thousand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers import placement
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event, now_rfc3339

SCHEDULER_NAME = "default-scheduler"
_ALL: Key = ("", "")


def pending(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and not C.being_deleted(pod)
        and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
        and not C.is_finished(pod)
    )


def assign(
    pods: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]], running: Mapping[str, int]
) -> list[tuple[Mapping[str, Any], str | None, str]]:
    """(pod, node name or None, message when None) for each pod, in order."""
    load = Counter(running)
    out: list[tuple[Mapping[str, Any], str | None, str]] = []
    ordered = sorted(nodes, key=lambda n: n["metadata"]["name"])
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"])):
        reasons: Counter[str] = Counter()
        best: str | None = None
        for node in ordered:
            name = node["metadata"]["name"]
            why = placement.why_not(pod.get("spec") or {}, node)
            if why is None and load[name] >= placement.capacity(node):
                why = "Too many pods"
            if why is not None:
                reasons[why] += 1
                continue
            if best is None or load[name] < load[best]:
                best = name
        if best is not None:
            load[best] += 1
            out.append((pod, best, ""))
        else:
            detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
            message = (
                f"0/{len(nodes)} nodes are available: {detail}." if nodes else "no nodes available to schedule pods"
            )
            out.append((pod, None, message))
    return out


class Scheduler:
    name = "scheduler"
    watches = frozenset({"pods", "nodes"})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [_ALL]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == "nodes":
            return [_ALL]
        if pending(event.obj) or (event.type == "DELETED" and (event.obj.get("spec") or {}).get("nodeName")):
            return [_ALL]
        return []

    async def sync(self, key: Key) -> float | None:
        pods = self.client.list(R.PODS)
        waiting = [p for p in pods if pending(p)]
        if not waiting:
            return None
        running = Counter(str((p.get("spec") or {}).get("nodeName")) for p in pods if not pending(p) and C.is_active(p))
        for pod, node, message in assign(waiting, self.client.list(R.NODES), running):
            meta = pod["metadata"]
            current = self.client.get(R.PODS, meta["namespace"], meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"] or not pending(current):
                continue
            if node is not None:
                self.client.bind(current, node)
                continue
            condition = {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
                "reason": "Unschedulable",
                "message": message,
            }
            old = next(
                (c for c in (current.get("status") or {}).get("conditions") or () if c.get("type") == "PodScheduled"),
                None,
            )
            if old is not None and old.get("message") == message and old.get("status") == "False":
                continue
            status = {**(current.get("status") or {}), "conditions": [condition]}
            await self.client.update_status(R.PODS, current, status)
        return None
