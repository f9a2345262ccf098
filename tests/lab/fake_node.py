"""An in-memory NodeRuntime for API tests: fake IPs, pods Running at once, canned logs.

Runs nothing in the kernel, so API tests need neither root nor network namespaces. The
daemon can load it too (``nodeFactory: fake_node:FakeNode`` with tests/lab on
PYTHONPATH) to test ``lab up``/``down`` as real processes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
from collections.abc import Mapping
from typing import Any

from lab.runtime import Fault, LogNotFound, StatusReporter

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _running(c: Mapping[str, Any], started: str) -> dict[str, Any]:
    return {
        "name": c["name"],
        "image": c.get("image", ""),
        "imageID": "",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": started}},
        "lastState": {},
    }


class FakeNode:
    def __init__(self, instance_id: str = "fake", cni: str = "enforce", state_dir: Any = ".") -> None:
        self.instance_id, self.cni, self.state_dir = instance_id, cni, state_dir
        self.started = False
        self.shut_down = False
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str, str], bytes] = {}
        self.stopped: list[tuple[str, str]] = []
        self.syncs: list[tuple[int, int, int]] = []
        self.last_sync: tuple[list, list, list] = ([], [], [])
        self.faults: list[Fault] = []
        self.ephemeral: list[tuple[str, str, str]] = []
        self._next_ip = 10
        self.sync_delay = 0.0
        self.services: list = []

    async def start(self) -> None:
        self.started = True

    async def run_pod(self, pod: Mapping[str, Any], report: StatusReporter) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        key = (meta["namespace"], meta["name"])
        ip = str(POD_CIDR.network_address + self._next_ip)
        self._next_ip += 1
        started = _now()
        await asyncio.sleep(0)
        for c in list(spec.get("initContainers") or ()) + list(spec.get("containers") or ()):
            self.logs[key + (c["name"],)] = f"fake {c['name']} started in {meta['name']}\n".encode()
        status = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "169.254.1.1",
            "startTime": started,
            "qosClass": "BestEffort",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": started}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
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
            "containerStatuses": [_running(c, started) for c in spec.get("containers") or ()],
        }
        self.pods[key] = status
        report(status)

    async def stop_pod(self, namespace: str, name: str) -> None:
        self.stopped.append((namespace, name))
        self.pods.pop((namespace, name), None)
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
        self.logs[key + (container["name"],)] = f"ephemeral {container['name']} in {status['podIP']}\n".encode()
        status = {
            **status,
            "ephemeralContainerStatuses": list(status.get("ephemeralContainerStatuses") or [])
            + [_running(container, _now())],
        }
        self.pods[key] = status
        report(status)

    def read_log(self, namespace: str, name: str, container: str) -> bytes:
        try:
            return self.logs[(namespace, name, container)]
        except KeyError:
            raise LogNotFound(f"{namespace}/{name}/{container}") from None

    async def sync_network(self, namespaces, pods, policies, services=None) -> None:
        if self.sync_delay:
            await asyncio.sleep(self.sync_delay)
        self.syncs.append((len(namespaces), len(pods), len(policies)))
        self.last_sync = (list(namespaces), list(pods), list(policies))
        if services is not None:
            self.services = list(services)

    async def set_faults(self, faults: list[Fault]) -> None:
        self.faults = list(faults)

    async def shutdown(self) -> None:
        self.shut_down = True
        self.pods.clear()


def cleanup_instance(instance_id: str) -> None:
    """Nothing to clean: the fake node creates nothing outside its process."""


class FailingNode(FakeNode):
    """A node whose start fails (no root, broken iproute2...): `lab up` must clean up and say why."""

    async def start(self) -> None:
        raise RuntimeError("cannot create the node namespace: permission denied")
