"""DaemonSets: one pod on every node that fits the template (:mod:`lab.controllers.placement`).

:func:`plan_daemonset` is the decision, pure: a pod for each fitting node that has none
(bound to it directly, ``spec.nodeName``, labelled ``controller-revision-hash`` and
``pod-template-generation``), extra pods and pods on nodes that no longer fit deleted,
Failed pods replaced. ``RollingUpdate`` replaces pods of an older template one node at a
time while fewer than ``maxUnavailable`` (default 1) pods are unavailable; ``OnDelete``
waits for someone to delete them. Status: desiredNumberScheduled, currentNumberScheduled,
numberReady, updatedNumberScheduled, numberAvailable, numberUnavailable,
numberMisscheduled, observedGeneration (``kubectl get ds`` and ``rollout status`` read them).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers import placement
from lab.controllers import revisions as V
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event

GENERATION_LABEL = "pod-template-generation"


@dataclass
class DaemonSetPlan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)
    revision: dict[str, Any] | None = None
    delete_revisions: Sequence[Mapping[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    requeue_after: float | None = None


def plan_daemonset(
    ds: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    nodes: Sequence[Mapping[str, Any]],
    revisions: Sequence[Mapping[str, Any]],
    *,
    now: _dt.datetime,
) -> DaemonSetPlan:
    spec = ds.get("spec") or {}
    template = spec.get("template") or {}
    pod_hash = C.template_hash(template)
    update_revision = V.revision_name(ds)
    plan = DaemonSetPlan()
    if update_revision not in {r["metadata"]["name"] for r in revisions}:
        number = max((int(r.get("revision") or 0) for r in revisions), default=0) + 1
        plan.revision = V.make_revision(ds, R.DAEMONSETS, number)
    min_ready = int(spec.get("minReadySeconds") or 0)
    fits = {
        n["metadata"]["name"]
        for n in nodes
        if placement.why_not(template.get("spec") or {}, n, ignore_unschedulable=True) is None
    }
    on_node: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        if not C.being_deleted(pod):
            on_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
    misscheduled = 0
    if not C.being_deleted(ds):
        for node_name in sorted(fits):
            mine = [p for p in on_node.get(node_name, []) if C.phase(p) != "Failed"]
            failed = [p for p in on_node.get(node_name, []) if C.phase(p) == "Failed"]
            plan.delete += [dict(p) for p in failed]
            if not mine:
                plan.create.append(
                    C.pod_from_template(
                        template,
                        ds,
                        R.DAEMONSETS,
                        labels={V.REVISION_LABEL: pod_hash, GENERATION_LABEL: str(ds["metadata"].get("generation", 1))},
                        spec_overrides={"nodeName": node_name},
                    )
                )
            else:
                plan.delete += [dict(p) for p in sorted(mine, key=C.deletion_rank)[:-1]]
        for node_name, mine in on_node.items():
            if node_name not in fits:
                misscheduled += len(mine)
                plan.delete += [dict(p) for p in mine]
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and not plan.create:
            desired = len(fits)
            max_unavailable = max(
                C.int_or_percent(
                    (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), desired, round_up=True
                ),
                1,
            )
            current = [p for n in fits for p in on_node.get(n, [])[:1]]
            unavailable = sum(1 for p in current if not C.is_available(p, min_ready, now)) + sum(
                1 for p in pods if C.being_deleted(p)
            )
            old = [p for p in current if _hash(p) != pod_hash]
            old.sort(key=lambda p: (C.is_available(p, min_ready, now), p["metadata"].get("creationTimestamp") or ""))
            room = max_unavailable - unavailable
            for pod in old:
                if not C.is_available(pod, min_ready, now):  # already unavailable: replacing it costs nothing
                    plan.delete.append(dict(pod))
                elif room > 0:
                    plan.delete.append(dict(pod))
                    room -= 1
    scheduled = [on_node[n][0] for n in sorted(fits) if on_node.get(n)]
    available = sum(1 for p in scheduled if C.is_available(p, min_ready, now))
    status = {
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": len(fits),
        "currentNumberScheduled": len(scheduled),
        "numberMisscheduled": misscheduled,
        "numberReady": sum(1 for p in scheduled if C.is_ready(p)),
        "updatedNumberScheduled": sum(1 for p in scheduled if _hash(p) == pod_hash),
        "numberAvailable": available,
        "numberUnavailable": len(fits) - available,
    }
    if status["numberUnavailable"] == 0:
        status.pop("numberUnavailable")
    plan.status = status
    limit = int(spec.get("revisionHistoryLimit", 10))
    plan.delete_revisions = V.stale_revisions(revisions, {update_revision}, limit)
    plan.requeue_after = C.available_after(scheduled, min_ready, now)
    return plan


def _hash(pod: Mapping[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get(V.REVISION_LABEL, ""))


class DaemonSetController:
    name = "daemonsets"
    watches = frozenset({R.DAEMONSETS.key, "pods", "nodes"})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.DAEMONSETS)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == R.DAEMONSETS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.resource == "nodes":
            return self.all_keys()
        ref = C.controller_of(event.obj)
        return [(event.namespace, ref["name"])] if ref is not None and ref.get("kind") == "DaemonSet" else []

    async def sync(self, key: Key) -> float | None:
        ds = self.client.get(R.DAEMONSETS, *key)
        if ds is None:
            return None
        plan = plan_daemonset(
            ds,
            self.client.owned(ds, R.PODS),
            self.client.list(R.NODES),
            self.client.owned(ds, R.CONTROLLERREVISIONS),
            now=_dt.datetime.now(_dt.UTC),
        )
        if plan.revision is not None:
            await self.client.create(R.CONTROLLERREVISIONS, key[0], plan.revision)
        for pod in plan.delete:
            self.client.delete(R.PODS, pod)
        if plan.create:
            await self.client.create_many(R.PODS, key[0], plan.create)
        for rev in plan.delete_revisions:
            self.client.delete(R.CONTROLLERREVISIONS, dict(rev))
        current = self.client.get(R.DAEMONSETS, *key)
        if current is not None and plan.status is not None:
            await self.client.update_status(R.DAEMONSETS, current, plan.status)
        return plan.requeue_after
