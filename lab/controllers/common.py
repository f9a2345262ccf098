"""What the workload controllers share (pure): ownership, pod states, templates, conditions.

Pod states follow the Kubernetes controllers' definitions: *active* is neither finished
(Succeeded/Failed) nor terminating; *ready* has the ``Ready`` condition True; *available*
has been ready for ``minReadySeconds``. Template hashes are what ``pod-template-hash``
and ``controller-revision-hash`` labels carry: FNV-1a over the template's canonical JSON,
written with the API server's safe alphabet (no vowels, so no words).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.api.resources import ResourceType
from lab.api.selectors import match_label_selector

Obj = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand.SafeEncodeString
SLOW_START_INITIAL_BATCH = 1  # the ReplicaSet controller's first create batch; doubles after each success


# -- time -----------------------------------------------------------------------------------
def rfc3339(t: _dt.datetime) -> str:
    return t.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return None


# -- ownership -------------------------------------------------------------------------------
def controller_ref(owner: Mapping[str, Any], rt: ResourceType) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def selects(selector: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """A LabelSelector matches the object's labels; an empty one matches nothing (as the
    workload controllers treat it)."""
    if not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions")):
        return False
    return match_label_selector(selector, obj.get("metadata", {}).get("labels") or {})


# -- pod states --------------------------------------------------------------------------------
def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_finished(pod: Mapping[str, Any]) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Mapping[str, Any]) -> bool:
    return not is_finished(pod) and not being_deleted(pod)


def ready_since(pod: Mapping[str, Any]) -> _dt.datetime | None:
    """When the pod became Ready (None: it is not)."""
    if being_deleted(pod) or phase(pod) != "Running":
        return None
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return None
            return parse_time(cond.get("lastTransitionTime")) or _dt.datetime.min.replace(tzinfo=_dt.UTC)
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    return ready_since(pod) is not None


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: _dt.datetime) -> bool:
    since = ready_since(pod)
    return since is not None and (min_ready_seconds <= 0 or since + _dt.timedelta(seconds=min_ready_seconds) <= now)


def available_after(pods: Iterable[Mapping[str, Any]], min_ready_seconds: int, now: _dt.datetime) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available."""
    if min_ready_seconds <= 0:
        return None
    waits = []
    for pod in pods:
        since = ready_since(pod)
        if since is not None:
            left = (since + _dt.timedelta(seconds=min_ready_seconds) - now).total_seconds()
            if left > 0:
                waits.append(left)
    return min(waits) + 0.1 if waits else None


def restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or ())


def deletion_rank(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key: pods to delete first come first (unscheduled, pending, not ready, most
    restarted, newest), as the ReplicaSet controller ranks them."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 0)
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        phase_rank,
        is_ready(pod),
        -restarts(pod),
        _Descending(created),
        _Descending((pod.get("metadata") or {}).get("name", "")),
    )


@dataclass(frozen=True, order=False)
class _Descending:
    value: str

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value


# -- templates and hashes --------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a pod template (stable across processes)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += str(collision_count)
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in str(fnv32a(text.encode())))


def without_label(template: Mapping[str, Any], label: str) -> dict[str, Any]:
    """A copy of the template without one label (to compare templates ignoring their hash)."""
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != label}
    meta["labels"] = labels
    return {**template, "metadata": meta}


def pod_from_template(
    template: Mapping[str, Any],
    owner: Mapping[str, Any],
    rt: ResourceType,
    *,
    name: str | None = None,
    generate_name: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    spec_overrides: Mapping[str, Any] | None = None,
) -> Obj:
    """A pod a controller creates: the template's labels, annotations and spec, owned by ``owner``."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
        "ownerReferences": [controller_ref(owner, rt)],
    }
    if tmeta.get("annotations") or annotations:
        meta["annotations"] = {**(tmeta.get("annotations") or {}), **(annotations or {})}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    spec.update(spec_overrides or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def slow_start_batches(count: int) -> list[int]:
    """Sizes of the create batches for ``count`` pods: 1, 2, 4, ... (the ReplicaSet
    controller's slow start, so a broken template fails once, not a thousand times)."""
    batches, size, left = [], SLOW_START_INITIAL_BATCH, count
    while left > 0:
        batches.append(min(size, left))
        left -= batches[-1]
        size *= 2
    return batches


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """``maxSurge: 25%`` of 10 replicas is 3 (rounded up); ``maxUnavailable: 25%`` is 2 (down)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = int(value[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# -- conditions ---------------------------------------------------------------------------------
def set_condition(
    conditions: list[dict[str, Any]] | None,
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: _dt.datetime,
    *,
    update_time: bool = False,
) -> list[dict[str, Any]]:
    """A new conditions list with ``kind`` set. An unchanged condition keeps its times (so
    a status write that changes nothing is skipped); lastTransitionTime moves only when
    the status flips. ``update_time`` adds lastUpdateTime (Deployments have one)."""
    out = [dict(c) for c in conditions or () if c.get("type") != kind]
    old = next((c for c in conditions or () if c.get("type") == kind), None)
    if (
        old is not None
        and old.get("status") == status
        and old.get("reason") == reason
        and old.get("message") == message
    ):
        out.append(dict(old))
        return _ordered(out, conditions)
    stamp = rfc3339(now)
    new: dict[str, Any] = {"type": kind, "status": status}
    if update_time:
        new["lastUpdateTime"] = stamp
    new["lastTransitionTime"] = (
        old.get("lastTransitionTime", stamp) if old is not None and old.get("status") == status else stamp
    )
    new["reason"] = reason
    new["message"] = message
    out.append(new)
    return _ordered(out, conditions)


def _ordered(new: list[dict[str, Any]], old: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Keep the conditions' previous order (new kinds last)."""
    order = {c.get("type"): i for i, c in enumerate(old or ())}
    return sorted(new, key=lambda c: order.get(c.get("type"), len(order)))


def get_condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


@dataclass
class Plan:
    """What one reconcile asks for (the pure functions' answer; the controller applies it)."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    status: dict[str, Any] | None = None
    requeue_after: float | None = None
