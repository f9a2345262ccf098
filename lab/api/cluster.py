"""What the lab's API does with objects beyond storing them: the control plane's duties.

Defaults, validation, admission, pod lifecycle (the node starts and stops pods and
reports their status back), ownerReferences garbage collection, namespace deletion,
Service clusterIP allocation, and keeping the node's CNI in sync with every change to
namespaces, pods and NetworkPolicies (coalescing bursts into one recompile).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import logging
import secrets
import threading
from collections.abc import Coroutine
from typing import Any

from lab.api import errors, resources, schema, validation
from lab.api.errors import ApiError
from lab.api.resources import ResourceType
from lab.runtime import Fault, LogNotFound, NodeRuntime, StatusReporter
from lab.store import AlreadyExists, Conflict, NotFound, Obj, Store, now_rfc3339

log = logging.getLogger("lab.api")

NODE_NAME = "krl-node"  # the one node pods are bound to (lab.node.NODE_NAME)
SYNC_DEBOUNCE_SECONDS = 0.05  # coalesce a burst of changes (kubectl apply of 200 pods)
STOP_WAIT_SECONDS = 30.0  # how long a delete waits for a pod's start to finish first
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# changes to these recompile the node's CNI (services: ClusterIP routing, like kube-proxy)
NETWORK_RESOURCES = {"namespaces", "pods", "services", resources.NETWORKPOLICIES.key}


class NetworkSync:
    """Calls node.sync_network after changes; at most one run at a time, bursts coalesced."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def kick(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def idle(self) -> bool:
        return not self._dirty and (self._task is None or self._task.done())

    async def wait_idle(self) -> None:
        while not self.idle:
            if self._task is not None:
                await asyncio.shield(self._task)

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(SYNC_DEBOUNCE_SECONDS)
            self._dirty = False
            store = self._cluster.store
            namespaces, _ = store.list("namespaces")
            pods, _ = store.list("pods")
            policies, _ = store.list(resources.NETWORKPOLICIES.key)
            services, _ = store.list("services")
            try:
                await self._cluster.node.sync_network(namespaces, pods, policies, services=services)
                self.runs += 1
            except Exception:  # the node logs details; the API must keep serving
                log.exception("sync_network failed")


class Cluster:
    """The store plus the node: every API write goes through here."""

    def __init__(self, store: Store, node: NodeRuntime) -> None:
        self.store = store
        self.node = node
        self.network = NetworkSync(self)
        self.faults: list[Fault] = []
        self._pod_tasks: dict[str, asyncio.Task[None]] = {}  # pod uid -> run_pod task
        self._background: set[asyncio.Task[None]] = set()
        self._cluster_ips: set[str] = set()
        self._deleting: set[str] = set()  # uids of pods being stopped

    async def start(self) -> None:
        for name in DEFAULT_NAMESPACES:
            if self.store.find("namespaces", "", name) is None:
                self.store.create(
                    "namespaces",
                    "",
                    self._default("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                )
                self.store.create(
                    "serviceaccounts",
                    name,
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                )
        self.network.kick()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        for task in list(self._background) + list(self._pod_tasks.values()):
            task.cancel()
        await asyncio.gather(*self._background, *self._pod_tasks.values(), return_exceptions=True)

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

    def _default(self, key: str, obj: Obj) -> Obj:
        if key == "pods":
            _default_pod(obj)
        elif key == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta = obj["metadata"]
            if meta.get("labels") is None:
                meta["labels"] = {}
            name = meta.get("name")
            if isinstance(meta["labels"], dict) and isinstance(name, str) and name:
                meta["labels"]["kubernetes.io/metadata.name"] = name  # a missing name: validation says so
        elif key == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or ():
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            obj.setdefault("status", {"loadBalancer": {}})
        elif key == resources.NETWORKPOLICIES.key:
            spec = obj.setdefault("spec", {})
            if not spec.get("policyTypes"):
                spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
            for direction in ("ingress", "egress"):
                for rule in spec.get(direction) or ():
                    for port in rule.get("ports") or ():
                        port.setdefault("protocol", "TCP")
        return obj

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        causes = validation.VALIDATORS[rt.key](obj)
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
        ):
            meta.pop(key, None)
        self._default(rt.key, obj)
        self._validate(rt, obj)
        if rt.key == "pods":
            obj = await self._admit_pod(obj, namespace, dry_run=dry_run, warnings=warnings)
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            obj["spec"]["nodeName"] = obj["spec"].get("nodeName") or NODE_NAME
        if self.store.find(rt.key, namespace, meta["name"]) is not None:
            raise errors.already_exists(rt.plural, meta["name"], rt.group)
        if rt.key == "services":
            self._allocate_cluster_ip(obj)
        if dry_run:
            if rt.key == "services" and obj["spec"].get("clusterIP") not in (None, "None"):
                self._cluster_ips.discard(obj["spec"]["clusterIP"])
            return obj
        try:
            stored = self.store.create(rt.key, namespace, obj)
        except AlreadyExists:
            raise errors.already_exists(rt.plural, meta["name"], rt.group) from None
        if rt.key == "pods":
            self._start_pod(stored)
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
            _default_pod(mutated)
            self._validate(resources.PODS, mutated)
        return mutated

    # -- pods and the node -------------------------------------------------------------------
    def _reporter(self, namespace: str, name: str, uid: str) -> StatusReporter:
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()

        def report(status: dict[str, Any]) -> None:
            if threading.get_ident() != loop_thread:
                # the store is single-threaded: a report from a worker thread hops onto the loop
                loop.call_soon_threadsafe(report, copy.deepcopy(dict(status)))
                return
            current = self.store.find("pods", namespace, name)
            if current is None or current["metadata"].get("uid") != uid:
                return
            old_status = current.get("status") or {}
            updated = {**current, "status": copy.deepcopy(dict(status))}
            self.store.replace("pods", namespace, name, updated)
            if old_status.get("podIP") != status.get("podIP") or old_status.get("phase") != status.get("phase"):
                self.network.kick()

        return report

    def _start_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        report = self._reporter(meta["namespace"], meta["name"], uid)

        async def run() -> None:
            try:
                await self.node.run_pod(copy.deepcopy(pod), report)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("run_pod %s/%s failed", meta["namespace"], meta["name"])
                report(
                    {
                        "phase": "Failed",
                        "reason": "LabNodeError",
                        "message": str(exc)[:1000],
                        "startTime": now_rfc3339(),
                    }
                )

        self._pod_tasks[uid] = self.spawn(run())

    async def _stop_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        task = self._pod_tasks.pop(meta.get("uid", ""), None)
        if task is not None and not task.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), STOP_WAIT_SECONDS)
        try:
            await self.node.stop_pod(meta["namespace"], meta["name"])
        except Exception:
            log.exception("stop_pod %s/%s failed", meta["namespace"], meta["name"])

    def read_log(self, pod: Obj, container: str) -> bytes:
        meta = pod["metadata"]
        try:
            return self.node.read_log(meta["namespace"], meta["name"], container)
        except LogNotFound:
            raise errors.bad_request(
                f'container "{container}" in pod "{meta["name"]}" is waiting to start: ContainerCreating'
            ) from None

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
                _default_container(c, ephemeral=True)
            causes = validation.ephemeral_update_causes(old_eph, want)
            if causes:
                raise errors.invalid("Pod", name, causes)
            for c in want:
                if c.get("name") not in {o.get("name") for o in old_eph}:
                    new_eph.append(c)
            new = {**old, "spec": {**old["spec"], "ephemeralContainers": old_eph + new_eph}}
            self._validate(rt, new)
        else:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
            if rt.key == "namespaces":
                obj["spec"] = old.get("spec")
            self._default(rt.key, obj) if rt.key != "namespaces" else _keep_ns_label(obj)
            if rt.key == "namespaces":
                obj["status"] = old.get("status")
            if rt.key == "pods":
                obj["spec"].setdefault("nodeName", old["spec"].get("nodeName"))
                old_spec = dict(old["spec"].items())
                causes = validation.pod_update_causes(old_spec, obj["spec"])
                causes = causes or validation.pod_causes(obj)
                if causes:
                    raise errors.invalid("Pod", name, causes)
            else:
                self._validate(rt, obj)
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
            new = obj
        if dry_run:
            return new
        bump = subresource == "" and rt.key not in ("namespaces", "configmaps") and new.get("spec") != old.get("spec")
        try:
            stored = self.store.replace(rt.key, namespace, name, new, expected_rv=expected_rv, bump_generation=bump)
        except Conflict:
            raise errors.conflict(rt.plural, name, rt.group) from None
        if rt.key == "pods" and new_eph:
            report = self._reporter(namespace, name, stored["metadata"]["uid"])
            for container in new_eph:
                self.spawn(self._add_ephemeral(stored, container, report))
        if rt.key in NETWORK_RESOURCES and (
            rt.key != "pods" or old["metadata"].get("labels") != stored["metadata"].get("labels")
        ):
            self.network.kick()
        return stored

    async def _add_ephemeral(self, pod: Obj, container: dict[str, Any], report: StatusReporter) -> None:
        try:
            await self.node.add_ephemeral_container(pod, container, report)
        except Exception:
            log.exception("add_ephemeral_container %s failed", container.get("name"))

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
        if propagation == "Foreground":
            for dep_key, dep in self.store.dependents(obj["metadata"]["uid"]):
                await self._delete_dependent(dep_key, dep, "Foreground")
        return await self._delete_one(rt.key, obj, propagation)

    async def _delete_one(self, key: str, obj: Obj, propagation: str) -> Obj:
        meta = obj["metadata"]
        if key == "pods":
            if meta.get("uid") in self._deleting:
                return obj  # another request is already stopping this pod
            self._deleting.add(meta.get("uid"))
            try:
                return await self._delete_pod(obj, propagation)
            finally:
                self._deleting.discard(meta.get("uid"))
        return self._remove(key, obj, propagation)

    async def _delete_pod(self, obj: Obj, propagation: str) -> Obj:
        """Mark the pod terminating (watchers see it), have the node stop it, then remove it."""
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        marked = {**obj, "metadata": {**meta, "deletionTimestamp": now_rfc3339(), "deletionGracePeriodSeconds": 0}}
        try:
            self.store.replace("pods", namespace, name, marked)
        except NotFound:
            return obj
        await self._stop_pod(obj)
        return self._remove("pods", obj, propagation)

    def _remove(self, key: str, obj: Obj, propagation: str) -> Obj:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        if key == "services" and obj.get("spec", {}).get("clusterIP"):
            self._cluster_ips.discard(obj["spec"]["clusterIP"])
        try:
            gone = self.store.delete(key, namespace, name)
        except NotFound:
            return obj
        if key in NETWORK_RESOURCES:
            self.network.kick()
        self._collect(gone["metadata"]["uid"], propagation)
        return gone

    def _collect(self, owner_uid: str, propagation: str) -> None:
        """Garbage collection: dependents of a deleted owner, as the policy says."""
        dependents = self.store.dependents(owner_uid)
        if not dependents:
            return
        if propagation == "Orphan":
            for key, dep in dependents:
                meta = dep["metadata"]
                refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != owner_uid]
                self.store.replace(
                    key, meta.get("namespace", ""), meta["name"], {**dep, "metadata": {**meta, "ownerReferences": refs}}
                )
            return
        for key, dep in dependents:
            self.spawn(self._delete_dependent(key, dep, "Background"))

    async def _delete_dependent(self, key: str, dep: Obj, propagation: str) -> None:
        meta = dep["metadata"]
        current = self.store.find(key, meta.get("namespace", ""), meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        # an object with another owner still alive survives, minus the dangling references
        live = [
            r
            for r in current["metadata"].get("ownerReferences") or ()
            if self.store.by_uid(r.get("uid", "")) is not None
        ]
        if live:
            self.store.replace(
                key,
                meta.get("namespace", ""),
                meta["name"],
                {**current, "metadata": {**current["metadata"], "ownerReferences": live}},
            )
            return
        if propagation == "Foreground":
            for dep_key, sub in self.store.dependents(meta["uid"]):
                await self._delete_dependent(dep_key, sub, "Foreground")
        await self._delete_one(key, current, propagation)

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
            for rt in resources.RESOURCES:
                if not rt.namespaced:
                    continue
                items, _ = self.store.list(rt.key, name)
                await asyncio.gather(
                    *(self._delete_one(rt.key, o, "Background") for o in items), return_exceptions=True
                )
            with contextlib.suppress(NotFound):
                self.store.delete("namespaces", "", name)
            self.network.kick()

        self.spawn(finish())
        return stored

    # -- faults ------------------------------------------------------------------------------
    async def set_faults(self, faults: list[Fault]) -> None:
        await self.node.set_faults(list(faults))
        self.faults = list(faults)

    # -- status for `lab status` and `lab up` --------------------------------------------------
    def summary(self) -> dict[str, Any]:
        pods, _ = self.store.list("pods")
        phases: dict[str, int] = {}
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase", "Pending")
            phases[phase] = phases.get(phase, 0) + 1
        namespaces, _ = self.store.list("namespaces")
        policies, _ = self.store.list(resources.NETWORKPOLICIES.key)
        return {
            "pods": len(pods),
            "phases": phases,
            "namespaces": len(namespaces),
            "networkPolicies": len(policies),
            "networkSynced": self.network.idle,
            "networkSyncs": self.network.runs,
            "faults": [f.to_dict() for f in self.faults],
        }


def _keep_ns_label(ns: Obj) -> None:
    labels = ns["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = ns["metadata"]["name"]


def _default_container(c: dict[str, Any], *, ephemeral: bool = False) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
    if not ephemeral:
        c.setdefault("resources", {})
        for port in c.get("ports") or ():
            port.setdefault("protocol", "TCP")


def _default_pod(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        spec.setdefault("serviceAccountName", spec.get("serviceAccount"))
        spec.setdefault("serviceAccount", spec.get("serviceAccountName"))
    else:
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    for field_name in ("initContainers", "containers"):
        for c in spec.get(field_name) or ():
            if isinstance(c, dict):
                _default_container(c)
    for c in spec.get("ephemeralContainers") or ():
        if isinstance(c, dict):
            _default_container(c, ephemeral=True)
