"""Has the lab settled? What ``lab up`` waits for after applying manifests (pure).

Settled means: every pod is Running (or Succeeded), every Deployment, StatefulSet,
DaemonSet, ReplicaSet and ReplicationController has rolled out (the conditions
``kubectl rollout status`` checks), and the controllers and the nodes' CNI have caught
up (the caller adds those two). Jobs and CronJobs are not waited for: a Job may run for
as long as it likes. A pod that cannot start (a failed pod, an image that cannot be
pulled, a container refused by its securityContext) is *stuck*: waiting longer will not
help, so ``lab up`` stops and says which pod and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STUCK_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"}
)


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _int(status: Mapping[str, Any], key: str) -> int:
    return int(status.get(key) or 0)


def rollout_waiting(kind: str, obj: Mapping[str, Any]) -> str | None:
    """What a workload still waits for (None: rolled out), in kubectl's terms."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return None
    observed = _int(status, "observedGeneration")
    if observed < int(meta.get("generation", 1)):
        return "spec update not observed yet"
    replicas = int(spec.get("replicas", 1))
    if kind == "Deployment":
        if _int(status, "updatedReplicas") < replicas:
            return f"{_int(status, 'updatedReplicas')} of {replicas} new replicas updated"
        if _int(status, "replicas") > _int(status, "updatedReplicas"):
            return f"{_int(status, 'replicas') - _int(status, 'updatedReplicas')} old replicas pending termination"
        if _int(status, "availableReplicas") < replicas:
            return f"{_int(status, 'availableReplicas')} of {replicas} updated replicas available"
        return None
    if kind == "StatefulSet":
        if _int(status, "readyReplicas") < replicas:
            return f"{_int(status, 'readyReplicas')} of {replicas} pods ready"
        if status.get("updateRevision") != status.get("currentRevision") and _int(status, "updatedReplicas") < replicas:
            return "rolling update in progress"
        return None
    if kind == "DaemonSet":
        desired = _int(status, "desiredNumberScheduled")
        if _int(status, "updatedNumberScheduled") < desired or _int(status, "numberAvailable") < desired:
            return f"{_int(status, 'numberAvailable')} of {desired} pods available"
        return None
    if _int(status, "readyReplicas") < replicas:  # ReplicaSet, ReplicationController
        return f"{_int(status, 'readyReplicas')} of {replicas} pods ready"
    return None


def stuck_reason(pod: Mapping[str, Any]) -> str | None:
    """Why a pod will not start by itself (None: it is fine or may still start)."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return status.get("message") or status.get("reason") or "Failed"
    for key in ("initContainerStatuses", "containerStatuses"):
        for c in status.get(key) or ():
            waiting = (c.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                return f"{c.get('name')}: {waiting['reason']}: {str(waiting.get('message', ''))[:300]}"
    return None


def waiting(
    pods: Iterable[Mapping[str, Any]], workloads: Iterable[tuple[str, Mapping[str, Any]]]
) -> tuple[list[str], list[str], int]:
    """(what is still coming, ``kind ns/name: why``; pods that are stuck, ``ns/name: why``;
    pods running or done)."""
    coming: list[str] = []
    stuck: list[str] = []
    running = 0
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        phase = (pod.get("status") or {}).get("phase", "Pending")
        reason = stuck_reason(pod)
        if reason is not None and not (phase == "Failed" and _owned_by_job(pod)):
            stuck.append(f"{_name(pod)}: {reason}")
        elif phase in ("Running", "Succeeded"):
            running += 1
        elif phase != "Failed":
            coming.append(f"pod {_name(pod)}: {phase}")
    for kind, obj in workloads:
        why = rollout_waiting(kind, obj)
        if why is not None:
            coming.append(f"{kind.lower()} {_name(obj)}: {why}")
    return coming, stuck, running


def _owned_by_job(pod: Mapping[str, Any]) -> bool:
    """A Job's failed pod is the Job's business (its backoffLimit), not a reason to stop."""
    return any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences") or ())
