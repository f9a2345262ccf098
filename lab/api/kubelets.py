"""The API server's side of the nodes: Node objects, binding, and each pod's life on its node.

Every :class:`lab.runtime.NodeRuntime` of the pool gets a Node object (name, InternalIP,
pod CIDR, capacity, a ``Ready`` condition, the ``kubernetes.io/hostname`` label and, on
the first node, ``node-role.kubernetes.io/control-plane``). A pod runs once it is bound
to a node (``spec.nodeName``, set by the user, a DaemonSet, or the scheduler): the pod's
node starts it and reports its status back here, where it is stored. A pod bound to a
node the lab does not have stays Pending, as it would without a kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from lab.api import discovery, errors
from lab.runtime import LogNotFound, NodeInfo, NodeRuntime, StatusReporter
from lab.store import Obj, Store, now_rfc3339

log = logging.getLogger("lab.api")

STOP_WAIT_SECONDS = 30.0  # how long a delete waits for a pod's start to finish first
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTAINER_RUNTIME = "kubereach-lab://0.1.0"


def node_object(info: NodeInfo) -> Obj:
    """The Node object of one lab node, as a kubelet registers it."""
    labels = {
        "kubernetes.io/hostname": info.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }
    if info.control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
    now = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": info.name, "labels": labels},
        "spec": {"podCIDR": info.pod_cidr, "podCIDRs": [info.pod_cidr]},
        "status": {
            "capacity": dict(info.capacity),
            "allocatable": dict(info.capacity),
            "conditions": [
                condition(
                    "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
                ),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": info.internal_ip},
                {"type": "Hostname", "address": info.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": info.kernel_version,
                "osImage": info.os_image,
                "containerRuntimeVersion": CONTAINER_RUNTIME,
                "kubeletVersion": discovery.KUBERNETES_VERSION[2],
                "kubeProxyVersion": discovery.KUBERNETES_VERSION[2],
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


class Kubelets:
    """Pods on their nodes: start once bound, stop on deletion, logs and ephemeral containers."""

    def __init__(
        self,
        store: Store,
        nodes: Sequence[NodeRuntime],
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        on_network_change: Callable[[], None],
    ) -> None:
        self.store = store
        self.nodes: dict[str, NodeRuntime] = {n.info.name: n for n in nodes}
        self._spawn = spawn
        self._network_changed = on_network_change
        self._pod_tasks: dict[str, asyncio.Task[None]] = {}  # pod uid -> run_pod task

    def register(self) -> None:
        """Create the Node objects (a kubelet registering itself)."""
        for node in self.nodes.values():
            if self.store.find("nodes", "", node.info.name) is None:
                self.store.create("nodes", "", node_object(node.info))

    def node_of(self, pod: Mapping[str, Any]) -> NodeRuntime | None:
        return self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")

    def host_ip(self, node_name: str) -> str:
        node = self.nodes.get(node_name)
        return node.info.internal_ip if node is not None else ""

    # -- status reports ------------------------------------------------------------------
    def reporter(self, namespace: str, name: str, uid: str) -> StatusReporter:
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
                self._network_changed()

        return report

    # -- binding and running -------------------------------------------------------------
    def bind(self, pod: Obj, node_name: str) -> Obj:
        """Set ``spec.nodeName`` (what the scheduler's Binding does) and start the pod there."""
        meta = pod["metadata"]
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") != "PodScheduled"]
        conditions.insert(
            0, {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
        )
        bound = {
            **pod,
            "spec": {**pod["spec"], "nodeName": node_name},
            "status": {**(pod.get("status") or {}), "conditions": conditions},
        }
        stored = self.store.replace("pods", meta["namespace"], meta["name"], bound)
        self.start(stored)
        return stored

    def start(self, pod: Obj) -> None:
        """Hand a bound pod to its node (no-op for a node the lab does not have)."""
        node = self.node_of(pod)
        meta = pod["metadata"]
        uid = meta["uid"]
        if node is None or uid in self._pod_tasks:
            return
        report = self.reporter(meta["namespace"], meta["name"], uid)

        async def run() -> None:
            try:
                await node.run_pod(copy.deepcopy(pod), report)
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

        self._pod_tasks[uid] = self._spawn(run())

    async def stop(self, pod: Obj) -> None:
        meta = pod["metadata"]
        task = self._pod_tasks.pop(meta.get("uid", ""), None)
        if task is not None and not task.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), STOP_WAIT_SECONDS)
        node = self.node_of(pod)
        if node is None or task is None:
            return
        try:
            await node.stop_pod(meta["namespace"], meta["name"])
        except Exception:
            log.exception("stop_pod %s/%s failed", meta["namespace"], meta["name"])

    async def add_ephemeral(self, pod: Obj, container: dict[str, Any], report: StatusReporter) -> None:
        node = self.node_of(pod)
        if node is None:
            return
        try:
            await node.add_ephemeral_container(pod, container, report)
        except Exception:
            log.exception("add_ephemeral_container %s failed", container.get("name"))

    def read_log(self, pod: Obj, container: str) -> bytes:
        meta = pod["metadata"]
        node = self.node_of(pod)
        try:
            if node is None:
                raise LogNotFound(meta["name"])
            return node.read_log(meta["namespace"], meta["name"], container)
        except LogNotFound:
            raise errors.bad_request(
                f'container "{container}" in pod "{meta["name"]}" is waiting to start: ContainerCreating'
            ) from None

    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._pod_tasks.values())
