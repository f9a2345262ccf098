"""Deployments: ReplicaSets per pod template, rolled from old to new, and the status kubectl reads.

:func:`plan_deployment` is the decision, pure, one step per call like the real
controller's sync:

1. The *new* ReplicaSet is the one whose template equals the Deployment's (ignoring its
   ``pod-template-hash`` label); it is created when missing, named
   ``<deployment>-<hash>``, with the hash as a label on it, its selector and its pods.
   It carries ``deployment.kubernetes.io/revision``: one more than the highest revision
   of the old ones (a rollback to an old template re-uses that ReplicaSet and bumps its
   revision), and the Deployment the same annotation.
2. ``RollingUpdate``: scale the new ReplicaSet up while the total stays within
   ``replicas + maxSurge`` (25% rounded up by default); scale old ones down (first their
   unavailable pods, then available ones) while at least ``replicas - maxUnavailable``
   (25% rounded down; never both zero) stay available. ``Recreate``: old ones to zero,
   wait until their pods are gone, then the new one to full size.
3. ``paused``: only a change of ``replicas`` is applied.
4. Once the rollout is complete, ReplicaSets at zero beyond ``revisionHistoryLimit`` are deleted.
5. Status: replicas, updatedReplicas, readyReplicas, availableReplicas,
   unavailableReplicas, observedGeneration, and the ``Available`` and ``Progressing``
   conditions (``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds`` without progress).

``kubectl rollout status`` reads exactly these fields; ``kubectl rollout restart``
changes a template annotation, so it is a new template like any other.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"


@dataclass
class DeploymentPlan:
    create: dict[str, Any] | None = None  # a new ReplicaSet
    scale: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (ReplicaSet, replicas)
    annotate: list[dict[str, Any]] = field(default_factory=list)  # ReplicaSets with new annotations
    delete: list[dict[str, Any]] = field(default_factory=list)
    deployment_annotations: dict[str, str] | None = None
    progress: tuple[str, str] | None = None  # (Progressing reason, ReplicaSet name) of this step
    status: dict[str, Any] | None = None
    requeue_after: float | None = None


def _replicas(rs: Mapping[str, Any]) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0) or 0)


def _st(rs: Mapping[str, Any], key: str) -> int:
    return int((rs.get("status") or {}).get(key, 0) or 0)


def _revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(rs: Mapping[str, Any]) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"])


def surge_and_unavailable(d: Mapping[str, Any]) -> tuple[int, int]:
    spec = d.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = C.int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = C.int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # as the real controller: a rollout must be able to make progress
    return surge, unavailable


def new_replicaset(d: Mapping[str, Any], revision: int) -> dict[str, Any]:
    """The ReplicaSet for the Deployment's current template (not yet scaled)."""
    spec = d.get("spec") or {}
    template = spec.get("template") or {}
    pod_hash = C.template_hash(template)
    tmeta = dict(template.get("metadata") or {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
    selector = dict(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
    annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k.startswith(CHANGE_CAUSE)}
    surge, _ = surge_and_unavailable(d)
    replicas = int(spec.get("replicas", 1))
    annotations.update({REVISION: str(revision), DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge)})
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{d['metadata']['name']}-{pod_hash}",
            "labels": tmeta["labels"],
            "annotations": annotations,
            "ownerReferences": [C.controller_ref(d, R.DEPLOYMENTS)],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": {**template, "metadata": tmeta},
        },
    }


def find_new(d: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    template = (d.get("spec") or {}).get("template") or {}
    want = C.without_label(template, HASH_LABEL)
    matches = [
        rs for rs in replicasets if C.without_label((rs.get("spec") or {}).get("template") or {}, HASH_LABEL) == want
    ]
    return min(matches, key=_created) if matches else None


def plan_deployment(
    d: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]], *, now: _dt.datetime
) -> DeploymentPlan:
    spec = d.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    plan = DeploymentPlan()
    if C.being_deleted(d):
        return plan
    new = find_new(d, replicasets)
    old = sorted((rs for rs in replicasets if rs is not new), key=_created)
    max_old_revision = max((_revision(rs) for rs in old), default=0)
    surge, max_unavailable = surge_and_unavailable(d)
    if new is None:
        created = new_replicaset(d, max_old_revision + 1)
        if spec.get("paused"):
            plan.status = deployment_status(d, replicasets, now=now, progress=None)
            return plan
        total = sum(_replicas(rs) for rs in replicasets)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            start = 0 if any(_replicas(rs) or _st(rs, "replicas") for rs in old) else replicas
        else:
            start = max(min(replicas + surge - total, replicas), 0)
        created["spec"]["replicas"] = start
        plan.create = created
        plan.deployment_annotations = {REVISION: str(max_old_revision + 1)}
        plan.progress = ("NewReplicaSetCreated", created["metadata"]["name"])
        plan.status = deployment_status(d, replicasets, now=now, progress=plan.progress)
        return plan
    revision = _revision(new)
    if revision <= max_old_revision:  # a rollback to this template: it becomes the newest revision
        revision = max_old_revision + 1
    annotations = dict(new["metadata"].get("annotations") or {})
    wanted = {REVISION: str(revision), DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge)}
    if any(annotations.get(k) != v for k, v in wanted.items()):
        plan.annotate.append({**new, "metadata": {**new["metadata"], "annotations": {**annotations, **wanted}}})
    if (d["metadata"].get("annotations") or {}).get(REVISION) != str(revision):
        plan.deployment_annotations = {REVISION: str(revision)}
    sizes = {rs["metadata"]["name"]: _replicas(rs) for rs in replicasets}
    progress: tuple[str, str] | None = None
    if spec.get("paused"):
        if sizes[new["metadata"]["name"]] != replicas and not any(sizes[rs["metadata"]["name"]] for rs in old):
            sizes[new["metadata"]["name"]] = replicas
    elif (spec.get("strategy") or {}).get("type") == "Recreate":
        if any(sizes[rs["metadata"]["name"]] for rs in old):
            for rs in old:
                sizes[rs["metadata"]["name"]] = 0
        elif not any(_st(rs, "replicas") for rs in old):
            sizes[new["metadata"]["name"]] = replicas
    else:
        _roll(new, old, sizes, replicas=replicas, surge=surge, max_unavailable=max_unavailable)
    for rs in replicasets:
        if sizes[rs["metadata"]["name"]] != _replicas(rs):
            plan.scale.append((dict(rs), sizes[rs["metadata"]["name"]]))
            progress = ("ReplicaSetUpdated", new["metadata"]["name"])
    complete = not plan.scale and rollout_complete(d, new, old)
    if complete:
        limit = int(spec.get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if not sizes[rs["metadata"]["name"]] and not _st(rs, "replicas")]
        plan.delete = [dict(rs) for rs in idle[: max(len(idle) - limit, 0)]]
    plan.progress = progress
    plan.status = deployment_status(d, replicasets, now=now, progress=progress)
    deadline = spec.get("progressDeadlineSeconds")
    if not complete and deadline is not None:
        plan.requeue_after = float(deadline) + 1
    return plan


def _roll(
    new: Mapping[str, Any],
    old: Sequence[Mapping[str, Any]],
    sizes: dict[str, int],
    *,
    replicas: int,
    surge: int,
    max_unavailable: int,
) -> None:
    """One rolling-update step on ``sizes`` (ReplicaSet name -> spec.replicas)."""
    name = new["metadata"]["name"]
    total = sum(sizes.values())
    if sizes[name] > replicas:
        sizes[name] = replicas
        return
    if sizes[name] < replicas and total < replicas + surge:
        sizes[name] = min(sizes[name] + replicas + surge - total, replicas)
        return
    min_available = replicas - max_unavailable
    new_unavailable = max(sizes[name] - _st(new, "availableReplicas"), 0)
    budget = sum(sizes.values()) - min_available - new_unavailable
    if budget <= 0:
        return
    for rs in old:  # first the old pods that are not available anyway
        key = rs["metadata"]["name"]
        unhealthy = max(sizes[key] - _st(rs, "availableReplicas"), 0)
        cut = min(unhealthy, budget, sizes[key])
        sizes[key] -= cut
        budget -= cut
    available = sum(_st(rs, "availableReplicas") for rs in old) + _st(new, "availableReplicas")
    budget = min(budget, available - min_available)
    for rs in old:
        if budget <= 0:
            break
        key = rs["metadata"]["name"]
        cut = min(sizes[key], budget)
        sizes[key] -= cut
        budget -= cut


def rollout_complete(d: Mapping[str, Any], new: Mapping[str, Any] | None, old: Sequence[Mapping[str, Any]]) -> bool:
    """Every replica is new and available, and no old pod is left."""
    replicas = int((d.get("spec") or {}).get("replicas", 1))
    return (
        new is not None
        and _replicas(new) == replicas
        and _st(new, "replicas") == replicas
        and _st(new, "availableReplicas") >= replicas
        and not any(_replicas(rs) or _st(rs, "replicas") for rs in old)
    )


def deployment_status(
    d: Mapping[str, Any],
    replicasets: Sequence[Mapping[str, Any]],
    *,
    now: _dt.datetime,
    progress: tuple[str, str] | None,
) -> dict[str, Any]:
    """The Deployment's status from its ReplicaSets as they are; ``progress`` is what the
    step that just ran did (it moves the Progressing condition)."""
    spec = d.get("spec") or {}
    new = find_new(d, replicasets)
    complete = rollout_complete(d, new, [rs for rs in replicasets if rs is not new])
    if complete and new is not None:
        progress = ("NewReplicaSetAvailable", new["metadata"]["name"])
    replicas = int(spec.get("replicas", 1))
    _, max_unavailable = surge_and_unavailable(d)
    available = sum(_st(rs, "availableReplicas") for rs in replicasets)
    total = sum(_replicas(rs) for rs in replicasets)
    status: dict[str, Any] = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(_st(rs, "replicas") for rs in replicasets),
        "updatedReplicas": _st(new, "replicas") if new is not None else 0,
        "readyReplicas": sum(_st(rs, "readyReplicas") for rs in replicasets),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    conditions = list((d.get("status") or {}).get("conditions") or ())
    if available >= replicas - max_unavailable:
        conditions = C.set_condition(
            conditions,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
            update_time=True,
        )
    else:
        conditions = C.set_condition(
            conditions,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
            update_time=True,
        )
    current = next((c for c in conditions if c.get("type") == "Progressing"), None)
    if progress is not None:
        reason, rs_name = progress
        message = {
            "NewReplicaSetCreated": f'Created new replica set "{rs_name}"',
            "ReplicaSetUpdated": f'ReplicaSet "{rs_name}" is progressing.',
            "NewReplicaSetAvailable": f'ReplicaSet "{rs_name}" has successfully progressed.',
        }[reason]
        if (
            current is None
            or current.get("reason") != reason
            or current.get("message") != message
            or reason == "ReplicaSetUpdated"
        ):
            conditions = C.set_condition(conditions, "Progressing", "True", reason, message, now, update_time=True)
            if reason == "ReplicaSetUpdated" and current is not None and current.get("reason") == reason:
                # progress made now: the deadline counts from here
                for c in conditions:
                    if c.get("type") == "Progressing":
                        c["lastUpdateTime"] = C.rfc3339(now)
    elif current is not None and not complete and current.get("reason") != "NewReplicaSetAvailable":
        deadline = spec.get("progressDeadlineSeconds")
        since = C.parse_time(current.get("lastUpdateTime"))
        if (
            deadline is not None
            and since is not None
            and (now - since).total_seconds() > float(deadline)
            and new is not None
        ):
            conditions = C.set_condition(
                conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.',
                now,
                update_time=True,
            )
    status["conditions"] = conditions
    return status


class DeploymentController:
    name = "deployments"
    watches = frozenset({R.DEPLOYMENTS.key, R.REPLICASETS.key})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.DEPLOYMENTS)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == R.DEPLOYMENTS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        keys = []
        for obj in (event.obj, event.previous):
            ref = C.controller_of(obj) if obj is not None else None
            if ref is not None and ref.get("kind") == "Deployment":
                keys.append((event.namespace, ref["name"]))
        return keys

    async def sync(self, key: Key) -> float | None:
        d = self.client.get(R.DEPLOYMENTS, *key)
        if d is None:
            return None
        replicasets = self.client.owned(d, R.REPLICASETS)
        plan = plan_deployment(d, replicasets, now=_dt.datetime.now(_dt.UTC))
        if plan.create is not None and await self.client.create(R.REPLICASETS, key[0], plan.create) is None:
            return 1.0  # the API refused it (the log says why): try again shortly
        for rs in plan.annotate:
            await self.client.update(R.REPLICASETS, rs)
        for rs, size in plan.scale:
            current = self.client.get(R.REPLICASETS, key[0], rs["metadata"]["name"])
            if current is not None:
                await self.client.update(R.REPLICASETS, {**current, "spec": {**current["spec"], "replicas": size}})
        for rs in plan.delete:
            self.client.delete(R.REPLICASETS, rs)
        current_d = self.client.get(R.DEPLOYMENTS, *key)
        if current_d is None:
            return None
        if plan.deployment_annotations:
            meta = current_d["metadata"]
            annotations = {**(meta.get("annotations") or {}), **plan.deployment_annotations}
            updated = await self.client.update(
                R.DEPLOYMENTS, {**current_d, "metadata": {**meta, "annotations": annotations}}
            )
            current_d = updated or self.client.get(R.DEPLOYMENTS, *key) or current_d
        if plan.status is not None:
            # from the ReplicaSets as they are now: this step's scaling counts
            status = deployment_status(
                current_d,
                self.client.owned(current_d, R.REPLICASETS),
                now=_dt.datetime.now(_dt.UTC),
                progress=plan.progress,
            )
            await self.client.update_status(R.DEPLOYMENTS, current_d, status)
        return plan.requeue_after
