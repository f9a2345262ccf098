"""Who owns a pod: ownerReferences and the naming rules of Kubernetes' controllers.

Owns the owner chain Pod -> ReplicaSet -> Deployment (and Pod -> Job, StatefulSet,
DaemonSet, ...) read from an object's own metadata, without asking the API server: a
ReplicaSet made by a Deployment is named ``DEPLOYMENT-HASH`` where ``HASH`` is the
``pod-template-hash`` label it stamps on its pods. Used twice: live, to group pods by
workload in tables; from files, to fold pods and ReplicaSets/Jobs into the workload
objects in the same input so nothing is counted twice.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.snapshot.types import WorkloadRef

POD_TEMPLATE_HASH = "pod-template-hash"
# Owners that are not workloads: a static pod's mirror is owned by its Node.
_NOT_WORKLOADS = frozenset({"Node"})


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The controlling entry of ``metadata.ownerReferences``."""

    kind: str
    name: str
    uid: str | None = None


def controller_of(meta: Mapping[str, Any]) -> OwnerRef | None:
    """The owner with ``controller: true`` (or the only owner); None without owners.

    Malformed entries are ignored: ownerReferences are written by controllers, and an
    owner that cannot be read only means the pod is shown on its own."""
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    valid = [
        r
        for r in refs
        if isinstance(r, Mapping)
        and isinstance(r.get("kind"), str)
        and isinstance(r.get("name"), str)
        and r["kind"]
        and r["name"]
    ]
    chosen = next((r for r in valid if r.get("controller") is True), valid[0] if len(valid) == 1 else None)
    if chosen is None:
        return None
    uid = chosen.get("uid")
    return OwnerRef(chosen["kind"], chosen["name"], uid if isinstance(uid, str) and uid else None)


def deployment_of_replicaset(rs_name: str, template_hash: str | None) -> str | None:
    """``web-5d8f7c9b4`` with pod-template-hash ``5d8f7c9b4`` -> Deployment ``web``."""
    if template_hash and rs_name.endswith("-" + template_hash) and len(rs_name) > len(template_hash) + 1:
        return rs_name[: -len(template_hash) - 1]
    return None


def workload_of(meta: Mapping[str, Any]) -> WorkloadRef | None:
    """The workload that runs the object whose ``metadata`` this is, as far as its own
    metadata tells: a ReplicaSet carrying its pods' ``pod-template-hash`` becomes its
    Deployment; a pod owned by a Node (a static pod's mirror) or by nothing, None."""
    owner = controller_of(meta)
    if owner is None or owner.kind in _NOT_WORKLOADS:
        return None
    if owner.kind == "ReplicaSet":
        labels = meta.get("labels")
        template_hash = labels.get(POD_TEMPLATE_HASH) if isinstance(labels, Mapping) else None
        deployment = deployment_of_replicaset(owner.name, template_hash if isinstance(template_hash, str) else None)
        if deployment is not None:
            return WorkloadRef("Deployment", deployment)
    return WorkloadRef(owner.kind, owner.name)
