"""What the lab's API does with objects beyond storing them: the control plane's duties.

Defaults (:mod:`lab.api.defaults`), validation, admission, Service clusterIP
allocation, the ``scale`` subresource, pods on their nodes (:mod:`lab.api.kubelets`),
deletion with ownerReferences garbage collection (:mod:`lab.api.gc`), namespace
deletion, keeping every node's CNI in sync (:mod:`lab.api.network_sync`) and the
controllers (:mod:`lab.controllers`), which talk to this class as controllers talk to
an API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import logging
import secrets
from collections.abc import Coroutine, Sequence
from typing import Any

from lab.api import defaults, errors, resources, schema, settled, validation, workload_validation
from lab.api.errors import ApiError
from lab.api.gc import GarbageCollector
from lab.api.kubelets import Kubelets
from lab.api.network_sync import NETWORK_RESOURCES, NetworkSync
from lab.api.resources import ResourceType
from lab.runtime import Fault, NodeRuntime, StatusReporter
from lab.store import AlreadyExists, Conflict, NotFound, Obj, Store, new_uid, now_rfc3339

log = logging.getLogger("lab.api")

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
VALIDATORS = {**validation.VALIDATORS, **workload_validation.VALIDATORS}
# The namespace controller empties a terminating namespace on its next pass, not at once:
# `kubectl delete -f DIR` sends the DELETEs of the namespace's objects after the namespace's
# own, and on a cluster they find the objects still there (being deleted), not NotFound.
NAMESPACE_CONTROLLER_DELAY_SECONDS = 1.0
_SPEC_FREE = ("namespaces", "configmaps", "secrets", "serviceaccounts", "events")  # no generation to bump


class Cluster:
    """The store plus the nodes: every API write goes through here."""

    def __init__(self, store: Store, nodes: NodeRuntime | Sequence[NodeRuntime]) -> None:
        self.store = store
        node_list = [nodes] if not isinstance(nodes, Sequence) else list(nodes)
        self.faults: list[Fault] = []
        self._background: set[asyncio.Task[None]] = set()
        self.network = NetworkSync(store, lambda: node_list, lambda: self.faults)
        self.kubelets = Kubelets(store, node_list, spawn=self.spawn, on_network_change=self.network.kick)
        self.gc = GarbageCollector(self)
        self._cluster_ips: set[str] = set()
        from lab.controllers import ControllerManager  # controllers talk to this class

        self.controllers = ControllerManager(self)

    @property
    def node(self) -> NodeRuntime:
        """The first (control-plane) node."""
        return next(iter(self.kubelets.nodes.values()))

    async def start(self) -> None:
        self.kubelets.register()
        for name in DEFAULT_NAMESPACES:
            if self.store.find("namespaces", "", name) is None:
                ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                self.store.create("namespaces", "", defaults.apply_defaults("namespaces", ns))
                self.store.create(
                    "serviceaccounts",
                    name,
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                )
        self.controllers.start()
        self.network.kick()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        await self.controllers.stop()
        tasks = list(self._background) + self.kubelets.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- decoding and defaults -------------------------------------------------------------
    def decode(self, rt: ResourceType, body: Any, *, field_validation: str = "") -> tuple[Obj, list[str]]:
        """Type-check and prune a request body; returns (object, warnings)."""
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {rt.kind} object")
        if body.get("kind") not in (None, rt.kind) or body.get("apiVersion") not in (None, rt.api_version):
            raise errors.bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                f"API version ({rt.api_version})"
                if body.get("kind") in (None, rt.kind)
                else f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a {rt.kind}'
            )
        obj, unknown, problems = schema.decode(rt.model, body)
        if problems:
            first = problems[0]
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {first.path}: {first.message}'
            )
        unknown = [u for u in unknown if not u.startswith("metadata.managedFields")]
        if unknown and field_validation == "Strict":
            detail = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise errors.bad_request(f"strict decoding error: {detail}")
        warnings = [] if field_validation == "Ignore" else [f'unknown field "{u}"' for u in unknown]
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        obj.setdefault("metadata", {})
        return obj, warnings

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        causes = VALIDATORS[rt.key](obj)
        if causes:
            raise errors.invalid(rt.kind, obj["metadata"].get("name") or "", causes, rt.group)

    # -- create ----------------------------------------------------------------------------
    async def create(
        self, rt: ResourceType, namespace: str, obj: Obj, *, dry_run: bool = False, warnings: list[str] | None = None
    ) -> Obj:
        """Store a new object; admission warnings are appended to ``warnings``."""
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = self.store.find("namespaces", "", namespace)
            if ns is None:
                raise errors.not_found("namespaces", namespace)
            if ns.get("status", {}).get("phase") == "Terminating":
                raise errors.forbidden(
                    f'{rt.plural} "{meta.get("name", "")}" is forbidden: unable to '
                    f"create new content in namespace {namespace} because it is "
                    "being terminated"
                )
            meta["namespace"] = namespace  # admission sees where the object goes
        else:
            namespace = ""
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
            "selfLink",
            "finalizers" if rt.key == "pods" else "",
        ):
            meta.pop(key, None)
        defaults.apply_defaults(rt.key, obj)
        uid = new_uid()
        if rt.key == resources.JOBS.key and isinstance(meta.get("name"), str):
            meta["uid"] = uid
            obj = defaults.job_selector(obj)
            meta = obj["metadata"]
            meta.pop("uid")
        self._validate(rt, obj)
        if rt.key == "pods":
            obj = await self._admit_pod(obj, namespace, dry_run=dry_run, warnings=warnings)
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        if self.store.find(rt.key, namespace, meta["name"]) is not None:
            raise errors.already_exists(rt.plural, meta["name"], rt.group)
        if rt.key == "services":
            self._allocate_cluster_ip(obj)
        if dry_run:
            if rt.key == "services" and obj["spec"].get("clusterIP") not in (None, "None"):
                self._cluster_ips.discard(obj["spec"]["clusterIP"])
            return obj
        try:
            stored = self.store.create(rt.key, namespace, obj, uid=uid)
        except AlreadyExists:
            raise errors.already_exists(rt.plural, meta["name"], rt.group) from None
        if rt.key == "pods" and stored["spec"].get("nodeName"):
            self.kubelets.start(stored)
        if rt.key == "namespaces":
            # like the real control plane's service account controller
            self.store.create(
                "serviceaccounts",
                stored["metadata"]["name"],
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            )
        if rt.key in NETWORK_RESOURCES:
            self.network.kick()
        return stored

    def _allocate_cluster_ip(self, svc: Obj) -> None:
        spec = svc["spec"]
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return
        wanted = spec.get("clusterIP")
        if wanted:
            if wanted in self._cluster_ips:
                raise errors.invalid(
                    "Service",
                    svc["metadata"]["name"],
                    [
                        errors.Cause(
                            "spec.clusterIPs",
                            f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: '
                            "provided IP is already allocated",
                        )
                    ],
                )
            self._cluster_ips.add(wanted)
        else:
            for host in SERVICE_CIDR.hosts():
                candidate = str(host)
                if host.packed[-1] >= 10 and candidate not in self._cluster_ips:  # .1-.9 reserved
                    wanted = candidate
                    break
            self._cluster_ips.add(wanted)
            spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]

    async def _admit_pod(self, pod: Obj, namespace: str, *, dry_run: bool, warnings: list[str] | None = None) -> Obj:
        mutating, _ = self.store.list(resources.MUTATING_WEBHOOKS.key)
        validating, _ = self.store.list(resources.VALIDATING_WEBHOOKS.key)
        if not mutating and not validating:
            return pod
        from lab import admission  # the webhook issue's module; imported when first needed

        ns = self.store.find("namespaces", "", namespace) or {}
        try:
            outcome = await admission.admit_pod(
                pod,
                namespace_labels=dict(ns.get("metadata", {}).get("labels") or {}),
                mutating=mutating,
                validating=validating,
                operation="CREATE",
                dry_run=dry_run,
            )
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(
                500, "InternalError", f"Internal error occurred: failed calling admission webhooks: {exc}"
            ) from exc
        if warnings is not None:
            warnings.extend(outcome.warnings)
        if not outcome.allowed:
            message = outcome.message or "denied the request"
            if not message.startswith("admission webhook"):
                message = f"admission webhook denied the request: {message}"
            reason = {403: "Forbidden", 400: "BadRequest", 422: "Invalid"}.get(outcome.code, "Forbidden")
            raise ApiError(outcome.code, reason, message, kind="pods", name=pod["metadata"].get("name"))
        mutated = outcome.pod
        if mutated is not pod:
            mutated, _, problems = schema.decode("V1Pod", mutated)
            if problems:
                raise ApiError(
                    500,
                    "InternalError",
                    f"mutating webhook produced an invalid pod: {problems[0].path}: {problems[0].message}",
                )
            defaults.default_pod(mutated)
            self._validate(resources.PODS, mutated)
        return mutated

    # -- pods and their nodes ----------------------------------------------------------------
    def bind(self, pod: Obj, node_name: str) -> Obj:
        """The scheduler's binding: the pod goes to ``node_name`` and starts there."""
        return self.kubelets.bind(pod, node_name)

    def read_log(self, pod: Obj, container: str) -> bytes:
        return self.kubelets.read_log(pod, container)

    # -- update ------------------------------------------------------------------------------
    async def update(
        self, rt: ResourceType, namespace: str, name: str, obj: Obj, *, subresource: str = "", dry_run: bool = False
    ) -> Obj:
        namespace = namespace if rt.namespaced else ""
        try:
            old = self.store.get(rt.key, namespace, name)
        except NotFound:
            raise errors.not_found(rt.plural, name, rt.group) from None
        meta = obj["metadata"]
        if meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        expected_rv = meta.get("resourceVersion") or None
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "managedFields"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        new_eph: list[dict[str, Any]] = []
        if subresource == "status":
            new = {**old, "status": obj.get("status", old.get("status"))}
            if rt.key == "namespaces":
                new["status"] = old.get("status")
        elif subresource == "ephemeralcontainers":
            old_eph = old["spec"].get("ephemeralContainers") or []
            want = [copy.deepcopy(c) for c in (obj.get("spec") or {}).get("ephemeralContainers") or []]
            for c in want:
                defaults.default_container(c, ephemeral=True)
            causes = validation.ephemeral_update_causes(old_eph, want)
            if causes:
                raise errors.invalid("Pod", name, causes)
            for c in want:
                if c.get("name") not in {o.get("name") for o in old_eph}:
                    new_eph.append(c)
            new = {**old, "spec": {**old["spec"], "ephemeralContainers": old_eph + new_eph}}
            self._validate(rt, new)
        else:
            new = self._updated_object(rt, name, old, obj)
        if dry_run:
            return new
        bump = subresource == "" and rt.key not in _SPEC_FREE and new.get("spec") != old.get("spec")
        try:
            stored = self.store.replace(rt.key, namespace, name, new, expected_rv=expected_rv, bump_generation=bump)
        except Conflict:
            raise errors.conflict(rt.plural, name, rt.group) from None
        if rt.key == "pods" and new_eph:
            report = self.kubelets.reporter(namespace, name, stored["metadata"]["uid"])
            for container in new_eph:
                self.spawn(self.kubelets.add_ephemeral(stored, container, report))
        if rt.key in NETWORK_RESOURCES and (
            rt.key != "pods" or old["metadata"].get("labels") != stored["metadata"].get("labels")
        ):
            self.network.kick()
        return stored

    def _updated_object(self, rt: ResourceType, name: str, old: Obj, obj: Obj) -> Obj:
        """A whole-object update (PUT, PATCH): status kept, defaults, validation, immutables."""
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
        if old["metadata"].get("finalizers") and "finalizers" not in obj["metadata"]:
            obj["metadata"]["finalizers"] = old["metadata"]["finalizers"]
        if rt.key == "namespaces":
            obj["spec"] = old.get("spec")
            defaults.keep_namespace_label(obj)
            obj["status"] = old.get("status")
        else:
            defaults.apply_defaults(rt.key, obj)
        if rt.key == "pods":
            obj["spec"].setdefault("nodeName", old["spec"].get("nodeName"))
            causes = validation.pod_update_causes(dict(old["spec"].items()), obj["spec"])
            causes = causes or validation.pod_causes(obj)
            if causes:
                raise errors.invalid("Pod", name, causes)
            return obj
        if rt.key == resources.JOBS.key:
            obj = defaults.job_selector(obj) if not (old.get("spec") or {}).get("manualSelector") else obj
        self._validate(rt, obj)
        causes = workload_validation.update_causes(rt.key, old, obj)
        if causes:
            raise errors.invalid(rt.kind, name, causes, rt.group)
        if rt.key == "services":
            old_ip = old["spec"].get("clusterIP")
            if obj["spec"].get("clusterIP") in (None, "", old_ip):
                obj["spec"]["clusterIP"] = old_ip
                if old_ip:
                    obj["spec"]["clusterIPs"] = old["spec"].get("clusterIPs", [old_ip])
            else:
                raise errors.invalid(
                    "Service", name, [errors.Cause("spec.clusterIPs[0]", "Invalid value: field is immutable")]
                )
        return obj

    # -- scale subresource ---------------------------------------------------------------------
    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.find(rt.key, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return scale_of(rt, obj)

    async def update_scale(self, rt: ResourceType, namespace: str, name: str, scale: Any, *, dry_run: bool) -> Obj:
        """``spec.replicas`` from a Scale object (``kubectl scale``), answered with the new Scale."""
        obj = self.store.find(rt.key, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        replicas = ((scale or {}).get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise errors.bad_request("Scale: spec.replicas must be an integer")
        if replicas > workload_validation.MAX_WORKLOAD_PODS:
            limit = workload_validation.MAX_WORKLOAD_PODS
            raise errors.invalid(
                "Scale",
                name,
                [errors.Cause("spec.replicas", f"Invalid value: {replicas}: the kubereach lab runs at most {limit}")],
                "autoscaling",
            )
        if replicas < 0:
            raise errors.invalid(
                "Scale",
                name,
                [errors.Cause("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
                "autoscaling",
            )
        expected = ((scale.get("metadata") or {}).get("resourceVersion")) or None
        new = {**obj, "spec": {**obj["spec"], "replicas": replicas}}
        if dry_run:
            return scale_of(rt, new)
        try:
            stored = self.store.replace(
                rt.key, namespace, name, new, expected_rv=expected, bump_generation=new["spec"] != obj["spec"]
            )
        except Conflict:
            raise errors.conflict(rt.plural, name, rt.group) from None
        return scale_of(rt, stored)

    # -- delete ------------------------------------------------------------------------------
    async def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        namespace = namespace if rt.namespaced else ""
        obj = self.store.find(rt.key, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        if (
            uid
            and obj["metadata"].get("uid") != uid
            or resource_version
            and obj["metadata"].get("resourceVersion") != resource_version
        ):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.plural} "{name}": Precondition failed',
                kind=rt.plural,
                name=name,
                group=rt.group,
            )
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"propagationPolicy {propagation!r} is not one of Background, Foreground, Orphan")
        if dry_run:
            return obj
        if rt.key == "namespaces":
            return self._delete_namespace(obj)
        return await self.gc.delete(rt.key, obj, propagation)

    def delete_soon(self, rt: ResourceType, obj: Obj, *, propagation: str = "Background") -> None:
        """Start deleting ``obj`` and return at once (what a controller's DELETE amounts to:
        a pod is marked terminating now, its node stops it in the background)."""
        self.gc.delete_soon(rt.key, obj, propagation)

    def _delete_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        if ns.get("status", {}).get("phase") == "Terminating":
            return ns
        terminating = {
            **ns,
            "metadata": {**ns["metadata"], "deletionTimestamp": now_rfc3339()},
            "status": {"phase": "Terminating"},
        }
        stored = self.store.replace("namespaces", "", name, terminating)
        self.network.kick()

        async def finish() -> None:
            await asyncio.sleep(NAMESPACE_CONTROLLER_DELAY_SECONDS)
            for rt in resources.DELETION_ORDER:
                if not rt.namespaced:
                    continue
                items, _ = self.store.list(rt.key, name)
                await asyncio.gather(*(self.gc.delete(rt.key, o, "Background") for o in items), return_exceptions=True)
            with contextlib.suppress(NotFound):
                self.store.delete("namespaces", "", name)
            self.network.kick()

        self.spawn(finish())
        return stored

    # -- faults ------------------------------------------------------------------------------
    async def set_faults(self, faults: list[Fault]) -> None:
        """Replace the faults in force; returns once every node loaded them."""
        self.faults = list(faults)
        self.network.kick()
        await self.network.wait_idle()

    # -- status for `lab status` and `lab up` --------------------------------------------------
    def summary(self) -> dict[str, Any]:
        pods, _ = self.store.list("pods")
        phases: dict[str, int] = {}
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase", "Pending")
            phases[phase] = phases.get(phase, 0) + 1
        namespaces, _ = self.store.list("namespaces")
        policies, _ = self.store.list(resources.NETWORKPOLICIES.key)
        workloads = [
            (rt.kind, obj)
            for rt in (
                resources.DEPLOYMENTS,
                resources.STATEFULSETS,
                resources.DAEMONSETS,
                resources.REPLICASETS,
                resources.REPLICATIONCONTROLLERS,
            )
            for obj in self.store.scan(rt.key)
        ]
        coming, stuck, running = settled.waiting(pods, workloads)
        return {
            "pods": len(pods),
            "phases": phases,
            "namespaces": len(namespaces),
            "networkPolicies": len(policies),
            "nodes": [
                {"name": n.info.name, "internalIP": n.info.internal_ip, "podCIDR": n.info.pod_cidr}
                for n in self.kubelets.nodes.values()
            ],
            "networkSynced": self.network.idle and self.controllers.idle,
            "controllersIdle": self.controllers.idle,
            "podsRunning": running,
            "waiting": coming[:50],
            "waitingCount": len(coming),
            "stuck": stuck[:50],
            "stuckCount": len(stuck),
            "networkSyncs": self.network.runs,
            "faults": [f.to_dict() for f in self.faults],
        }


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale of a scalable object (what ``kubectl scale`` reads)."""
    from lab.api.selectors import selector_string

    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    if rt.key == "replicationcontrollers":
        selector = {"matchLabels": selector}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_string(selector)},
    }


__all__ = ["Cluster", "StatusReporter", "scale_of"]
