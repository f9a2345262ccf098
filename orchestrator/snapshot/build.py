"""Decoded objects -> one :class:`Snapshot`: kinds, workloads, ownership, namespaces, IPs.

Owns assembling a snapshot from objects in input order, for files and live discovery
alike:

1. unpack ``List``/``PodList`` items; skip and count unknown kinds, known kinds of
   another API group (cluster policy tiers of an API kubereach does not model, such as
   EKS's ``networking.k8s.aws`` ClusterNetworkPolicy, also explained in ``Snapshot.notes``),
   and documents that are not Kubernetes objects at all (no
   ``kind`` and no ``metadata``: a Helm ``values.yaml``, a ``Chart.yaml``, a
   ``kustomization.yaml``), by file name;
2. give namespaced objects without ``metadata.namespace`` the default namespace
   (``-n``, else the kubeconfig context's, else ``default``: asked once, only if needed);
3. validate metadata as the API server does (:mod:`orchestrator.snapshot.validation`)
   and build each object (:mod:`orchestrator.snapshot.objects`,
   :mod:`orchestrator.snapshot.workloads`);
4. fold what a workload in the same input owns into it (ownerReferences, or a
   ReplicaSet's ``NAME-HASH`` naming): pods, a Deployment's ReplicaSets, a CronJob's
   Jobs; nothing is counted twice;
5. turn workloads into pods (:mod:`orchestrator.snapshot.replicas`): one representative
   each, or every replica with ``LoadOptions.replicas`` (folded pods are the replicas
   when there are any);
6. imply the namespaces objects reference but the input does not declare, and give pods
   without IPs synthetic ones when asked (``LoadOptions.synthetic_ips``).

What it did is recorded in ``Snapshot.load`` for the load summary.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

from orchestrator.errors import ManifestError
from orchestrator.model.selectors import InvalidSpec
from orchestrator.snapshot.clusterpolicy import KINDS as CLUSTER_POLICY_KINDS
from orchestrator.snapshot.clusterpolicy import Collector
from orchestrator.snapshot.objects import BUILDERS, _list, _type, _Where
from orchestrator.snapshot.owners import (
    POD_TEMPLATE_HASH,
    OwnerRef,
    controller_of,
    deployment_of_replicaset,
    workload_of,
)
from orchestrator.snapshot.replicas import replica_pods, representative
from orchestrator.snapshot.types import (
    NAMESPACE_NAME_LABEL,
    SYNTHETIC_POD_RANGE,
    LoadOptions,
    LoadReport,
    Namespace,
    NamespaceName,
    NetworkPolicyObject,
    Node,
    Origin,
    Pod,
    Service,
    Snapshot,
    WorkloadRef,
)
from orchestrator.snapshot.validation import metadata_problem, pod_spec_problem, service_problem
from orchestrator.snapshot.workloads import WORKLOAD_KINDS, Workload, parse_workload

# kind -> the apiVersion the snapshot understands it under; the same kind in another API
# group (e.g. Calico's crd.projectcalico.org/v1 NetworkPolicy) is a different object.
KNOWN_KINDS = {
    "Namespace": "v1",
    "Node": "v1",
    "Pod": "v1",
    "Service": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    **WORKLOAD_KINDS,
}
CLUSTER_SCOPED = frozenset({"Namespace", "Node"})
# A DaemonSet expanded without Node objects runs on this one assumed node, labelled like
# a plain Linux node so the common nodeSelector kubernetes.io/os=linux matches.
ASSUMED_NODE = Node(
    "node-1", {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
)


@dataclass
class _PodEntry:
    pod: Pod
    owner: OwnerRef | None
    template_hash: str | None


@dataclass
class _Reader:
    """The objects read so far, in input order, and what reading them did."""

    options: LoadOptions
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    policies: dict[str, NetworkPolicyObject] = field(default_factory=dict)
    pods: dict[str, _PodEntry] = field(default_factory=dict)
    workloads: dict[tuple[str, str, str], Workload] = field(default_factory=dict)
    order: list[tuple[str, Any]] = field(default_factory=list)  # ("pod", key) | ("workload", key)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_documents: dict[str, int] = field(default_factory=dict)
    cluster_policies: Collector = field(default_factory=Collector)  # the tiers (clusterpolicy.py)
    defaulted: int = 0
    default: tuple[str, str] | None = None

    # -- 1-3: reading --------------------------------------------------------------------
    def expand(self, obj: Any, origin: Origin) -> Iterator[tuple[Mapping[str, Any], _Where]]:
        """One object, or the items of a ``List``/``PodList`` (whose items may omit kind and apiVersion)."""
        where = _Where(origin)
        if not isinstance(obj, Mapping):
            raise where.error(None, f"expected a Kubernetes object (a mapping with kind), got {_type(obj)}")
        if "kind" not in obj and "metadata" not in obj:
            # not a Kubernetes object at all: values.yaml, Chart.yaml, kustomization.yaml, ...
            name = PurePath(origin.source).name or origin.source
            self.skipped_documents[name] = self.skipped_documents.get(name, 0) + 1
            return
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            raise where.error("kind", "required, a string such as Pod or NetworkPolicy")
        if kind.endswith("List") and "items" in obj:
            item_kind = kind[:-4] or None
            api_version = obj.get("apiVersion")
            for i, item in enumerate(_list(obj.get("items"), where, "items")):
                iw = _Where(origin, f"items[{i}]")
                if not isinstance(item, Mapping):
                    raise iw.error(None, f"expected a Kubernetes object, got {_type(item)}")
                if item_kind and "kind" not in item:
                    item = {**item, "kind": item_kind, "apiVersion": item.get("apiVersion", api_version)}
                if not isinstance(item.get("kind"), str) or not item["kind"]:
                    raise iw.error("kind", "required, a string such as Pod or NetworkPolicy")
                if item["kind"].endswith("List") and "items" in item:
                    raise iw.error("kind", "nested lists are not supported")
                yield item, iw
            return
        yield obj, where

    def add(self, obj: Mapping[str, Any], where: _Where) -> None:
        kind = obj["kind"]
        api_version = obj.get("apiVersion")
        if api_version is not None and not isinstance(api_version, str):
            raise where.error("apiVersion", f"expected a string such as v1, got {api_version!r}")
        if kind in CLUSTER_POLICY_KINDS:  # chosen by API group and version, never by kind alone
            where.named(kind)
            if api_version is None:
                raise where.error("apiVersion", f"required for {kind}: its API group and version say which API it is")
            try:
                self.cluster_policies.add(obj, api_version, where.origin, where.named)
            except InvalidSpec as exc:
                raise where.error(exc.field, exc.message) from None
            return
        if kind not in KNOWN_KINDS:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            return
        if api_version != KNOWN_KINDS[kind]:
            if api_version is None:
                raise where.error("apiVersion", f"required for {kind} ({KNOWN_KINDS[kind]})")
            label = f"{kind} ({api_version})"
            self.skipped[label] = self.skipped.get(label, 0) + 1
            return
        obj = self._with_namespace(kind, obj)
        meta = obj.get("metadata")
        where.named(kind)  # until metadata.name is known: at least say what it is
        if isinstance(meta, Mapping):
            name, namespace = meta.get("name"), meta.get("namespace")
            if isinstance(name, str) and name:
                where.named(f"{kind} {name}" if kind in CLUSTER_SCOPED else f"{kind} {namespace}/{name}")
            problem = metadata_problem(kind, meta)
            if problem is not None:
                raise where.error(*problem)
        if kind in WORKLOAD_KINDS:
            w = parse_workload(obj, where)
            self._store(self.workloads, w.key, w, where, f"{kind} {w.namespace}/{w.name}")
            self.order.append(("workload", w.key))
            return
        value = BUILDERS[kind](obj, where)
        if isinstance(value, Namespace):
            self._store(self.namespaces, value.name, value, where, f"Namespace {value.name}")
        elif isinstance(value, Node):
            self._store(self.nodes, value.name, value, where, f"Node {value.name}")
        elif isinstance(value, Service):
            problem = service_problem(obj.get("spec") or {})
            if problem is not None:
                raise where.error(*problem)
            self._store(
                self.services,
                f"{value.namespace}/{value.name}",
                value,
                where,
                f"Service {value.namespace}/{value.name}",
            )
        elif isinstance(value, NetworkPolicyObject):
            self._store(self.policies, value.key, value, where, f"NetworkPolicy {value.key}")
        else:
            problem = pod_spec_problem(obj.get("spec") or {}, "spec")
            if problem is not None:
                raise where.error(*problem)
            assert isinstance(meta, Mapping)  # the builder required it
            labels = meta.get("labels") or {}
            entry = _PodEntry(
                replace(value, workload=workload_of(meta)), controller_of(meta), labels.get(POD_TEMPLATE_HASH)
            )
            self._store(self.pods, value.key, entry, where, f"Pod {value.key}")
            self.order.append(("pod", value.key))

    @staticmethod
    def _store(store: dict[Any, Any], key: Any, value: Any, where: _Where, label: str) -> None:
        if key in store:
            first = store[key].pod.origin if isinstance(store[key], _PodEntry) else store[key].origin
            raise where.error("metadata.name", f"duplicate {label} (first defined in {first})")
        store[key] = value

    def _with_namespace(self, kind: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """``obj`` with the default namespace when it has none (as kubectl sets it before sending)."""
        meta = obj.get("metadata")
        if kind in CLUSTER_SCOPED or not isinstance(meta, Mapping) or meta.get("namespace") not in (None, ""):
            return obj
        if self.default is None:
            opts = self.options
            if opts.namespace:
                self.default = (opts.namespace, "-n")
            elif opts.namespace_fallback is not None:
                self.default = opts.namespace_fallback()
            else:
                self.default = ("default", "default")
        self.defaulted += 1
        return {**obj, "metadata": {**meta, "namespace": self.default[0]}}

    # -- 4-6: assembling ---------------------------------------------------------------------
    def _top(self, namespace: str, owner: OwnerRef | None, template_hash: str | None) -> Workload | None:
        """The outermost workload of the input that owns an object with this controller."""
        found = None
        seen = 0
        while owner is not None and seen < 8:  # owner chains are short; a cycle must not hang
            seen += 1
            w = self.workloads.get((namespace, owner.kind, owner.name))
            if w is None and found is None and owner.kind == "ReplicaSet":
                # the ReplicaSet is not in the input: its Deployment may be (NAME-HASH naming)
                deployment = deployment_of_replicaset(owner.name, template_hash)
                return self.workloads.get((namespace, "Deployment", deployment)) if deployment else None
            if w is None or (owner.uid and w.uid and owner.uid != w.uid):
                break  # not in the input, or another object of that name (a uid tells them apart)
            found, owner = w, w.owner
        return found

    def finish(self) -> Snapshot:
        opts = self.options
        members: dict[tuple[str, str, str], list[Pod]] = {}
        folded_workloads = {k for k, w in self.workloads.items() if self._top(w.namespace, w.owner, None) is not None}
        folded_pods = set()
        for key, entry in self.pods.items():
            top = self._top(entry.pod.namespace, entry.owner, entry.template_hash)
            if top is not None:
                folded_pods.add(key)
                members.setdefault(top.key, []).append(entry.pod)
        nodes = list(self.nodes.values())
        assumed = 0
        needs_nodes = any(
            w.kind == "DaemonSet" and k not in folded_workloads and not members.get(k)
            for k, w in self.workloads.items()
        )
        if opts.replicas and needs_nodes and not nodes:
            nodes, assumed = [ASSUMED_NODE], 1
        pods: list[Pod] = []
        counts: dict[str, int] = {}
        for what, key in self.order:
            if what == "pod":
                if key not in folded_pods:
                    pods.append(self.pods[key].pod)
                continue
            if key in folded_workloads:
                continue
            w = self.workloads[key]
            counts[w.kind] = counts.get(w.kind, 0) + 1
            ref = WorkloadRef(w.kind, w.name)
            owned = sorted(members.get(key, ()), key=lambda p: p.name)
            if opts.replicas and owned:
                pods.extend(replace(p, workload=ref) for p in owned)
            elif opts.replicas:
                pods.extend(replica_pods(w, nodes))
            else:
                rep = representative(w)
                ips = next((p.ips for p in owned if p.ips), ())
                pods.append(replace(rep, ips=ips) if ips else rep)
        _check_unique(pods)
        namespaces = dict(self.namespaces)
        implied = []
        for ns in (
            *(p.namespace for p in pods),
            *(s.namespace for s in self.services.values()),
            *(p.namespace for p in self.policies.values()),
            *(w.namespace for w in self.workloads.values()),
        ):
            if ns not in namespaces:
                namespaces[ns] = Namespace(NamespaceName(ns), {NAMESPACE_NAME_LABEL: ns})
                implied.append(ns)
        synthetic = 0
        if opts.synthetic_ips:
            pods, synthetic = _with_synthetic_ips(pods)
        report = LoadReport(
            workloads=counts,
            replicas=opts.replicas,
            folded_pods=len(folded_pods),
            folded_workloads=len(folded_workloads),
            skipped_documents=dict(self.skipped_documents),
            implied_namespaces=tuple(implied),
            defaulted_objects=self.defaulted,
            default_namespace=self.default[0] if self.default else None,
            default_namespace_source=self.default[1] if self.default else "",
            synthetic_ips=synthetic,
            assumed_nodes=assumed,
        )
        return Snapshot(
            namespaces,
            tuple(pods),
            tuple(self.services.values()),
            tuple(self.policies.values()),
            dict(self.skipped) | self.cluster_policies.skipped,
            tuple(self.nodes.values()),
            report,
            tuple(self.cluster_policies.policies.values()),
            self.cluster_policies.notes(),
        )


def _check_unique(pods: list[Pod]) -> None:
    """Two pods with one name (a Deployment and a StatefulSet both named ``web``, both shown
    as ``ns/web``; a bare pod named like a workload) cannot be told apart in the output."""
    seen: dict[str, Pod] = {}
    for pod in pods:
        first = seen.get(pod.key)
        if first is None:
            seen[pod.key] = pod
            continue

        def what(p: Pod) -> str:
            return f"{p.workload.kind} {p.namespace}/{p.workload.name}" if p.workload else f"Pod {p.key}"

        hint = (
            " (or use --replicas: then each shows as its own pods)"
            if pod.representative or first.representative
            else ""
        )
        origin = pod.origin or Origin("input")
        raise ManifestError(
            f"{what(pod)} and {what(first)} (defined in {first.origin}) would both be shown as {pod.key}; "
            f"rename one{hint}",
            file=origin.source,
            document=origin.document,
            obj=what(pod),
            field="metadata.name",
        )


def _with_synthetic_ips(pods: list[Pod]) -> tuple[list[Pod], int]:
    """Pods without IPs get the next free address of SYNTHETIC_POD_RANGE (skipping .0 and
    .255 for readability, and any address a pod of the input already has)."""
    network = ipaddress.IPv4Network(SYNTHETIC_POD_RANGE)
    used = {ip for p in pods for ip in p.ips}
    candidates = (str(ip) for ip in network.hosts() if ip.packed[-1] not in (0, 255) and str(ip) not in used)
    out, count = [], 0
    for pod in pods:
        if pod.ips:
            out.append(pod)
            continue
        ip = next(candidates, None)
        if ip is None:
            raise ManifestError(
                f"more pods without an IP than {SYNTHETIC_POD_RANGE} has addresses: give them status.podIP, "
                "or predict without --replicas"
            )
        out.append(replace(pod, ips=(ip,), synthetic_ip=True))
        count += 1
    return out, count


def snapshot_from_objects(objects: Iterable[tuple[Any, Origin]], options: LoadOptions | None = None) -> Snapshot:
    """Build a snapshot from decoded Kubernetes objects, each with where it came from."""
    reader = _Reader(options or LoadOptions())
    for raw, origin in objects:
        for obj, where in reader.expand(raw, origin):
            reader.add(obj, where)
    return reader.finish()
