"""The cluster snapshot: plain typed data from YAML files or a live cluster.

Public API:

- ``load_manifests(paths: Sequence[str]) -> Snapshot``: files or directories
  (recursive ``*.yaml``/``*.yml``/``*.json``), multi-document, ``kind: List`` and
  ``kubectl get -o yaml`` output. Bad input raises
  :class:`orchestrator.errors.ManifestError` naming the file, the document (from 1),
  the object (``Kind namespace/name``) and the field path. Unknown kinds (and known
  kinds of another API group, e.g. Calico's NetworkPolicy) are skipped and counted
  in ``Snapshot.skipped_kinds``; cluster policies of an API kubereach does not model
  (e.g. EKS's ``networking.k8s.aws`` ClusterNetworkPolicy) are counted there too and
  explained in ``Snapshot.notes``.
- ``snapshot_from_objects(objects: Iterable[tuple[dict, Origin]], options=None) -> Snapshot``:
  the same from already-decoded Kubernetes JSON dicts, exactly as the API server returns
  them (camelCase; ``status``, ``managedFields``, ``ownerReferences``,
  ``ephemeralContainers`` tolerated; typed lists like ``PodList`` whose items omit
  kind are accepted).
- ``LoadOptions``: ``replicas`` (every declared replica instead of one representative
  per workload), ``synthetic_ips``, ``namespace`` / ``namespace_fallback`` (for objects
  without a namespace). ``load_manifests`` gives synthetic IPs by default.
- The value types of :mod:`orchestrator.snapshot.types`.

Workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
ReplicationController) become the pods they run; pods and ReplicaSets/Jobs owned by a
workload of the same input are folded into it. Namespaces always carry
``kubernetes.io/metadata.name``; a namespace referenced but not declared is added with
only that label (and listed in ``Snapshot.load``). Objects are validated as the API
server would (names, labels, selectors, templates); NetworkPolicies with the model's
compiler, so every policy in a Snapshot compiles.
Cluster policy tiers (``ClusterNetworkPolicy`` v1alpha2/v1beta1, ``AdminNetworkPolicy``
and ``BaselineAdminNetworkPolicy`` v1alpha1, see ``clusterpolicy.py``) are validated as
their CRDs validate them and kept in one canonical form in ``Snapshot.cluster_policies``;
Nodes are also what their ``nodes`` peers match.
"""

from typing import TYPE_CHECKING, Any

from orchestrator.snapshot.types import (
    NAMESPACE_NAME_LABEL,
    SYNTHETIC_POD_RANGE,
    ClusterPolicyObject,
    Container,
    ContainerPort,
    LoadOptions,
    LoadReport,
    Namespace,
    NetworkPolicyObject,
    Node,
    Origin,
    Pod,
    Service,
    ServicePort,
    Snapshot,
    Tier,
    WorkloadRef,
)

if TYPE_CHECKING:  # imported on first use at run time (see __getattr__)
    from orchestrator.snapshot.build import snapshot_from_objects
    from orchestrator.snapshot.loader import load_manifests, manifest_files

__all__ = [
    "NAMESPACE_NAME_LABEL",
    "ClusterPolicyObject",
    "SYNTHETIC_POD_RANGE",
    "Container",
    "ContainerPort",
    "LoadOptions",
    "LoadReport",
    "Namespace",
    "NetworkPolicyObject",
    "Node",
    "Origin",
    "Pod",
    "Service",
    "ServicePort",
    "Snapshot",
    "Tier",
    "WorkloadRef",
    "load_manifests",
    "manifest_files",
    "snapshot_from_objects",
]


def __getattr__(name: str) -> Any:
    # The loaders are imported on first use: the pure model imports the snapshot types,
    # and the loaders import the model (policies are validated with its compiler), so
    # importing them here eagerly would make a cycle; it also keeps PyYAML and file
    # handling out of anything that only needs the types.
    if name in ("load_manifests", "manifest_files"):
        from orchestrator.snapshot import loader

        return getattr(loader, name)
    if name == "snapshot_from_objects":
        from orchestrator.snapshot import build

        return build.snapshot_from_objects
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
