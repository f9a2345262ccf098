"""Deletion and garbage collection through ownerReferences, as kubectl's three cascades ask.

- ``Background`` (kubectl's default): the object goes at once; its dependents are
  deleted afterwards, each in the background too, so a Deployment takes its ReplicaSets
  and they their pods.
- ``Foreground`` (``--cascade=foreground``): the object stays, with a
  ``deletionTimestamp`` and the ``foregroundDeletion`` finalizer, until every dependent
  is gone (recursively, foreground too); then it goes. Controllers leave an object that
  is being deleted alone, so nothing is recreated meanwhile.
- ``Orphan`` (``--cascade=orphan``): the object goes; its dependents stay, without the
  ownerReference to it.

A dependent that has another owner still alive survives, minus the dangling reference.
Pods are marked terminating (watchers see a ``deletionTimestamp``) while their node
stops them, then removed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lab.api.network_sync import NETWORK_RESOURCES
from lab.store import NotFound, Obj, now_rfc3339

if TYPE_CHECKING:
    from lab.api.cluster import Cluster

log = logging.getLogger("lab.api")

FOREGROUND_FINALIZER = "foregroundDeletion"
FOREGROUND_WAIT_SECONDS = 300.0  # an owner in foreground deletion gives up on slow dependents after this
_POLL_SECONDS = 0.05


class GarbageCollector:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self._deleting: set[str] = set()  # uids of pods being stopped

    async def delete(self, key: str, obj: Obj, propagation: str) -> Obj:
        """Delete ``obj`` as ``propagation`` says; returns what the API answers."""
        meta = obj["metadata"]
        if propagation == "Foreground" and self.store.dependents(meta["uid"]):
            if FOREGROUND_FINALIZER in (meta.get("finalizers") or ()):
                return obj  # already in foreground deletion
            marked = {
                **obj,
                "metadata": {
                    **meta,
                    "deletionTimestamp": meta.get("deletionTimestamp") or now_rfc3339(),
                    "deletionGracePeriodSeconds": 0,
                    "finalizers": [*(meta.get("finalizers") or ()), FOREGROUND_FINALIZER],
                },
            }
            stored = self.store.replace(key, meta.get("namespace", ""), meta["name"], marked)
            self.cluster.spawn(self._finish_foreground(key, stored))
            return stored
        if key == "pods":
            if not self._begin_pod(obj):
                return obj  # another request is already stopping this pod
            return await self._finish_pod(obj, propagation)
        return self._remove(key, obj, propagation)

    def delete_soon(self, key: str, obj: Obj, propagation: str) -> None:
        """:meth:`delete` without waiting; a pod is marked terminating before this returns."""
        if key == "pods" and propagation != "Foreground":
            if self._begin_pod(obj):
                self.cluster.spawn(self._finish_pod_quietly(obj, propagation))
            return
        self.cluster.spawn(self._delete_quietly(key, obj, propagation))

    async def _delete_quietly(self, key: str, obj: Obj, propagation: str) -> None:
        try:
            await self.delete(key, obj, propagation)
        except Exception:
            log.exception("deleting %s %s failed", key, obj["metadata"].get("name"))

    # -- pods --------------------------------------------------------------------------------
    def _begin_pod(self, obj: Obj) -> bool:
        """Mark the pod terminating (watchers and controllers see it at once)."""
        meta = obj["metadata"]
        if meta.get("uid") in self._deleting:
            return False
        current = self.store.find("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return False
        self._deleting.add(meta["uid"])
        marked = {
            **current,
            "metadata": {
                **current["metadata"],
                "deletionTimestamp": current["metadata"].get("deletionTimestamp") or now_rfc3339(),
                "deletionGracePeriodSeconds": 0,
            },
        }
        self.store.replace("pods", meta["namespace"], meta["name"], marked)
        return True

    async def _finish_pod(self, obj: Obj, propagation: str) -> Obj:
        try:
            await self.cluster.kubelets.stop(obj)
            return self._remove("pods", obj, propagation)
        finally:
            self._deleting.discard(obj["metadata"]["uid"])

    async def _finish_pod_quietly(self, obj: Obj, propagation: str) -> None:
        try:
            await self._finish_pod(obj, propagation)
        except Exception:
            log.exception("deleting pod %s failed", obj["metadata"].get("name"))

    # -- removal and collection ------------------------------------------------------------------
    def _remove(self, key: str, obj: Obj, propagation: str) -> Obj:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        current = self.store.find(key, namespace, name)
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return obj
        if key == "services" and current.get("spec", {}).get("clusterIP"):
            self.cluster._cluster_ips.discard(current["spec"]["clusterIP"])
        try:
            gone = self.store.delete(key, namespace, name)
        except NotFound:
            return obj
        if key in NETWORK_RESOURCES:
            self.cluster.network.kick()
        self._collect(gone["metadata"]["uid"], propagation)
        return gone

    def _collect(self, owner_uid: str, propagation: str) -> None:
        """Dependents of a removed owner, as the policy says."""
        dependents = self.store.dependents(owner_uid)
        if propagation == "Orphan":
            for key, dep in dependents:
                meta = dep["metadata"]
                refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != owner_uid]
                self.store.replace(
                    key, meta.get("namespace", ""), meta["name"], {**dep, "metadata": {**meta, "ownerReferences": refs}}
                )
            return
        for key, dep in dependents:
            self.cluster.spawn(self._delete_dependent(key, dep, "Background"))

    async def _delete_dependent(self, key: str, dep: Obj, propagation: str) -> None:
        meta = dep["metadata"]
        current = self.store.find(key, meta.get("namespace", ""), meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        # an object with another owner still alive survives, minus the dangling references
        refs = current["metadata"].get("ownerReferences") or ()
        live = [r for r in refs if self._owner_alive(r.get("uid", ""))]
        if live:
            if len(live) != len(refs):
                self.store.replace(
                    key,
                    meta.get("namespace", ""),
                    meta["name"],
                    {**current, "metadata": {**current["metadata"], "ownerReferences": live}},
                )
            return
        try:
            await self.delete(key, current, propagation)
        except Exception:
            log.exception("garbage collecting %s %s failed", key, meta["name"])

    def _owner_alive(self, uid: str) -> bool:
        found = self.store.by_uid(uid)
        if found is None:
            return False
        meta = found[1]["metadata"]
        return FOREGROUND_FINALIZER not in (meta.get("finalizers") or ())

    async def _finish_foreground(self, key: str, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for dep_key, dep in self.store.dependents(uid):
            await self._delete_dependent(dep_key, dep, "Foreground")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOREGROUND_WAIT_SECONDS
        while self._blocking_dependents(uid) and loop.time() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        meta = owner["metadata"]
        current = self.store.find(key, meta.get("namespace", ""), meta["name"])
        if current is None or current["metadata"].get("uid") != uid:
            return
        if key == "pods":
            if self._begin_pod(current):
                await self._finish_pod(current, "Background")
            return
        self._remove(key, current, "Background")

    def _blocking_dependents(self, uid: str) -> bool:
        """Dependents still holding a foreground deletion up: those that still name ``uid``."""
        return bool(self.store.dependents(uid))
