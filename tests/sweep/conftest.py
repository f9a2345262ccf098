"""Fixtures for the sweep's unit tests: snapshots from inline YAML, and a recording
in-memory stand-in for :class:`orchestrator.cluster.kube.Kube` that plays an API server whose
agents finish at once and print the result document the probe states say. Its writes
bump a resourceVersion and land in an event log that its pod watches replay, as a real
API server's watch cache does."""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from orchestrator.cluster.kube import AdmissionDenied, ClusterInfo, NotFound
from orchestrator.snapshot import Origin, snapshot_from_objects
from probe.spec import decode_spec_text

# pytest runs with --import-mode=importlib: put this folder on sys.path for the test
# modules' `import sweep_scripted_api`
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

DEMO = "manifests/demo"


def snapshot_of(text: str):
    docs = [d for d in yaml.safe_load_all(text) if d]
    return snapshot_from_objects((d, Origin("test", i)) for i, d in enumerate(docs, 1))


def pod_yaml(
    ns: str,
    name: str,
    labels: dict[str, str],
    ip: str,
    ports=(8080,),
    *,
    uid: int = 1000,
    containers: list[dict] | None = None,
    annotations: dict[str, str] | None = None,
    phase: str = "Running",
) -> dict:
    containers = containers or [
        {
            "name": "app",
            "image": "nginx",
            "ports": [{"containerPort": p} for p in ports],
            "securityContext": {"runAsUser": uid},
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations or {}},
        "spec": {"containers": containers},
        "status": {"podIP": ip, "phase": phase},
    }


def snapshot_from(docs: list[dict]):
    return snapshot_from_objects((d, Origin("test", i)) for i, d in enumerate(docs, 1))


@pytest.fixture
def demo_snapshot():
    from orchestrator.snapshot import load_manifests

    return load_manifests([DEMO])


@dataclass
class FakeKube:
    """An API server in memory: pods by (ns, name); every call recorded in RBAC terms.

    ``answer(target) -> state`` decides what each agent observes.
    """

    pods: dict[tuple[str, str], dict]
    answer: Callable[[dict], str]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    configmaps: dict[tuple[str, str], dict] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    fail_patch: set = field(default_factory=set)
    never_finish: set = field(default_factory=set)
    refuse_net_raw: set = field(default_factory=set)  # {"ephemeral", "pod"}: Pod Security refuses NET_RAW
    info: ClusterInfo = ClusterInfo("fake", "default", "https://fake")
    lock: threading.Lock = field(default_factory=threading.Lock)
    request_timeout: float = 5.0
    rv: int = 1
    events: list[tuple[int, str, str, dict]] = field(default_factory=list)  # (rv, type, namespace, pod)
    cond: threading.Condition = field(default_factory=threading.Condition)
    watch_error: Exception | None = None  # raised by the next watch_pods

    def _rec(self, verb, resource, ns):
        with self.lock:
            self.calls.append((verb, resource, ns))

    def _event(self, kind, ns, pod):
        with self.cond:
            self.rv += 1
            self.events.append((self.rv, kind, ns, copy.deepcopy(pod)))
            self.cond.notify_all()

    def pods_resource_version(self, ns, *, label_selector=None):
        self._rec("list", "pods", ns)
        with self.cond:
            return str(self.rv)

    def list_pods_versioned(self, ns=None, *, label_selector=None):
        with self.cond:
            version = str(self.rv)
        return self.list_pods(ns, label_selector=label_selector), version

    def watch_pods(self, ns, *, resource_version, label_selector=None, timeout_s, read_timeout_s):
        self._rec("watch", "pods", ns)
        if self.watch_error is not None:
            raise self.watch_error
        return FakeWatch(self, ns, int(resource_version), label_selector, timeout_s)

    def _run_agent(self, ns, pod, cname, command):
        spec = decode_spec_text(command[-1])
        results = [
            {
                "id": t["id"],
                "address": t["address"],
                "port": t["port"],
                "protocol": t["protocol"],
                "method": t["method"],
                "method_used": t["method"],
                "state": self.answer(t),
                "evidence": "fake",
                "attempts": 1,
                "latency_ms": 0.5,
            }
            for t in spec["targets"]
        ]
        doc = {"kind": "KubereachProbeResult", "version": 1, "spec_id": spec["id"], "results": results}
        self.logs[(ns, pod, cname)] = "agent starting\n" + json.dumps(doc) + "\n"

    def create_configmap(self, ns, body):
        self._rec("create", "configmaps", ns)
        name = body["metadata"]["name"]
        obj = json.loads(json.dumps(body))
        obj["metadata"]["uid"] = f"uid-{name}-{ns}"
        self.configmaps[(ns, name)] = obj
        return obj

    def _psa(self, kind, container):
        if kind in self.refuse_net_raw and "NET_RAW" in container["securityContext"]["capabilities"].get("add", []):
            raise AdmissionDenied(
                'pods "x" is forbidden: violates PodSecurity "restricted:latest": '
                'non-default capabilities (container "c" must not include "NET_RAW")',
                status=403,
            )

    def add_ephemeral_container(self, ns, pod, container):
        self._rec("patch", "pods/ephemeralcontainers", ns)
        self._psa("ephemeral", container)
        if (ns, pod) not in self.pods or pod in self.fail_patch:
            raise NotFound(f"pods {pod} not found", status=404)
        p = self.pods[(ns, pod)]
        p.setdefault("spec", {}).setdefault("ephemeralContainers", []).append(container)
        state = {"running": {}} if pod in self.never_finish else {"terminated": {"exitCode": 0}}
        p.setdefault("status", {}).setdefault("ephemeralContainerStatuses", []).append(
            {"name": container["name"], "state": state}
        )
        if pod not in self.never_finish:
            self._run_agent(ns, pod, container["name"], container["command"])
        self._event("MODIFIED", ns, p)
        return p

    def create_pod(self, ns, body):
        self._rec("create", "pods", ns)
        self._psa("pod", body["spec"]["containers"][0])
        obj = json.loads(json.dumps(body))
        name = obj["metadata"]["name"]
        obj["status"] = {
            "phase": "Succeeded",
            "containerStatuses": [{"name": "agent", "state": {"terminated": {"exitCode": 0}}}],
        }
        self.pods[(ns, name)] = obj
        self._run_agent(ns, name, "agent", obj["spec"]["containers"][0]["command"])
        self._event("ADDED", ns, obj)
        return obj

    def list_pods(self, ns=None, *, label_selector=None):
        self._rec("list", "pods", ns)
        out = []
        for (pns, _), p in self.pods.items():
            if ns is not None and pns != ns:
                continue
            labels = p["metadata"].get("labels") or {}
            if label_selector and not all(
                labels.get(k) == v for k, v in (kv.split("=", 1) for kv in label_selector.split(","))
            ):
                continue
            out.append(p)
        return out

    def list_configmaps(self, ns=None, *, label_selector=None):
        self._rec("list", "configmaps", ns)
        return [c for (cns, _), c in self.configmaps.items() if ns is None or cns == ns]

    def read_log(self, ns, pod, container):
        self._rec("get", "pods/log", ns)
        try:
            return self.logs[(ns, pod, container)]
        except KeyError:
            raise NotFound("no log", status=404) from None

    def delete_pod(self, ns, name):
        self._rec("delete", "pods", ns)
        gone = self.pods.pop((ns, name), None)
        if gone is None:
            raise NotFound("gone", status=404)
        self._event("DELETED", ns, gone)

    def delete_configmap(self, ns, name):
        self._rec("delete", "configmaps", ns)
        if self.configmaps.pop((ns, name), None) is None:
            raise NotFound("gone", status=404)


def _selected(pod: dict, selector: str | None) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    return not selector or all(labels.get(k) == v for k, v in (kv.split("=", 1) for kv in selector.split(",")))


class FakeWatch:
    """A watch of one namespace of a FakeKube from a resourceVersion: replays the event
    log after it, then waits for more until closed or ``timeout_s`` passed."""

    def __init__(self, kube: FakeKube, ns: str, since: int, selector: str | None, timeout_s: float) -> None:
        self.kube, self.ns, self.since, self.selector = kube, ns, since, selector
        self.deadline = time.monotonic() + timeout_s
        self.closed = False
        self.gone = False
        self.broken = ""
        self.resource_version = ""

    def __iter__(self):
        while not self.closed and time.monotonic() < self.deadline:
            with self.kube.cond:
                fresh = [e for e in self.kube.events if e[0] > self.since and e[2] == self.ns]
                if not fresh:
                    self.kube.cond.wait(0.05)
                    continue
            for rv, kind, _, pod in fresh:
                self.since, self.resource_version = rv, str(rv)
                if _selected(pod, self.selector):
                    yield kind, pod

    def close(self) -> None:
        self.closed = True


def fake_kube_for(snapshot, answer) -> FakeKube:
    pods = {}
    for p in snapshot.pods:
        pods[(p.namespace, p.name)] = {
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(p.labels)},
            "spec": {},
            "status": {"phase": "Running", "podIP": p.ip, "podIPs": [{"ip": ip} for ip in p.ips]},
        }
    return FakeKube(pods, answer)
