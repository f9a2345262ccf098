"""StatefulSets: pods with ordinal names and stable identities, started and stopped in order.

:func:`plan_statefulset` is the decision, pure, one step per call:

- pods are ``<name>-0`` ... ``<name>-<replicas-1>``, labelled
  ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
  ``controller-revision-hash``, with ``hostname`` = the pod name and ``subdomain`` =
  ``serviceName``; each ``volumeClaimTemplates`` entry becomes a volume naming the claim
  ``<template>-<pod>`` (the lab creates no PersistentVolumeClaims: nothing is mounted);
- ``OrderedReady`` (default): create the lowest missing ordinal and wait until it is
  Running and Ready before the next; scale down from the highest ordinal, one at a time,
  once every lower pod is Running and Ready. ``Parallel``: all at once;
- a Failed pod is deleted, then recreated with the same name;
- ``RollingUpdate``: once every pod runs and is ready, delete the highest-ordinal pod at
  or above ``partition`` that is not at the update revision (it comes back at the new
  one), one at a time. ``OnDelete``: pods change only when someone deletes them;
- status: replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
  currentRevision, updateRevision, observedGeneration (what ``kubectl rollout status``
  and ``get sts`` read).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers import revisions as V
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


@dataclass
class StatefulSetPlan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)
    revision: dict[str, Any] | None = None  # a ControllerRevision to create
    delete_revisions: Sequence[Mapping[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    requeue_after: float | None = None


def ordinal(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    prefix = f"{sts['metadata']['name']}-"
    name = pod["metadata"]["name"]
    tail = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and (tail == "0" or not tail.startswith("0")) else None


def stateful_pod(sts: Mapping[str, Any], index: int, template: Mapping[str, Any], revision: str) -> dict[str, Any]:
    spec = sts.get("spec") or {}
    name = f"{sts['metadata']['name']}-{index}"
    overrides: dict[str, Any] = {"hostname": name}
    if spec.get("serviceName"):
        overrides["subdomain"] = spec["serviceName"]
    claims = spec.get("volumeClaimTemplates") or []
    if claims:
        volumes = [
            v
            for v in (template.get("spec") or {}).get("volumes") or []
            if v.get("name") not in {c["metadata"]["name"] for c in claims}
        ]
        for claim in claims:
            claim_name = claim["metadata"]["name"]
            volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}"}})
        overrides["volumes"] = volumes
    return C.pod_from_template(
        template,
        sts,
        R.STATEFULSETS,
        name=name,
        labels={POD_NAME_LABEL: name, POD_INDEX_LABEL: str(index), V.REVISION_LABEL: revision},
        spec_overrides=overrides,
    )


def _revision_of(pod: Mapping[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get(V.REVISION_LABEL, ""))


def _running_ready(pod: Mapping[str, Any]) -> bool:
    return C.phase(pod) == "Running" and C.is_ready(pod) and not C.being_deleted(pod)


def plan_statefulset(
    sts: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    revisions: Sequence[Mapping[str, Any]],
    *,
    now: _dt.datetime,
) -> StatefulSetPlan:
    spec = sts.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    parallel = spec.get("podManagementPolicy") == "Parallel"
    strategy = spec.get("updateStrategy") or {}
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    min_ready = int(spec.get("minReadySeconds") or 0)
    plan = StatefulSetPlan()
    update_revision = V.revision_name(sts)
    by_name = {r["metadata"]["name"]: r for r in revisions}
    if update_revision not in by_name:
        number = max((int(r.get("revision") or 0) for r in revisions), default=0) + 1
        plan.revision = V.make_revision(sts, R.STATEFULSETS, number)
    status0 = sts.get("status") or {}
    current_revision = status0.get("currentRevision") or update_revision
    if current_revision not in by_name and current_revision != update_revision:
        current_revision = update_revision
    by_ordinal: dict[int, Mapping[str, Any]] = {}
    for pod in pods:
        i = ordinal(sts, pod)
        if i is not None:
            by_ordinal[i] = pod
    templates = {update_revision: spec.get("template") or {}}
    if current_revision in by_name:
        templates[current_revision] = V.revision_template(by_name[current_revision])

    def template_for(i: int) -> tuple[dict[str, Any], str]:
        rev = (
            current_revision
            if i < partition and strategy.get("type", "RollingUpdate") == "RollingUpdate"
            else update_revision
        )
        if strategy.get("type") == "OnDelete":
            rev = update_revision
        return dict(templates.get(rev) or templates[update_revision]), rev

    if not C.being_deleted(sts):
        waiting = False
        for i in range(replicas):
            maybe = by_ordinal.get(i)
            if maybe is None:
                template, rev = template_for(i)
                plan.create.append(stateful_pod(sts, i, template, rev))
                if not parallel:
                    waiting = True
                    break
                continue
            pod = maybe
            if C.phase(pod) == "Failed" and not C.being_deleted(pod):
                plan.delete.append(dict(pod))
                waiting = True
                if not parallel:
                    break
                continue
            if not parallel and not _running_ready(pod):
                waiting = True
                break
        extra = sorted((i for i in by_ordinal if i >= replicas), reverse=True)
        if extra and not waiting and not plan.create:
            lower_ok = all(i in by_ordinal and _running_ready(by_ordinal[i]) for i in range(replicas))
            if parallel:
                plan.delete += [dict(by_ordinal[i]) for i in extra if not C.being_deleted(by_ordinal[i])]
            elif lower_ok and not any(C.being_deleted(by_ordinal[i]) for i in extra):
                plan.delete.append(dict(by_ordinal[extra[0]]))
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        settled = not plan.create and not plan.delete and not extra
        if rolling and settled and all(i in by_ordinal and _running_ready(by_ordinal[i]) for i in range(replicas)):
            stale = [
                i for i in range(replicas - 1, partition - 1, -1) if _revision_of(by_ordinal[i]) != update_revision
            ]
            if stale and not any(C.being_deleted(p) for p in pods):
                plan.delete.append(dict(by_ordinal[stale[0]]))
    live = [p for p in pods if not C.being_deleted(p) and not C.is_finished(p)]
    updated = sum(1 for p in live if _revision_of(p) == update_revision)
    ready = sum(1 for p in live if C.is_ready(p))
    current = sum(1 for p in live if _revision_of(p) == current_revision)
    if updated == replicas and ready >= replicas and len(live) == replicas:
        current_revision, current = update_revision, updated
    status: dict[str, Any] = {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(live),
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": sum(1 for p in live if C.is_available(p, min_ready, now)),
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    }
    plan.status = status
    limit = int(spec.get("revisionHistoryLimit", 10))
    plan.delete_revisions = V.stale_revisions(revisions, {current_revision, update_revision}, limit)
    plan.requeue_after = C.available_after(live, min_ready, now)
    return plan


class StatefulSetController:
    name = "statefulsets"
    watches = frozenset({R.STATEFULSETS.key, "pods"})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.STATEFULSETS)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == R.STATEFULSETS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        ref = C.controller_of(event.obj)
        return [(event.namespace, ref["name"])] if ref is not None and ref.get("kind") == "StatefulSet" else []

    async def sync(self, key: Key) -> float | None:
        sts = self.client.get(R.STATEFULSETS, *key)
        if sts is None:
            return None
        pods = self.client.owned(sts, R.PODS)
        revisions = self.client.owned(sts, R.CONTROLLERREVISIONS)
        plan = plan_statefulset(sts, pods, revisions, now=_dt.datetime.now(_dt.UTC))
        if plan.revision is not None:
            await self.client.create(R.CONTROLLERREVISIONS, key[0], plan.revision)
        for pod in plan.delete:
            self.client.delete(R.PODS, pod)
        for pod in plan.create:
            await self.client.create(R.PODS, key[0], pod)
        for rev in plan.delete_revisions:
            self.client.delete(R.CONTROLLERREVISIONS, dict(rev))
        current = self.client.get(R.STATEFULSETS, *key)
        if current is not None and plan.status is not None:
            await self.client.update_status(R.STATEFULSETS, current, plan.status)
        return plan.requeue_after
