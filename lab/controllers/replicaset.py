"""ReplicaSets (and ReplicationControllers): keep ``spec.replicas`` active pods.

:func:`plan_replicas` is the whole decision, pure: from the ReplicaSet and the pods it
controls, the pods to create (from its template, named ``<name>-xxxxx``), the pods to
delete (ranked: unscheduled, pending, not ready, most restarted, newest first) and the
status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas after
``minReadySeconds``, observedGeneration). An object being deleted gets no new pods.
Orphan pods that match the selector are adopted (their controller is set), as the real
controller does. A ReplicationController is the same with a map selector.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lab.api import resources as R
from lab.api.resources import ResourceType
from lab.controllers import common as C
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event


def selector_of(rt: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    selector = (obj.get("spec") or {}).get("selector") or {}
    return {"matchLabels": dict(selector)} if rt.key == R.REPLICATIONCONTROLLERS.key else dict(selector)


def plan_replicas(
    rs: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *, now: _dt.datetime, rt: ResourceType = R.REPLICASETS
) -> C.Plan:
    spec = rs.get("spec") or {}
    want = int(spec.get("replicas", 1))
    min_ready = int(spec.get("minReadySeconds") or 0)
    active = [p for p in pods if C.is_active(p)]
    plan = C.Plan()
    if not C.being_deleted(rs):
        if len(active) < want:
            template = spec.get("template") or {}
            plan.create = [C.pod_from_template(template, rs, rt) for _ in range(want - len(active))]
        elif len(active) > want:
            plan.delete = [dict(p) for p in sorted(active, key=C.deletion_rank)[: len(active) - want]]
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    status: dict[str, Any] = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            1
            for p in active
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
        ),
        "readyReplicas": sum(1 for p in active if C.is_ready(p)),
        "availableReplicas": sum(1 for p in active if C.is_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    conditions = [c for c in (rs.get("status") or {}).get("conditions") or () if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    plan.status = status
    plan.requeue_after = C.available_after(active, min_ready, now)
    return plan


class ReplicaSetController:
    """Watches its kind and pods; reconciles one object per key."""

    def __init__(self, client: Client, rt: ResourceType = R.REPLICASETS) -> None:
        self.client = client
        self.rt = rt
        self.name = rt.plural
        self.watches = frozenset({rt.key, "pods"})

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(self.rt)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == self.rt.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        keys = []
        for obj in (event.obj, event.previous):
            if obj is None:
                continue
            ref = C.controller_of(obj)
            if ref is not None and ref.get("kind") == self.rt.kind:
                keys.append((event.namespace, ref["name"]))
            elif ref is None and C.is_active(obj):  # an orphan: whoever selects it may adopt it
                for owner in self.client.list(self.rt, event.namespace):
                    if C.selects(selector_of(self.rt, owner), obj):
                        keys.append((event.namespace, owner["metadata"]["name"]))
        return keys

    async def sync(self, key: Key) -> float | None:
        rs = self.client.get(self.rt, *key)
        if rs is None:
            return None
        if not C.being_deleted(rs):
            await self._adopt(rs)
        pods = self.client.owned(rs, R.PODS)
        plan = plan_replicas(rs, pods, now=_dt.datetime.now(_dt.UTC), rt=self.rt)
        for pod in plan.delete:
            self.client.delete(R.PODS, pod)
        if plan.create:
            await self.client.create_many(R.PODS, key[0], plan.create)
        current = self.client.get(self.rt, *key)
        if current is not None and current["metadata"]["uid"] == rs["metadata"]["uid"] and plan.status is not None:
            await self.client.update_status(self.rt, current, plan.status)
        return plan.requeue_after

    async def _adopt(self, rs: dict[str, Any]) -> None:
        selector = selector_of(self.rt, rs)
        for pod in self.client.list(R.PODS, rs["metadata"]["namespace"]):
            if C.controller_of(pod) is None and C.is_active(pod) and C.selects(selector, pod):
                meta = pod["metadata"]
                refs = [*(meta.get("ownerReferences") or ()), C.controller_ref(rs, self.rt)]
                await self.client.update(R.PODS, {**pod, "metadata": {**meta, "ownerReferences": refs}})
