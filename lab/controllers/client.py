"""How the controllers talk to the lab's API: through :class:`lab.api.cluster.Cluster`.

Reads come from the store (as an informer's cache would serve them); every write goes
through the same code as an HTTP request: defaults, validation, admission webhooks for
pods, resourceVersions, watch events. So a pod a ReplicaSet creates is validated and
admitted exactly like one ``kubectl`` creates. A write the API refuses is logged and
reported to the caller as ``None``/``False``; the controller tries again on its next
reconcile, as a real controller would.
"""

from __future__ import annotations

import builtins
import copy
import logging
from typing import TYPE_CHECKING, Any

from lab.api.errors import ApiError
from lab.api.resources import ResourceType
from lab.store import Obj, Store

if TYPE_CHECKING:
    from lab.api.cluster import Cluster

log = logging.getLogger("lab.controllers")


class Client:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def store(self) -> Store:
        return self.cluster.store

    # -- reads ---------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        return self.store.find(rt.key, namespace if rt.namespaced else "", name)

    def list(self, rt: ResourceType, namespace: str | None = None) -> builtins.list[Obj]:
        """Objects of a kind (of one namespace), unsorted."""
        return self.store.scan(rt.key, namespace)

    def owned(self, owner: Obj, rt: ResourceType) -> builtins.list[Obj]:
        """Objects of ``rt`` whose controller is ``owner``."""
        uid = owner["metadata"]["uid"]
        out = []
        for _, obj in self.store.dependents(uid, rt.key):
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("uid") == uid and ref.get("controller"):
                    out.append(obj)
                    break
        return out

    # -- writes --------------------------------------------------------------------------
    async def create(self, rt: ResourceType, namespace: str, obj: Obj) -> Obj | None:
        try:
            return await self.cluster.create(rt, namespace, copy.deepcopy(obj))
        except ApiError as exc:
            log.warning("creating %s in %s failed: %s", rt.kind, namespace or "the cluster", exc)
            return None

    async def update(self, rt: ResourceType, obj: Obj) -> Obj | None:
        """Replace an object's metadata and spec (optimistic: a stale object is refused)."""
        meta = obj["metadata"]
        try:
            return await self.cluster.update(rt, meta.get("namespace", ""), meta["name"], copy.deepcopy(obj))
        except ApiError as exc:
            log.info("updating %s %s: %s (retried on the next change)", rt.kind, meta["name"], exc)
            return None

    async def update_status(self, rt: ResourceType, obj: Obj, status: dict[str, Any]) -> Obj | None:
        """Write ``status`` unless it is what the object has already (no event, no loop)."""
        if obj.get("status") == status:
            return obj
        meta = obj["metadata"]
        body = {**obj, "status": status, "metadata": dict(meta)}
        try:
            return await self.cluster.update(rt, meta.get("namespace", ""), meta["name"], body, subresource="status")
        except ApiError as exc:
            log.info("status of %s %s: %s (retried on the next change)", rt.kind, meta["name"], exc)
            return None

    def delete(self, rt: ResourceType, obj: Obj, *, propagation: str = "Background") -> None:
        """Start deleting (a pod is terminating when this returns); never waits."""
        self.cluster.delete_soon(rt, obj, propagation=propagation)

    def bind(self, pod: Obj, node_name: str) -> Obj:
        return self.cluster.bind(pod, node_name)

    async def create_many(self, rt: ResourceType, namespace: str, objs: builtins.list[Obj]) -> int:
        """Create in slow-start batches (1, 2, 4, ...), stopping at the first batch with a
        failure; returns how many were created."""
        import asyncio

        from lab.controllers.common import slow_start_batches

        created, start = 0, 0
        for size in slow_start_batches(len(objs)):
            batch = objs[start : start + size]
            start += size
            results = await asyncio.gather(*(self.create(rt, namespace, o) for o in batch))
            created += sum(1 for r in results if r is not None)
            if any(r is None for r in results):
                break
        return created
