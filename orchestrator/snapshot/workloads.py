"""Workload objects (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
ReplicationController) -> :class:`Workload` values, validated as the API server would.

Owns reading a workload's spec: its pod template (through the same builder as a bare
Pod, see :func:`orchestrator.snapshot.objects.pod_from_template`), its selector
(compiled by the model's selector compiler: one validator per rule), how many pods it
runs at once, and the labels its controller stamps on every pod (``pod-template-hash``,
``controller-revision-hash``, ``job-name``, ...). Refused like a cluster refuses them:
a missing ``spec.template`` or ``spec.selector``, an empty selector, a selector that
does not match the template's labels, a ``restartPolicy`` the kind does not allow, a
hand-written Job selector without ``manualSelector``, a CronJob schedule that does not parse.
Turning a Workload into pods is :mod:`orchestrator.snapshot.replicas`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.model.names import label_value_error
from orchestrator.model.selectors import InvalidSpec, compile_selector
from orchestrator.snapshot.objects import _int, _mapping, _metadata, _str, _Where, pod_from_template
from orchestrator.snapshot.owners import POD_TEMPLATE_HASH, OwnerRef, controller_of, deployment_of_replicaset
from orchestrator.snapshot.placement import Placement, parse_placement
from orchestrator.snapshot.types import Origin, Pod
from orchestrator.snapshot.validation import annotations_problem, labels_problem, pod_spec_problem, schedule_problem

# kind -> the apiVersion a current cluster serves it under (older groups such as
# extensions/v1beta1 are gone from clusters, so they are skipped like any unknown kind)
WORKLOAD_KINDS = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "ReplicationController": "v1",
}
REPLICAS_MAX = 2**31 - 1  # an int32 in the API
# Labels the Job controller puts on its pods (and selects them by), unless manualSelector.
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3


@dataclass(frozen=True, slots=True)
class Workload:
    """One workload object, read: what its pods look like and how many run at once."""

    kind: str
    namespace: str
    name: str
    pod: Pod  # the template as a pod named like the workload, with the labels every replica carries
    replicas: int | None  # pods at once; None for a DaemonSet (one per eligible node)
    template_hash: str  # stand-in for the controller's hash of the template (see template_hash)
    uid: str | None = None
    owner: OwnerRef | None = None  # its own controller: a ReplicaSet's Deployment, a Job's CronJob
    ordinal_start: int = 0  # StatefulSet spec.ordinals.start
    indexed: bool = False  # Job completionMode: Indexed (pods carry their completion index)
    job_name: str | None = None  # Job/CronJob: the Job the pods belong to
    placement: Placement | None = None  # DaemonSet: where its pods run
    origin: Origin | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.namespace, self.kind, self.name


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits: the hash Kubernetes' controllers use for templates."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into an alphabet with no vowels and
    no look-alike digits, so hashes never spell words (``1234`` -> ``5678``-like)."""
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in text)


def template_hash(template: Any) -> str:
    """A stand-in for ``controller.ComputeHash(template)``: FNV-1a over the template,
    SafeEncoded like upstream (e.g. ``5d8f7c9b4``). Upstream hashes the Go struct after
    defaulting, which cannot be reproduced from a manifest, so the value differs from the
    cluster's but has its shape, is stable for one template and changes with it."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    return safe_encode(str(fnv32a(canonical.encode())))


def _compile(raw: Any, where: _Where, path: str) -> Any:
    try:
        return compile_selector(raw, path)
    except InvalidSpec as exc:
        raise where.error(exc.field, exc.message) from None


def _check(problem: tuple[str, str] | None, where: _Where) -> None:
    if problem is not None:
        raise where.error(*problem)


def _template(
    spec: Mapping[str, Any], where: _Where, path: str, namespace: str, name: str, restart: tuple[str, ...]
) -> tuple[Mapping[str, Any], Pod]:
    """The raw template at ``path`` (required) and the Pod it describes, checked."""
    raw = _mapping(spec.get("template"), where, f"{path}.template", required=True)
    pod = pod_from_template(raw, where, f"{path}.template", namespace=namespace, name=name)
    meta = raw.get("metadata") or {}
    _check(labels_problem(meta.get("labels"), f"{path}.template.metadata.labels"), where)
    _check(annotations_problem(meta.get("annotations"), f"{path}.template.metadata.annotations"), where)
    _check(pod_spec_problem(raw.get("spec") or {}, f"{path}.template.spec", restart_policies=restart), where)
    return raw, pod


def _selector_matches(selector: Any, pod: Pod, where: _Where, path: str) -> None:
    if not selector.matches(pod.labels):
        raise where.error(
            f"{path}.template.metadata.labels",
            f"`selector` does not match template `labels`: the selector ({selector}) must select the "
            "pods this workload creates",
        )


def parse_workload(obj: Mapping[str, Any], where: _Where) -> Workload:
    """A workload object (kind checked by the caller) -> a validated Workload."""
    kind = obj["kind"]
    name, namespace, meta = _metadata(obj, where, namespaced=True)
    where.named(f"{kind} {namespace}/{name}")
    spec = _mapping(obj.get("spec"), where, "spec", required=True)
    uid = _str(meta.get("uid"), where, "metadata.uid")
    owner = controller_of(meta)
    if kind == "CronJob":
        return _cronjob(spec, where, namespace, name, uid, meta)
    if kind == "Job":
        return _job(spec, where, "spec", namespace, name, uid, owner, job_name=name)
    restart = ("Always",)  # a controller restarts what stops: no other restartPolicy is allowed
    raw, pod = _template(spec, where, "spec", namespace, name, restart)
    if kind == "ReplicationController":
        selector_map = spec.get("selector")
        _check(labels_problem(selector_map, "spec.selector"), where)
        selector_map = selector_map or dict(pod.labels)  # defaulted from the template's labels
        if not selector_map:
            raise where.error("spec.selector", "required: the template has no labels to default it from")
        selector = _compile({"matchLabels": selector_map}, where, "spec.selector")
    else:
        if spec.get("selector") is None:
            raise where.error("spec.selector", f"required in {WORKLOAD_KINDS[kind]} {kind}")
        selector = _compile(spec["selector"], where, "spec.selector")
        if selector.matches_all:
            raise where.error(
                "spec.selector", f"empty selector is invalid for {kind}: it would select every pod of the namespace"
            )
    _selector_matches(selector, pod, where, "spec")
    thash = template_hash(raw)
    replicas = None  # a DaemonSet runs one pod per eligible node
    if kind != "DaemonSet":
        declared = _int(spec.get("replicas"), where, "spec.replicas", lo=0, hi=REPLICAS_MAX)
        replicas = 1 if declared is None else declared  # the API server defaults it to 1
    extra: dict[str, str] = {}
    ordinal_start, placement = 0, None
    if kind == "Deployment":
        extra[POD_TEMPLATE_HASH] = thash
    elif kind == "StatefulSet":
        extra["controller-revision-hash"] = f"{name}-{thash}"
        ordinals = _mapping(spec.get("ordinals"), where, "spec.ordinals")
        ordinal_start = _int(ordinals.get("start"), where, "spec.ordinals.start", lo=0, hi=REPLICAS_MAX) or 0
    elif kind == "DaemonSet":
        extra.update({"controller-revision-hash": thash, "pod-template-generation": "1"})
        placement = parse_placement(raw.get("spec") or {}, where, "spec.template.spec", host_network=pod.host_network)
    elif kind == "ReplicaSet" and owner is None:
        # made by a Deployment but written out without ownerReferences: NAME-HASH naming
        owned_by = deployment_of_replicaset(name, (meta.get("labels") or {}).get(POD_TEMPLATE_HASH))
        owner = OwnerRef("Deployment", owned_by) if owned_by else None
    pod = replace(pod, labels={**pod.labels, **extra})
    return Workload(
        kind,
        namespace,
        name,
        pod,
        replicas,
        thash,
        uid,
        owner,
        ordinal_start,
        placement=placement,
        origin=where.origin,
    )


def _job(
    spec: Mapping[str, Any],
    where: _Where,
    path: str,
    namespace: str,
    name: str,
    uid: str | None,
    owner: OwnerRef | None,
    *,
    job_name: str,
    kind: str = "Job",
    workload_name: str | None = None,
) -> Workload:
    """A Job spec at ``path`` (a Job's ``spec`` or a CronJob's ``spec.jobTemplate.spec``)."""
    raw, pod = _template(spec, where, path, namespace, workload_name or name, ("OnFailure", "Never"))
    manual = spec.get("manualSelector")
    if manual is not None and not isinstance(manual, bool):
        raise where.error(f"{path}.manualSelector", f"expected true or false, got {manual!r}")
    labels = dict(pod.labels)
    if manual:
        if spec.get("selector") is None:
            raise where.error(f"{path}.selector", "required when manualSelector is true")
        selector = _compile(spec["selector"], where, f"{path}.selector")
        _selector_matches(selector, pod, where, path)
    else:
        if (problem := label_value_error(job_name)) is not None:
            raise where.error("metadata.name", f"{problem} (it becomes the job-name label of the Job's pods)")
        controller_uid = uid or str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubereach:{kind}/{namespace}/{name}"))
        generated = {**dict.fromkeys(JOB_NAME_LABELS, job_name), **dict.fromkeys(JOB_UID_LABELS, controller_uid)}
        if spec.get("selector") is not None:
            if kind == "CronJob":  # a jobTemplate never carries one: each Job gets its own
                raise where.error(f"{path}.selector", "`selector` will be auto-generated for each Job")
            # A Job read back from a cluster carries the selector the API server generated
            # (controller-uid): that one is fine; a selector written by hand needs manualSelector.
            if not _compile(spec["selector"], where, f"{path}.selector").matches(generated):
                raise where.error(
                    f"{path}.selector",
                    "`selector` not auto-generated: the Job controller selects its pods by controller-uid "
                    "(set manualSelector: true to choose the selector yourself)",
                )
        labels.update(generated)
    parallelism = _int(spec.get("parallelism"), where, f"{path}.parallelism", lo=0, hi=REPLICAS_MAX)
    completions = _int(spec.get("completions"), where, f"{path}.completions", lo=0, hi=REPLICAS_MAX)
    mode = _str(spec.get("completionMode"), where, f"{path}.completionMode") or "NonIndexed"
    if mode not in ("NonIndexed", "Indexed"):
        raise where.error(
            f"{path}.completionMode", f"unsupported value {mode!r}: supported values: NonIndexed, Indexed"
        )
    if mode == "Indexed" and completions is None:
        raise where.error(f"{path}.completions", "required when completionMode is Indexed")
    suspend = spec.get("suspend")
    if suspend is not None and not isinstance(suspend, bool):
        raise where.error(f"{path}.suspend", f"expected true or false, got {suspend!r}")
    running = 1 if parallelism is None else parallelism
    if completions is not None:
        running = min(running, completions)
    if suspend:
        running = 0
    return Workload(
        kind,
        namespace,
        workload_name or name,
        replace(pod, labels=labels),
        running,
        template_hash(raw),
        uid,
        owner,
        indexed=mode == "Indexed",
        job_name=job_name,
        origin=where.origin,
    )


def _cronjob(
    spec: Mapping[str, Any], where: _Where, namespace: str, name: str, uid: str | None, meta: Mapping[str, Any]
) -> Workload:
    schedule = _str(spec.get("schedule"), where, "spec.schedule", required=True)
    if (problem := schedule_problem(schedule)) is not None:
        raise where.error("spec.schedule", problem)
    policy = _str(spec.get("concurrencyPolicy"), where, "spec.concurrencyPolicy") or "Allow"
    if policy not in ("Allow", "Forbid", "Replace"):
        raise where.error(
            "spec.concurrencyPolicy", f"unsupported value {policy!r}: supported values: Allow, Forbid, Replace"
        )
    template = _mapping(spec.get("jobTemplate"), where, "spec.jobTemplate", required=True)
    job_spec = _mapping(template.get("spec"), where, "spec.jobTemplate.spec", required=True)
    if job_spec.get("manualSelector") is True:
        raise where.error("spec.jobTemplate.spec.manualSelector", "not supported in a CronJob's jobTemplate")
    # Each run is a Job named NAME-<scheduled time in minutes since the epoch>; a stand-in
    # number (8 digits, stable per CronJob) keeps the name's shape and length.
    minutes = 20_000_000 + fnv32a(f"{namespace}/{name}".encode()) % 10_000_000
    job_name = f"{name}-{minutes}"
    workload = _job(
        job_spec,
        where,
        "spec.jobTemplate.spec",
        namespace,
        job_name,
        None,
        None,
        job_name=job_name,
        kind="CronJob",
        workload_name=name,
    )
    return replace(workload, uid=uid, owner=controller_of(meta))
