"""An in-memory node pool for API tests: fake IPs, pods Running at once, canned logs.

Runs nothing in the kernel, so API tests need neither root nor network namespaces. The
daemon can load it too (``nodeFactory: fake_node:FakePool`` with tests/lab on
PYTHONPATH) to test ``lab up``/``down`` as real processes.

What it imitates of a real node: addresses from the node's pod CIDR; readiness (a
container whose ``readinessProbe`` port is not one of its declared ports is never
ready; :meth:`FakeNode.set_ready` flips a pod); pods of run-to-completion pods
(``restartPolicy`` Never/OnFailure) end a moment after starting, with the status a
trailing ``exit N`` in their command gives (0 otherwise), like the real node running
the command; images listed as missing wait in ErrImagePull, then ImagePullBackOff.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lab import images
from lab.runtime import LogNotFound, NetworkState, NodeInfo, StatusReporter

COMPLETE_AFTER_SECONDS = 0.3  # how long a run-to-completion fake container "runs"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _probe_port_declared(c: Mapping[str, Any]) -> bool:
    probe = c.get("readinessProbe") or {}
    action = probe.get("tcpSocket") or probe.get("httpGet") or probe.get("grpc")
    if not action:
        return True
    port = action.get("port")
    return any(port in (p.get("containerPort"), p.get("name")) for p in c.get("ports") or ())


def _exit_code(c: Mapping[str, Any]) -> int:
    text = " ".join(str(a) for a in list(c.get("command") or []) + list(c.get("args") or []))
    m = re.search(r"exit (\d+)\s*$", text)
    return int(m.group(1)) if m else 0


def _runs_to_completion(pod: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return spec.get("restartPolicy", "Always") != "Always" and (bool(c.get("command")) or not c.get("ports"))


class FakeNode:
    def __init__(
        self,
        instance_id: str = "fake",
        cni: str = "enforce",
        state_dir: Any = ".",
        *,
        index: int = 0,
        missing_images: images.MissingImages | None = None,
    ) -> None:
        self.instance_id, self.cni, self.state_dir = instance_id, cni, state_dir
        cidr = ipaddress.ip_network(f"10.244.{16 * index}.0/20")
        self._info = NodeInfo(
            f"krl-node-{index}",
            f"172.18.0.{10 + index}",
            str(cidr),
            control_plane=index == 0,
            capacity={"cpu": "2", "memory": "4Gi", "pods": "4000"},
            kernel_version="fake",
        )
        self._cidr = cidr
        self.missing = missing_images or images.MissingImages()
        self.started = False
        self.shut_down = False
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.specs: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.reports: dict[tuple[str, str], StatusReporter] = {}
        self.ready_override: dict[tuple[str, str], bool] = {}
        self.logs: dict[tuple[str, str, str], bytes] = {}
        self.stopped: list[tuple[str, str]] = []
        self.syncs: list[tuple[int, int, int]] = []
        self.last_sync: tuple[list, list, list] = ([], [], [])
        self.last_state: NetworkState | None = None
        self.faults: list = []
        self.ephemeral: list[tuple[str, str, str]] = []
        self._next_ip = 10
        self.sync_delay = 0.0
        self.services: list = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def info(self) -> NodeInfo:
        return self._info

    async def start(self) -> None:
        self.started = True

    # -- pods --------------------------------------------------------------------------
    def _container_status(self, key: tuple[str, str], c: Mapping[str, Any], started: str) -> dict[str, Any]:
        ready = _probe_port_declared(c) and self.ready_override.get(key, True)
        return {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}},
            "lastState": {},
        }

    def _status(self, key: tuple[str, str], pod: Mapping[str, Any], ip: str, started: str) -> dict[str, Any]:
        spec = pod["spec"]
        statuses = [self._container_status(key, c, started) for c in spec.get("containers") or ()]
        ready = all(s["ready"] for s in statuses)
        conditions = [
            {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
            for t in ("PodScheduled", "Initialized")
        ] + [
            {"type": t, "status": "True" if ready else "False", "lastProbeTime": None, "lastTransitionTime": _now()}
            for t in ("ContainersReady", "Ready")
        ]
        return {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": self._info.internal_ip,
            "hostIPs": [{"ip": self._info.internal_ip}],
            "startTime": started,
            "qosClass": "BestEffort",
            "conditions": conditions,
            "initContainerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": started,
                            "finishedAt": started,
                        }
                    },
                }
                for c in spec.get("initContainers") or ()
            ],
            "containerStatuses": statuses,
        }

    async def run_pod(self, pod: Mapping[str, Any], report: StatusReporter) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        key = (meta["namespace"], meta["name"])
        self.specs[key] = pod
        self.reports[key] = report
        await asyncio.sleep(0)
        missing = [
            c
            for c in list(spec.get("initContainers") or ()) + list(spec.get("containers") or ())
            if c.get("image") in self.missing
        ]
        if missing:
            self._spawn(self._pull_failure(key, pod, missing[0]))
            return
        ip = str(self._cidr.network_address + self._next_ip)
        self._next_ip += 1
        started = _now()
        for c in list(spec.get("initContainers") or ()) + list(spec.get("containers") or ()):
            self.logs[key + (c["name"],)] = f"fake {c['name']} started in {meta['name']}\n".encode()
        status = self._status(key, pod, ip, started)
        self.pods[key] = status
        report(status)
        containers = spec.get("containers") or []
        if containers and all(_runs_to_completion(pod, c) for c in containers):
            self._spawn(self._complete(key, pod))

    async def _pull_failure(self, key: tuple[str, str], pod: Mapping[str, Any], bad: Mapping[str, Any]) -> None:
        image = bad["image"]
        init_names = {c["name"] for c in pod["spec"].get("initContainers") or ()}
        for reason, message in (
            ("ErrImagePull", images.pull_error(image)),
            ("ImagePullBackOff", images.backoff_message(image)),
        ):
            if key not in self.specs:
                return
            waiting = {
                "name": bad["name"],
                "image": image,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": reason, "message": message}},
                "lastState": {},
            }
            field = "initContainerStatuses" if bad["name"] in init_names else "containerStatuses"
            status = {
                "phase": "Pending",
                "hostIP": self._info.internal_ip,
                "startTime": _now(),
                "qosClass": "BestEffort",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": _now()}
                ],
                field: [waiting],
            }
            self.pods[key] = status
            self.reports[key](status)
            await asyncio.sleep(0.2)

    async def _complete(self, key: tuple[str, str], pod: Mapping[str, Any]) -> None:
        await asyncio.sleep(COMPLETE_AFTER_SECONDS)
        status = self.pods.get(key)
        if status is None or key not in self.specs:
            return
        finished = _now()
        codes = {c["name"]: _exit_code(c) for c in pod["spec"].get("containers") or ()}
        statuses = [
            {
                **s,
                "ready": False,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": codes[s["name"]],
                        "reason": "Completed" if codes[s["name"]] == 0 else "Error",
                        "startedAt": status["startTime"],
                        "finishedAt": finished,
                    }
                },
            }
            for s in status["containerStatuses"]
        ]
        phase = "Succeeded" if all(v == 0 for v in codes.values()) else "Failed"
        conditions = [
            {**c, "status": "False", "reason": "PodCompleted"} if c["type"] in ("Ready", "ContainersReady") else c
            for c in status["conditions"]
        ]
        new = {**status, "phase": phase, "containerStatuses": statuses, "conditions": conditions}
        self.pods[key] = new
        self.reports[key](new)

    def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Flip a running pod's readiness (what a readiness probe starting to fail does)."""
        key = (namespace, name)
        self.ready_override[key] = ready
        status = self.pods.get(key)
        if status is None or status.get("phase") != "Running":
            return
        new = self._status(key, self.specs[key], status["podIP"], status["startTime"])
        self.pods[key] = new
        self.reports[key](new)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop_pod(self, namespace: str, name: str) -> None:
        self.stopped.append((namespace, name))
        self.pods.pop((namespace, name), None)
        self.specs.pop((namespace, name), None)
        for k in [k for k in self.logs if k[:2] == (namespace, name)]:
            del self.logs[k]

    async def add_ephemeral_container(
        self, pod: Mapping[str, Any], container: Mapping[str, Any], report: StatusReporter
    ) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        status = self.pods.get(key)
        if status is None:
            return
        self.ephemeral.append(key + (container["name"],))
        if container.get("image") in self.missing:
            entry = {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull", "message": images.pull_error(container["image"])}},
                "lastState": {},
            }
        else:
            self.logs[key + (container["name"],)] = f"ephemeral {container['name']} in {status['podIP']}\n".encode()
            entry = {**self._container_status(key, container, _now()), "ready": False}
        status = {
            **status,
            "ephemeralContainerStatuses": list(status.get("ephemeralContainerStatuses") or []) + [entry],
        }
        self.pods[key] = status
        report(status)

    def read_log(self, namespace: str, name: str, container: str) -> bytes:
        try:
            return self.logs[(namespace, name, container)]
        except KeyError:
            raise LogNotFound(f"{namespace}/{name}/{container}") from None

    async def sync_network(self, state: NetworkState) -> None:
        if self.sync_delay:
            await asyncio.sleep(self.sync_delay)
        self.last_state = state
        self.syncs.append((len(state.namespaces), len(state.pods), len(state.policies)))
        self.last_sync = (list(state.namespaces), list(state.pods), list(state.policies))
        self.services = list(state.services)
        self.faults = list(state.faults)

    async def shutdown(self) -> None:
        self.shut_down = True
        for task in list(self._tasks):
            task.cancel()
        self.pods.clear()


class FakePool:
    """``nodes`` fake nodes (``krl-node-0`` ... ), the first one the control plane."""

    def __init__(
        self,
        instance_id: str = "fake",
        cni: str = "enforce",
        state_dir: Any = ".",
        *,
        nodes: int = 1,
        missing_images: Sequence[str] = (),
    ) -> None:
        missing = images.MissingImages.of(missing_images)
        self._nodes = [FakeNode(instance_id, cni, state_dir, index=i, missing_images=missing) for i in range(nodes)]

    @property
    def nodes(self) -> list[FakeNode]:
        return self._nodes

    async def start(self) -> None:
        for node in self._nodes:
            await node.start()

    async def shutdown(self) -> None:
        for node in self._nodes:
            await node.shutdown()


def cleanup_instance(instance_id: str) -> None:
    """Nothing to clean: the fake node creates nothing outside its process."""


class FailingPool(FakePool):
    """A pool whose start fails (no root, broken iproute2...): `lab up` must clean up and say why."""

    async def start(self) -> None:
        raise RuntimeError("cannot create the node namespace: permission denied")
