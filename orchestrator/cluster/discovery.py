"""Live discovery: read the cluster into a :class:`~orchestrator.snapshot.types.Snapshot`.

The only module that reads Kubernetes objects for the sweep (and for ``predict`` with
cluster flags). It asks :mod:`orchestrator.cluster.kube` for Namespaces, Pods, Services and
NetworkPolicies of the selected namespaces (``-n``, repeatable) or of all of them
(``-A``), and hands the API-shaped dicts to the same loader the YAML path uses, so the
live snapshot feeds exactly the same model as ``predict -f``.

kubereach's own workloads (labelled ``app.kubernetes.io/managed-by=kubereach``: probe
pods of any sweep, the webhook) are dropped here: they are never sources or targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL, Origin, Snapshot
from orchestrator.sweep.plan import is_kubereach_owned


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(((obj.get("metadata") or {}).get("labels")) or {})


def fetch_objects(kube: Any, namespaces: Iterable[str] | None) -> list[dict[str, Any]]:
    """Every object the snapshot needs, as API-shaped dicts (kind and apiVersion set).

    ``namespaces`` None means all namespaces: one cluster-wide LIST per kind. Otherwise
    a GET per namespace and a LIST per kind per namespace. Every LIST is read in pages
    (``limit``/``continue``), so a namespace of thousands of pods never becomes one
    response of hundreds of megabytes.
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
    return [o for o in objects if not (o.get("kind") == "Pod" and is_kubereach_owned(_labels(o)))]


def discover(kube: Any, namespaces: Iterable[str] | None) -> Snapshot:
    """The live snapshot of ``namespaces`` (None: all) through ``kube``."""
    from orchestrator.snapshot import snapshot_from_objects

    origin = Origin(f"context {kube.info.context}")
    return snapshot_from_objects((obj, origin) for obj in fetch_objects(kube, namespaces))
