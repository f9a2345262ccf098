"""Live discovery: read the cluster into a :class:`~orchestrator.snapshot.types.Snapshot`.

The only module that reads Kubernetes objects for the sweep (and for ``predict`` with
cluster flags). It asks :mod:`orchestrator.cluster.kube` for Namespaces, Pods, Services and
NetworkPolicies of the selected namespaces (``-n``, repeatable) or of all of them
(``-A``), and hands the API-shaped dicts to the same loader the YAML path uses, so the
live snapshot feeds exactly the same model as ``predict -f``.

kubereach's own workloads (labelled ``app.kubernetes.io/managed-by=kubereach``: probe
pods of any sweep, the webhook) are dropped here: they are never sources or targets.

Cluster-wide tiers (``tiers=True``: ``predict`` and ``explain``; the sweep keeps to
NetworkPolicies until its comparison knows the ``undefined`` and ``unknown`` verdicts) are
cluster-scoped, so they are read whatever namespaces are selected:
``ClusterNetworkPolicy`` of ``policy.networking.k8s.io`` (``v1beta1``, else ``v1alpha2``),
``AdminNetworkPolicy`` and ``BaselineAdminNetworkPolicy`` (``v1alpha1``), by group and
version (EKS's ``networking.k8s.aws`` kind of the same name is another API and never read),
and Nodes only when a policy has ``nodes`` peers. A 404 means the CRD is not installed: the
snapshot's notes say so once and discovery goes on; so does an RBAC refusal (a namespaced
Role cannot grant cluster-scoped reads), saying the tiers are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL, Origin, Snapshot
from orchestrator.sweep.plan import is_kubereach_owned

TIERS_GROUP = "policy.networking.k8s.io"
# (kind, resource, served versions to try, preferred first): each is one CRD upstream
TIER_RESOURCES = (
    ("ClusterNetworkPolicy", "clusternetworkpolicies", ("v1beta1", "v1alpha2")),
    ("AdminNetworkPolicy", "adminnetworkpolicies", ("v1alpha1",)),
    ("BaselineAdminNetworkPolicy", "baselineadminnetworkpolicies", ("v1alpha1",)),
)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(((obj.get("metadata") or {}).get("labels")) or {})


def fetch_objects(
    kube: Any, namespaces: Iterable[str] | None, notes: list[str] | None = None, *, tiers: bool = False
) -> list[dict[str, Any]]:
    """Every object the snapshot needs, as API-shaped dicts (kind and apiVersion set).

    ``namespaces`` None means all namespaces: one cluster-wide LIST per kind. Otherwise
    a GET per namespace and a LIST per kind per namespace. Every LIST is read in pages
    (``limit``/``continue``), so a namespace of thousands of pods never becomes one
    response of hundreds of megabytes. With ``tiers``, the cluster-scoped tiers are listed
    once either way; what could not be read is told in ``notes``.
    """
    from orchestrator.cluster.kube import ApiError, NotFound, RbacRefused

    objects: list[dict[str, Any]] = []
    if namespaces is None:
        objects += kube.list_namespaces()
        objects += kube.list_pods(None)
        objects += kube.list_services(None)
        objects += kube.list_network_policies(None)
    else:
        for ns in dict.fromkeys(namespaces):
            try:
                objects.append(kube.get_namespace(ns))
            except NotFound as exc:
                raise UsageError(f"namespace {ns!r} not found (context {kube.info.context})") from exc
            except RbacRefused:
                # A namespaced Role cannot grant reading Namespace objects: go on with the
                # implied kubernetes.io/metadata.name label only (namespaceSelectors on other
                # labels then cannot match, which the snapshot records as the namespace's labels).
                objects.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {NAMESPACE_NAME_LABEL: ns}},
                    }
                )
            except ApiError:
                raise
            objects += kube.list_pods(ns)
            objects += kube.list_services(ns)
            objects += kube.list_network_policies(ns)
    if tiers:
        objects += fetch_tiers(kube, notes if notes is not None else [])
    return [o for o in objects if not (o.get("kind") == "Pod" and is_kubereach_owned(_labels(o)))]


def fetch_tiers(kube: Any, notes: list[str]) -> list[dict[str, Any]]:
    """The cluster policies of every installed tier CRD, and the Nodes if their peers need them."""
    from orchestrator.cluster.kube import NotFound, RbacRefused

    objects: list[dict[str, Any]] = []
    missing, refused = [], []
    for kind, resource, versions in TIER_RESOURCES:
        for version in versions:
            try:
                objects += kube.list_cluster_custom(TIERS_GROUP, version, resource, kind)
                break
            except NotFound:
                continue  # this version is not served: try the next, else the CRD is not installed
            except RbacRefused:  # cluster-scoped reads refused (a namespaced Role cannot grant them)
                refused.append(kind)
                break
        else:
            missing.append(kind)
    if missing:
        notes.append(f"{_words(missing)} ({TIERS_GROUP}) not installed in this cluster")
    if refused:
        notes.append(
            f"cannot read {_words(refused)} ({TIERS_GROUP}): RBAC refused the cluster-wide list "
            "(the ClusterRole kubereach-sweep in manifests/rbac.yaml grants it); those tiers are left out"
        )
    if any(_has_nodes_peer(o) for o in objects):
        try:
            objects += kube.list_nodes()
        except RbacRefused:
            notes.append(
                "cannot read Nodes: RBAC refused it (manifests/rbac.yaml grants it); "
                "nodes peers of cluster policies cannot be evaluated"
            )
    return objects


def _words(kinds: list[str]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]


def _has_nodes_peer(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec")
    rules = spec.get("egress") if isinstance(spec, dict) else None
    return isinstance(rules, list) and any(
        isinstance(rule, dict)
        and isinstance(rule.get("to"), list)
        and any(isinstance(peer, dict) and "nodes" in peer for peer in rule["to"])
        for rule in rules
    )


def discover(kube: Any, namespaces: Iterable[str] | None, *, tiers: bool = False) -> Snapshot:
    """The live snapshot of ``namespaces`` (None: all) through ``kube``; ``tiers``: with the
    cluster-wide policy tiers (and the snapshot's notes on what could not be read)."""
    from orchestrator.snapshot import snapshot_from_objects

    origin = Origin(f"context {kube.info.context}")
    notes: list[str] = []
    objects = fetch_objects(kube, namespaces, notes, tiers=tiers)
    snapshot = snapshot_from_objects((obj, origin) for obj in objects)
    return replace(snapshot, notes=snapshot.notes + tuple(notes)) if notes else snapshot
