"""EndpointSlices and Endpoints: the pods behind each Service, with their readiness.

:func:`desired_slices` is the decision, pure. For a Service with a selector, every pod
of its namespace that matches, has an address and has not finished becomes an endpoint:
``conditions.ready`` (the pod is Ready and not terminating; always true with
``publishNotReadyAddresses``), ``serving`` (Ready, terminating or not),
``terminating``, ``nodeName``, ``targetRef``, and ``hostname`` for a pod whose
``subdomain`` is the Service (StatefulSets). Ports come from the Service's ports with
``targetPort`` resolved on each pod (a named one by container port name and protocol,
native sidecars included); pods whose ports resolve differently go to different slices,
at most 100 endpoints a slice (the real controller's default). Slices are labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by`` and owned by
the Service. The legacy ``Endpoints`` object of the same name lists ready addresses in
``addresses`` and the others in ``notReadyAddresses``.

Services without a selector are left alone (their endpoints are the user's), as are
slices another manager made. The nodes route ClusterIPs from these slices, like kube-proxy
(:mod:`lab.cni.services`), so a pod that is not ready gets no Service traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
ENDPOINTS_MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_MANAGED_BY = "endpoint-controller"
MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager's --max-endpoints-per-slice default


def _target(pod: Mapping[str, Any], target: Any, protocol: str) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for c in list(spec.get("containers") or []) + sidecars:
        for p in c.get("ports") or []:
            if p.get("name") == target and str(p.get("protocol") or "TCP").upper() == protocol:
                return int(p["containerPort"])
    return None


def selected_pods(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    selector = (service.get("spec") or {}).get("selector") or {}
    out = []
    for pod in pods:
        status = pod.get("status") or {}
        labels = pod["metadata"].get("labels") or {}
        if not status.get("podIP") or C.is_finished(pod) or (pod.get("spec") or {}).get("hostNetwork"):
            continue
        if all(labels.get(k) == str(v) for k, v in selector.items()):
            out.append(pod)
    return sorted(out, key=lambda p: p["metadata"]["name"])


def _endpoint(service: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    terminating = C.being_deleted(pod)
    ready_pod = C.phase(pod) == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: dict[str, Any] = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {
            "ready": publish or (ready_pod and not terminating),
            "serving": publish or ready_pod,
            "terminating": terminating,
        },
        "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
    }
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        endpoint["hostname"] = spec["hostname"]
    return endpoint


def _port_groups(
    service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]
) -> dict[tuple[Any, ...], list[Mapping[str, Any]]]:
    """Pods grouped by how the Service's ports resolve on them: ((name, protocol, port), ...)."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for pod in pods:
        resolved = []
        for port in (service.get("spec") or {}).get("ports") or []:
            protocol = str(port.get("protocol") or "TCP").upper()
            number = _target(pod, port.get("targetPort", port.get("port")), protocol)
            if number is not None:
                resolved.append((port.get("name") or "", protocol, number))
        groups.setdefault(tuple(resolved), []).append(pod)
    return groups


def desired_slices(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The slices the Service should have (without names: :func:`assign_names` reuses them)."""
    meta = service["metadata"]
    labels = {
        **{k: v for k, v in (meta.get("labels") or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)},
        SERVICE_NAME_LABEL: meta["name"],
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    groups = _port_groups(service, selected_pods(service, pods))
    slices = []
    for ports, members in sorted(groups.items(), key=lambda kv: kv[0]):
        for start in range(0, len(members), MAX_ENDPOINTS_PER_SLICE):
            chunk = members[start : start + MAX_ENDPOINTS_PER_SLICE]
            slices.append(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "labels": labels,
                        "generateName": f"{meta['name']}-",
                        "ownerReferences": [C.controller_ref(service, R.SERVICES)],
                    },
                    "addressType": "IPv4",
                    "endpoints": [_endpoint(service, p) for p in chunk],
                    "ports": [{"name": n, "protocol": proto, "port": num} for n, proto, num in ports],
                }
            )
    if not slices:  # a Service with no endpoints still has one (empty) slice
        slices.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "labels": labels,
                    "generateName": f"{meta['name']}-",
                    "ownerReferences": [C.controller_ref(service, R.SERVICES)],
                },
                "addressType": "IPv4",
                "endpoints": [],
                "ports": [],
            }
        )
    return slices


def desired_endpoints(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The legacy Endpoints object (terminating pods left out, as the endpoints controller does)."""
    meta = service["metadata"]
    subsets = []
    for ports, members in sorted(_port_groups(service, selected_pods(service, pods)).items(), key=lambda kv: kv[0]):
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for pod in members:
            if C.being_deleted(pod):
                continue
            ep = _endpoint(service, pod)
            address: dict[str, Any] = {"ip": ep["addresses"][0], "targetRef": ep["targetRef"]}
            if "nodeName" in ep:
                address["nodeName"] = ep["nodeName"]
            if "hostname" in ep:
                address["hostname"] = ep["hostname"]
            (ready if ep["conditions"]["ready"] else not_ready).append(address)
        if not ports or not (ready or not_ready):
            continue
        subset: dict[str, Any] = {"ports": [{"name": n, "port": num, "protocol": proto} for n, proto, num in ports]}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    labels = {**(meta.get("labels") or {}), ENDPOINTS_MANAGED_BY_LABEL: ENDPOINTS_MANAGED_BY}
    out: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "labels": labels},
    }
    if subsets:
        out["subsets"] = subsets
    return out


def _content(slice_: Mapping[str, Any]) -> tuple[Any, ...]:
    return (slice_.get("endpoints") or [], slice_.get("ports") or [], slice_["metadata"].get("labels") or {})


def managed(service: Mapping[str, Any]) -> bool:
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


class EndpointSliceController:
    name = "endpointslices"
    watches = frozenset({"services", "pods", R.ENDPOINTSLICES.key, "endpoints"})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.SERVICES)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == "services":
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.resource in (R.ENDPOINTSLICES.key, "endpoints"):
            labels = event.obj["metadata"].get("labels") or {}
            name = labels.get(SERVICE_NAME_LABEL) if event.resource != "endpoints" else event.obj["metadata"]["name"]
            return [(event.namespace, name)] if name else []
        keys = []
        for svc in self.client.list(R.SERVICES, event.namespace):
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue
            for obj in (event.obj, event.previous):
                labels = (obj or {}).get("metadata", {}).get("labels") or {}
                if obj is not None and all(labels.get(k) == str(v) for k, v in selector.items()):
                    keys.append((event.namespace, svc["metadata"]["name"]))
                    break
        return keys

    async def sync(self, key: Key) -> float | None:
        namespace, name = key
        service = self.client.get(R.SERVICES, namespace, name)
        existing = [
            s
            for s in self.client.list(R.ENDPOINTSLICES, namespace)
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]
        endpoints = self.client.get(R.ENDPOINTS, namespace, name)
        ours = (
            endpoints is not None
            and (endpoints["metadata"].get("labels") or {}).get(ENDPOINTS_MANAGED_BY_LABEL) == ENDPOINTS_MANAGED_BY
        )
        if service is None or not managed(service) or C.being_deleted(service):
            for s in existing:
                self.client.delete(R.ENDPOINTSLICES, s)
            if ours and endpoints is not None:
                self.client.delete(R.ENDPOINTS, endpoints)
            return None
        pods = self.client.list(R.PODS, namespace)
        await self._sync_slices(service, desired_slices(service, pods), existing)
        want = desired_endpoints(service, pods)
        if endpoints is None:
            await self.client.create(R.ENDPOINTS, namespace, want)
        elif ours and (endpoints.get("subsets"), endpoints["metadata"].get("labels")) != (
            want.get("subsets"),
            want["metadata"]["labels"],
        ):
            body = {**endpoints, "metadata": {**endpoints["metadata"], "labels": want["metadata"]["labels"]}}
            body.pop("subsets", None)
            if "subsets" in want:
                body["subsets"] = want["subsets"]
            await self.client.update(R.ENDPOINTS, body)
        return None

    async def _sync_slices(
        self, service: Mapping[str, Any], want: list[dict[str, Any]], existing: list[dict[str, Any]]
    ) -> None:
        namespace = service["metadata"]["namespace"]
        unmatched = sorted(existing, key=lambda s: s["metadata"]["name"])
        todo = []
        for slice_ in want:  # keep a slice that already has this content
            same = next((s for s in unmatched if _content(s) == _content(slice_)), None)
            if same is not None:
                unmatched.remove(same)
            else:
                todo.append(slice_)
        for slice_ in todo:  # else reuse an existing slice's name
            if unmatched:
                old = unmatched.pop(0)
                body = {**slice_, "metadata": {**old["metadata"], "labels": slice_["metadata"]["labels"]}}
                await self.client.update(R.ENDPOINTSLICES, body)
            else:
                await self.client.create(R.ENDPOINTSLICES, namespace, slice_)
        for old in unmatched:
            self.client.delete(R.ENDPOINTSLICES, old)
