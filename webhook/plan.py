"""From a pod object to its intra-pod enforcement plan (pure: plain dicts in, values out).

The pod of an AdmissionReview becomes a snapshot :class:`~orchestrator.snapshot.types.Pod`
through the same translation ``predict`` and the sweep use
(:func:`orchestrator.snapshot.build.snapshot_from_objects` with the object builders of
:mod:`orchestrator.snapshot.objects`), tolerant of what an admission request
legitimately lacks (a ``metadata.name`` when ``generateName`` is set, the namespace,
``kind``); then :func:`orchestrator.intrapod.pod_intrapod` decodes and validates the
rules and finds what cannot be enforced, as it does for every other caller.

The plan is what the init container needs (the rules in canonical form, each
container's UID and declared ports) plus every blocking problem (the webhook denies
the pod: a rule that silently does nothing is worse than a pod that does not start)
and every warning (the pod is admitted; the API server shows them to the client). No
I/O, no clocks, no Kubernetes client.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ManifestError
from orchestrator.intrapod import pod_intrapod
from orchestrator.snapshot.build import snapshot_from_objects
from orchestrator.snapshot.types import Origin, Pod
from probe.intrapod_rules import ANNOTATION as RULES_ANNOTATION
from probe.intrapod_rules import INIT_CONTAINER_NAME as INIT_CONTAINER_NAME  # re-exported for admission
from probe.intrapod_rules import IntraPodRules

ASSIGN_UIDS_ANNOTATION = "intrapod.kubereach.io/assign-uids"
ASSIGNED_UIDS_ANNOTATION = "intrapod.kubereach.io/assigned-uids"
INJECTED_ANNOTATION = "intrapod.kubereach.io/injected"

# First UID handed out by assign-uids: above the 1000-range that base images use for
# their default users, below the 65534 "nobody", and easy to spot in `ps` output.
FIRST_ASSIGNED_UID = 10000
ADMISSION_ORIGIN = "admission request"


@dataclass(frozen=True, slots=True)
class EnforcementPlan:
    """What enforcing one pod's rules needs, or why it cannot be done.

    ``assigned`` lists the UIDs assign-uids chose (container, uid), in spec order;
    ``config`` is the init container's config document (None when there are
    ``problems``); ``warnings`` are findings that do not block (the pod is admitted).
    """

    pod_ref: str
    problems: tuple[str, ...]
    config: Mapping[str, Any] | None = None
    assigned: tuple[tuple[str, int], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def config_json(self) -> str:
        """The config as canonical JSON (sorted keys, no spaces): the same rules give the same text."""
        if self.config is None:
            raise ValueError("a plan with problems has no config")
        return canonical_json(self.config)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config_json)

    @property
    def assigned_annotation(self) -> str:
        """``app=10000,sidecar=10001``."""
        return ",".join(f"{name}={uid}" for name, uid in self.assigned)


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(text: str) -> str:
    """Short content hash of the init container's config, recorded in the injected annotation."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def pod_ref(pod: Mapping[str, Any], namespace: str | None = None) -> str:
    meta = pod.get("metadata") or {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<unnamed>")
    ns = namespace or meta.get("namespace") or "<namespace>"
    return f"{str(ns)[:63]}/{str(name)[:253]}"


def annotations_of(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


def wants_enforcement(pod: Mapping[str, Any]) -> bool:
    return RULES_ANNOTATION in annotations_of(pod)


def wants_assigned_uids(pod: Mapping[str, Any]) -> bool:
    value = annotations_of(pod).get(ASSIGN_UIDS_ANNOTATION, "")
    return str(value).strip().lower() == "true"


def _is_sidecar(c: Mapping[str, Any]) -> bool:
    return c.get("restartPolicy") == "Always"


def _run_as_user(c: Any) -> Any:
    sc = c.get("securityContext") if isinstance(c, Mapping) else None
    return sc.get("runAsUser") if isinstance(sc, Mapping) else None


def plan_uid_assignment(pod: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """Distinct UIDs from 10000 up for every container and native sidecar without its own
    ``runAsUser``.

    A pod-level ``runAsUser`` is shared by every container that does not override it,
    so it cannot tell containers apart: assign-uids gives each such container its own.
    UIDs already used anywhere in the pod (pod level, containers, init containers) are
    skipped.
    """
    spec = pod.get("spec") or {}
    used: set[int] = set()
    pod_uid = _int_or_none(_run_as_user(spec))
    if pod_uid is not None:
        used.add(pod_uid)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            uid = _int_or_none(_run_as_user(c))
            if uid is not None:
                used.add(uid)
    out: list[tuple[str, int]] = []
    candidate = FIRST_ASSIGNED_UID
    running = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    running += [c for c in spec.get("initContainers") or [] if isinstance(c, Mapping) and _is_sidecar(c)]
    for c in running:
        if _run_as_user(c) is not None:
            continue
        while candidate in used:
            candidate += 1
        out.append((str(c.get("name")), candidate))
        used.add(candidate)
    return tuple(out)


def admitted_pod(
    pod: Mapping[str, Any], namespace: str | None = None, assigned: Mapping[str, int] | None = None
) -> Pod:
    """The snapshot value of an admission request's pod (ManifestError for a malformed one).

    An admission request may lack what a stored pod has: ``metadata.name`` (with
    ``generateName``, the name is chosen after admission: ``web-xxxxx`` stands for it),
    ``metadata.namespace`` (the request's), ``kind`` and ``apiVersion``. ``assigned``
    UIDs (assign-uids) are applied first, as the patch will apply them.
    """
    obj = dict(pod)
    obj["kind"], obj["apiVersion"] = "Pod", "v1"
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    if not meta.get("name") and isinstance(meta.get("generateName"), str) and meta["generateName"]:
        # a valid stand-in: the API server appends five random characters after admission
        meta["name"] = f"{meta['generateName']}xxxxx"
    if namespace:
        meta["namespace"] = namespace
    obj["metadata"] = meta
    if assigned and isinstance(obj.get("spec"), Mapping):
        spec = obj["spec"] = copy.deepcopy(dict(obj["spec"]))
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict) and c.get("name") in assigned:
                    sc = c.get("securityContext")
                    c["securityContext"] = {**(sc if isinstance(sc, Mapping) else {}), "runAsUser": assigned[c["name"]]}
    return snapshot_from_objects([(obj, Origin(ADMISSION_ORIGIN))]).pods[0]


def plan_pod(pod: Mapping[str, Any], *, namespace: str | None = None) -> EnforcementPlan | None:
    """The plan for a pod carrying the rules annotation; None for a pod without it.

    Every problem is collected (YAML, rule fields, unknown containers or ports, missing,
    root or shared UIDs, NET_ADMIN or privileged containers and native sidecars, shared
    ports, host network), not just the first.
    """
    if not wants_enforcement(pod):
        return None
    ref = pod_ref(pod, namespace)
    assigned = plan_uid_assignment(pod) if wants_assigned_uids(pod) else ()
    try:
        value = admitted_pod(pod, namespace, dict(assigned))
    except ManifestError as exc:
        where = f"{exc.field}: " if exc.field else ""
        return EnforcementPlan(ref, (f"{where}{exc.detail}",), None, assigned)
    found = pod_intrapod(value)
    assert found is not None  # the annotation is there
    problems = [f"{RULES_ANNOTATION}: {p}" for p in found.problems]
    problems += [f"{f.code}: {f.message}" for f in found.findings if f.blocking]
    warnings = tuple(f"{f.code}: {f.message}" for f in found.findings if not f.blocking)
    if problems or found.rules is None:
        return EnforcementPlan(ref, tuple(problems), None, assigned, warnings)
    config = {
        "rules": rules_document(found.rules),
        "containers": [
            {"name": c.name, "uid": c.uid, "ports": [str(p) for p in c.ports]} for c in found.containers if c.in_rules
        ],
    }
    return EnforcementPlan(ref, (), config, assigned, warnings)


def rules_document(rules: IntraPodRules) -> dict[str, Any]:
    """The rules in canonical annotation form: named ports resolved to ``8080/TCP``.

    The init container then needs no port names, and two spellings of the same rules
    give the same config (and the same hash).
    """
    out: list[dict[str, Any]] = []
    for r in rules.rules:
        item: dict[str, Any] = {"from": r.source, "to": r.target, "action": str(r.action)}
        if r.ports is not None:
            item["ports"] = [str(p) for p in r.ports]
        out.append(item)
    return {"default": str(rules.default), "rules": out}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None
