"""A :class:`~orchestrator.snapshot.workloads.Workload` -> the pods it runs.

Owns the names and per-pod labels Kubernetes' controllers give their pods:

- without ``--replicas``, one representative pod named like the workload
  (``shop/web``), carrying the labels every replica carries: a workload's replicas are
  identical under NetworkPolicy (same labels, same ports), so one stands for all;
- with ``--replicas``, the declared count: Deployment ``web`` -> ``web-<hash>-<5 chars>``
  (``pod-template-hash``), ReplicaSet/ReplicationController ``NAME-<5 chars>``,
  StatefulSet ``web-0``, ``web-1`` (``statefulset.kubernetes.io/pod-name``,
  ``apps.kubernetes.io/pod-index``; from ``spec.ordinals.start``), DaemonSet one
  ``NAME-<5 chars>`` per eligible node (a host-network daemon takes the node's
  InternalIP), Job ``parallelism`` pods (``JOB-<index>-<5 chars>`` and
  ``batch.kubernetes.io/job-completion-index`` when Indexed), CronJob one Job's pods.

Upstream's 5-character suffixes are random; here they are derived from the workload
and the replica number in the same alphabet (``bcdfghjklmnpqrstvwxz2456789``), so the
same manifests always give the same names. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from orchestrator.snapshot.owners import POD_TEMPLATE_HASH
from orchestrator.snapshot.types import Node, Pod, PodName, WorkloadRef
from orchestrator.snapshot.workloads import SAFE_ALPHABET, Workload, fnv32a

_GENERATED_BASE_MAX = 58  # names.SimpleNameGenerator: 63 minus the 5 random characters
_SUFFIX_LEN = 5
STATEFULSET_POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
JOB_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def representative(workload: Workload) -> Pod:
    """The one pod standing for every replica, named ``namespace/workload-name``."""
    return replace(workload.pod, workload=WorkloadRef(workload.kind, workload.name), representative=True)


def _suffixes(seed: str, count: int) -> list[str]:
    """``count`` distinct 5-character suffixes, stable for ``seed``."""
    out: list[str] = []
    seen: set[str] = set()
    salt = 0
    while len(out) < count:
        h = fnv32a(f"{seed}/{len(out)}/{salt}".encode())
        chars = []
        for _ in range(_SUFFIX_LEN):
            h, r = divmod(h, len(SAFE_ALPHABET))
            chars.append(SAFE_ALPHABET[r])
        suffix = "".join(chars)
        if suffix in seen:
            salt += 1
            continue
        seen.add(suffix)
        out.append(suffix)
        salt = 0
    return out


def _generated(base: str, seed: str, count: int) -> list[str]:
    """``generateName: BASE-`` as the API server fills it in: BASE (cut to 58) + 5 characters."""
    prefix = f"{base}-"[:_GENERATED_BASE_MAX]
    return [prefix + s for s in _suffixes(seed, count)]


def replica_pods(workload: Workload, nodes: Sequence[Node]) -> list[Pod]:
    """Every pod the workload runs at once (``nodes``: where a DaemonSet's pods go)."""
    w = workload
    ref = WorkloadRef(w.kind, w.name)
    seed = f"{w.namespace}/{w.kind}/{w.name}"
    base = replace(w.pod, workload=ref)

    def named(name: str, **labels: str) -> Pod:
        return replace(base, name=PodName(name), labels={**base.labels, **labels} if labels else base.labels)

    count = w.replicas or 0
    if w.kind == "StatefulSet":
        ordinals = range(w.ordinal_start, w.ordinal_start + count)
        return [named(f"{w.name}-{i}", **{STATEFULSET_POD_NAME: f"{w.name}-{i}", POD_INDEX: str(i)}) for i in ordinals]
    if w.kind == "DaemonSet":
        placed = [n for n in nodes if w.placement is None or w.placement.eligible(n)]
        pods = []
        for node, name in zip(placed, _generated(w.name, seed, len(placed)), strict=True):
            pod = named(name)
            if pod.host_network and node.internal_ips:
                pod = replace(pod, ips=node.internal_ips)
            pods.append(pod)
        return pods
    if w.kind in ("Job", "CronJob"):
        job = w.job_name or w.name
        if w.indexed:
            return [
                named(_generated(f"{job}-{i}", f"{seed}/{i}", 1)[0], **{JOB_COMPLETION_INDEX: str(i)})
                for i in range(count)
            ]
        return [named(n) for n in _generated(job, seed, count)]
    if w.kind == "Deployment":
        rs = f"{w.name}-{w.pod.labels.get(POD_TEMPLATE_HASH, w.template_hash)}"
        return [named(n) for n in _generated(rs, seed, count)]
    return [named(n) for n in _generated(w.name, seed, count)]  # ReplicaSet, ReplicationController
