"""What a sweep creates in the cluster: rendered (pure) and applied/cleaned up (I/O).

:func:`render_manifests` is pure: a :class:`~orchestrator.sweep.plan.Plan` and
:class:`SweepMeta` in, plain Kubernetes dicts out; ``--dry-run`` prints exactly these.
The I/O half (:func:`apply_owners`, :func:`cleanup_sweep`, :func:`cleanup_leftovers`)
goes through :mod:`orchestrator.cluster.kube` only.

Every object carries ``app.kubernetes.io/managed-by: kubereach`` and the sweep id, and
every name contains the sweep id, so two sweeps of one cluster never touch each other's
objects. One ConfigMap per touched namespace is the sweep's owner: probe pods carry a
controller ownerReference to it (so deleting it collects them, and no ReplicaSet or
StatefulSet whose selector their labels match ever adopts them).

Ephemeral containers cannot be removed from a pod once added: a sweep adds one per pod
(one per source UID on pods with intra-pod rules), plus one on pods whose mismatches are
re-probed after ``--settle``. Each runs the agent with a hard ``deadline_s``, so it
exits on its own even if the CLI is killed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.sweep.plan import MANAGED_BY_LABEL, MANAGED_BY_VALUE, SWEEP_ID_LABEL, AgentPlan, Plan, SourceMode
from probe.schema import ENV_CONTAINER, ENV_NAMESPACE, ENV_POD, Method
from probe.spec import Spec, Target, encode_spec

ROLE_LABEL = "kubereach.io/role"
SOURCE_ANNOTATION = "kubereach.io/source"
AGENT_CONTAINER = "agent"
# Startup allowance on top of an agent's own deadline: pulling the agent image and
# starting a container takes seconds on a warm node, up to a minute on a cold one.
START_GRACE_S = 60
# Probe pod limits: the agent holds a few thousand sockets at most and no state.
POD_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
OWNER_UID_PLACEHOLDER = "<assigned by the API server>"


@dataclass(frozen=True, slots=True)
class SweepMeta:
    sweep_id: str  # 8 lowercase hex characters, e.g. "3f2a9c1e"
    agent_image: str
    source_mode: SourceMode = SourceMode.EPHEMERAL
    method: Method = Method.CONNECT
    timeout_s: float = 1.0
    retries: int = 1
    concurrency: int = 256  # probes in flight inside one agent
    rate_per_s: float = 0.0  # new probes per second inside one agent, 0 = unlimited
    deadline_s: float = 300.0  # the whole sweep
    round: int = 0  # 0 first pass, 1 the settle re-probe
    started_at: str = ""  # ISO time, recorded on the owner object


def owner_name(sweep_id: str) -> str:
    return f"kubereach-sweep-{sweep_id}"


def sweep_labels(sweep_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, SWEEP_ID_LABEL: sweep_id}


def container_name(meta: SweepMeta, agent: AgentPlan) -> str:
    """``kr-<sweep>-<n>`` (``-r<n>`` for the re-probe round): a DNS label, unique per pod."""
    prefix = "r" if meta.round else ""
    return f"kr-{meta.sweep_id}-{prefix}{agent.index}"


def probe_pod_name(meta: SweepMeta, agent: AgentPlan) -> str:
    digest = hashlib.sha256(agent.identity.key.encode()).hexdigest()[:6]
    base = agent.identity.pod[:36].rstrip("-.")
    prefix = "r" if meta.round else ""
    return f"kr-{meta.sweep_id}-{prefix}{base}-{digest}"


def agent_deadline_s(meta: SweepMeta, agent: AgentPlan) -> float:
    """How long one agent may run: enough waves of probes at the worst case (every
    attempt times out), the rate limit, plus a margin; never past the sweep deadline."""
    n = len(agent.jobs)
    waves = math.ceil(n / max(1, meta.concurrency))
    worst = waves * meta.timeout_s * (meta.retries + 1)
    if meta.rate_per_s > 0:
        worst += n / meta.rate_per_s
    return float(min(meta.deadline_s, math.ceil(worst + 5)))


def build_spec(meta: SweepMeta, agent: AgentPlan) -> dict[str, Any]:
    """The probe spec (the wire form of :class:`probe.spec.Spec`) for one agent."""
    targets = tuple(
        Target(j.id, j.address, j.port, j.protocol, j.method, meta.timeout_s, meta.retries) for j in agent.jobs
    )
    return Spec(
        f"{meta.sweep_id}/{agent.identity.key}/{meta.round}",
        agent_deadline_s(meta, agent),
        meta.concurrency,
        meta.rate_per_s,
        meta.timeout_s,
        meta.retries,
        targets,
    ).to_document()


def _security_context(meta: SweepMeta, uid: int) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if meta.method is Method.SYN:
        caps["add"] = ["NET_RAW"]
    return {
        "runAsUser": uid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": caps,
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(name: str) -> list[dict[str, Any]]:
    return [
        {"name": ENV_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": ENV_POD, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": ENV_CONTAINER, "value": name},
    ]


def ephemeral_container(meta: SweepMeta, agent: AgentPlan) -> dict[str, Any]:
    name = container_name(meta, agent)
    return {
        "name": name,
        "image": meta.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["kubereach-probe", "run", "--spec", encode_spec(build_spec(meta, agent))],
        "env": _env(name),
        "securityContext": _security_context(meta, agent.identity.run_as_user),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "stdin": False,
        "tty": False,
    }


def owner_configmap(meta: SweepMeta, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": owner_name(meta.sweep_id),
            "namespace": namespace,
            "labels": {**sweep_labels(meta.sweep_id), ROLE_LABEL: "owner"},
        },
        "data": {
            "sweep-id": meta.sweep_id,
            "started-at": meta.started_at,
            "source-mode": str(meta.source_mode),
            "note": "Owner of this kubereach sweep's probe pods; `kubereach cleanup` removes it.",
        },
    }


def probe_pod(meta: SweepMeta, agent: AgentPlan, owner_uid: str = OWNER_UID_PLACEHOLDER) -> dict[str, Any]:
    """A never-Ready probe pod with the source's labels, owned by the sweep's ConfigMap."""
    name = probe_pod_name(meta, agent)
    deadline = agent_deadline_s(meta, agent)
    container = {
        "name": AGENT_CONTAINER,
        "image": meta.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["kubereach-probe", "run", "--spec", encode_spec(build_spec(meta, agent))],
        "env": _env(AGENT_CONTAINER),
        "securityContext": _security_context(meta, agent.identity.run_as_user),
        "resources": POD_RESOURCES,
        # Never Ready, so no Service ever routes to a pod that wears a workload's labels.
        "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 3600, "failureThreshold": 1},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    labels = {**dict(agent.labels), **sweep_labels(meta.sweep_id), ROLE_LABEL: "probe"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": agent.identity.namespace,
            "labels": labels,
            "annotations": {SOURCE_ANNOTATION: agent.identity.pod_key},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": owner_name(meta.sweep_id),
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": int(deadline + START_GRACE_S),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        },
    }


@dataclass(frozen=True, slots=True)
class EphemeralPatch:
    namespace: str
    pod: str
    container: dict[str, Any]

    def as_document(self) -> dict[str, Any]:
        """How ``--dry-run`` shows it: the strategic-merge patch of pods/ephemeralcontainers."""
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.pod, "namespace": self.namespace},
            "spec": {"ephemeralContainers": [self.container]},
        }


@dataclass(frozen=True, slots=True)
class Manifests:
    owners: tuple[dict[str, Any], ...]
    pods: tuple[dict[str, Any], ...]
    ephemeral: tuple[EphemeralPatch, ...]

    def documents(self) -> list[dict[str, Any]]:
        return [*self.owners, *self.pods, *(p.as_document() for p in self.ephemeral)]


def render_manifests(plan: Plan, meta: SweepMeta) -> Manifests:
    owners = tuple(owner_configmap(meta, ns) for ns in plan.namespaces)
    if meta.source_mode is SourceMode.POD:
        return Manifests(owners, tuple(probe_pod(meta, a) for a in plan.agents), ())
    return Manifests(
        owners,
        (),
        tuple(EphemeralPatch(a.identity.namespace, a.identity.pod, ephemeral_container(meta, a)) for a in plan.agents),
    )


def render_yaml(manifests: Manifests) -> str:
    import yaml

    docs = manifests.documents()
    header = (
        "# kubereach sweep --dry-run: every object the sweep would create.\n"
        "# Pod documents with only spec.ephemeralContainers are PATCHes of the existing pod's\n"
        "# ephemeralcontainers subresource (ephemeral containers cannot be removed later).\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


# -- I/O -----------------------------------------------------------------------------------


def apply_owners(kube: Any, meta: SweepMeta, namespaces: Iterable[str]) -> dict[str, str]:
    """Create the owner ConfigMap in each namespace; returns namespace -> its uid."""
    uids: dict[str, str] = {}
    for ns in namespaces:
        created = kube.create_configmap(ns, owner_configmap(meta, ns))
        uids[ns] = str((created.get("metadata") or {}).get("uid") or "")
    return uids


def cleanup_sweep(
    kube: Any, sweep_id: str, namespaces: Iterable[str], pods: Iterable[tuple[str, str]] = ()
) -> list[str]:
    """Delete this sweep's probe pods and owner objects; returns what was deleted.

    Known pods are deleted by name, then each namespace is listed by the sweep-id label,
    so a pod whose create was still in flight when the sweep was interrupted goes too.
    """
    from orchestrator.cluster.kube import NotFound

    selector = f"{SWEEP_ID_LABEL}={sweep_id}"
    namespaces = list(namespaces)
    targets: set[tuple[str, str, str | None]] = {("pod", ns, name) for ns, name in pods}
    for ns in namespaces:
        targets.update(
            ("pod", ns, (p.get("metadata") or {}).get("name")) for p in kube.list_pods(ns, label_selector=selector)
        )
    deleted = []
    for _, ns, name in sorted(targets):
        try:
            kube.delete_pod(ns, name)
            deleted.append(f"pod {ns}/{name}")
        except NotFound:
            pass
    for ns in namespaces:
        try:
            kube.delete_configmap(ns, owner_name(sweep_id))
            deleted.append(f"configmap {ns}/{owner_name(sweep_id)}")
        except NotFound:
            pass
    return deleted


@dataclass(frozen=True, slots=True)
class Refusal:
    """Where RBAC kept ``kubereach cleanup`` from finishing, and what is left there."""

    namespace: str
    message: str  # the RBAC error: verb, resource, scope, the manifest that grants it
    remains: tuple[str, ...] = ()  # objects known to be left; empty: unknown (listing was refused)


@dataclass
class CleanupReport:
    scope: str  # "all namespaces", "3 namespaces", "namespace shop"
    deleted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _managed(kube: Any, namespace: str | None) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every kubereach-managed pod and ConfigMap in scope;
    pods first, so the owners go last."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
    found = []
    for kind, lister in (("pod", kube.list_pods), ("configmap", kube.list_configmaps)):
        for obj in lister(namespace, label_selector=selector):
            meta = obj.get("metadata") or {}
            found.append((kind, str(meta.get("namespace") or namespace or ""), str(meta.get("name") or "")))
    return found


def cleanup_leftovers(kube: Any, namespaces: Sequence[str] | None, *, all_requested: bool = False) -> CleanupReport:
    """Delete every kubereach-managed pod and ConfigMap, of any sweep.

    ``namespaces`` None (no ``-n``, or ``-A``): every namespace the user may list — one
    cluster-wide LIST per kind when RBAC allows it; else the namespaces listed one by
    one; if listing namespaces is refused too, the context's namespace (and a note
    saying so), unless ``all_requested`` (``-A``), which then is a usage error. A
    namespace where RBAC refuses a list or a delete becomes a :class:`Refusal` naming
    what is left there; unreachable clusters raise :class:`ClusterError`.
    """
    from orchestrator.cluster.kube import NotFound, RbacRefused

    found: list[tuple[str, str, str]] = []
    refused: list[Refusal] = []

    def per_namespace(names: Sequence[str]) -> None:
        for ns in dict.fromkeys(names):
            try:
                found.extend(_managed(kube, ns))
            except RbacRefused as exc:
                refused.append(Refusal(ns, str(exc)))

    if namespaces is not None:
        report = CleanupReport(", ".join(namespaces))
        per_namespace(namespaces)
    else:
        report = CleanupReport("all namespaces")
        try:
            found.extend(_managed(kube, None))
        except RbacRefused:  # no cluster-wide list: namespace by namespace
            try:
                names = [str((n.get("metadata") or {}).get("name")) for n in kube.list_namespaces()]
            except RbacRefused as exc:
                if all_requested:
                    raise RbacRefused(
                        f"-A needs listing pods and ConfigMaps in all namespaces, or listing the namespaces: {exc}"
                    ) from exc
                names = [kube.info.namespace]
                report.scope = f"namespace {kube.info.namespace}"
                report.notes.append(
                    f"RBAC lets you list neither namespaces nor pods in all namespaces: only the context's "
                    f"namespace {kube.info.namespace} was cleaned (pass -n NS for others)"
                )
            else:
                report.scope = f"{len(names)} namespaces"
            per_namespace(names)
    left: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for kind, ns, name in found:
        deleter = kube.delete_pod if kind == "pod" else kube.delete_configmap
        try:
            deleter(ns, name)
            report.deleted.append(f"{kind} {ns}/{name}")
        except NotFound:
            pass
        except RbacRefused as exc:
            left.setdefault(ns, []).append(f"{kind} {ns}/{name}")
            problems.setdefault(ns, str(exc))
    refused += [Refusal(ns, problems[ns], tuple(objs)) for ns, objs in left.items()]
    report.refused = sorted(refused, key=lambda r: r.namespace)
    return report
