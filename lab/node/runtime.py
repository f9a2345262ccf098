"""``LabNode``: one node of the lab (implements :class:`lab.runtime.NodeRuntime`).

Owns everything that touches the kernel for the pods bound to it: its pod network
(:mod:`lab.node.network`), container processes (:mod:`lab.node.processes`), listener
sockets (:mod:`lab.node.listeners`), readiness probes (:mod:`lab.node.probes`) and its
CNI rules (:mod:`lab.node.cni_sync`). :class:`lab.node.pool.LabPool` creates the nodes
and the network between them.

Pod lifecycle, as the kubelet does it (simplified where the lab cannot emulate):
Pending (namespace, address, CNI rules in force) -> init containers one by one, each to
completion (a non-zero exit fails the pod) -> containers -> Running -> when every
container has exited: Succeeded if all exited 0, else Failed. Containers are never
restarted, whatever ``restartPolicy`` says (documented gap: no CrashLoopBackOff).
``activeDeadlineSeconds`` counts from the pod's start; on expiry every process is
killed, sockets closed, and the pod fails with reason ``DeadlineExceeded``.
Non-agent init containers have nothing to run and complete at once with exit code 0;
non-agent ephemeral containers are reported running with nothing behind them. In a
run-to-completion pod (``restartPolicy`` Never or OnFailure: a Job's), a container with a
``command`` runs it and exits with its status (:func:`lab.node.podspec.runs_command`).
Readiness: a container with a ``readinessProbe`` is ready once the probe succeeds against
the pod's address (:mod:`lab.node.probes`), others once started. An image the lab was
told is missing (:mod:`lab.images`) keeps its container waiting in ``ErrImagePull`` /
``ImagePullBackOff``, and the pod Pending.
Native sidecars (init containers with ``restartPolicy: Always``, KEP-753) start in
their turn and keep running: the next init container waits for them to have started
only; an agent image runs its command in the background, any other image listens on
its declared ports like a regular container. When every regular container has exited
they are terminated; they are never restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import signal
import subprocess
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import images
from lab.node import names as N
from lab.node import podspec, probes
from lab.node.cleanup import kill_netns_processes
from lab.node.cni_sync import CniSync
from lab.node.listeners import Serving, open_sockets
from lab.node.network import Fabric, PodNetwork, PodSlot, apply_pod_sysctls
from lab.node.processes import (
    MountView,
    ProcessSpec,
    container_capabilities,
    kill_group,
    spawn_in_netns,
    wait_exit,
)
from lab.node.status import ContainerState, Phase, State, condition, now
from lab.node.volumes import container_mounts, mount_script, write_volumes
from lab.runtime import LogNotFound, NetworkState, NodeInfo, StatusReporter

if TYPE_CHECKING:
    from lab.cni.compile import RuleSet

log = logging.getLogger(__name__)

_STOP_GRACE_S = 2.0  # SIGTERM -> SIGKILL on pod deletion (terminationGracePeriod, shortened)
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def _noop(_status: dict[str, Any]) -> None:
    pass


def _memory() -> str:
    """The machine's memory, as a Node's capacity shows it (``16384Mi``)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return "0"
    return f"{pages * size // (1 << 20)}Mi"


@dataclass(slots=True)
class PodRun:
    """Everything the node holds for one pod."""

    namespace: str
    name: str
    pod: Mapping[str, Any]
    slot: PodSlot
    report: StatusReporter
    log_dir: Path
    host_ip: str
    init: list[ContainerState] = field(default_factory=list)
    containers: list[ContainerState] = field(default_factory=list)
    ephemeral: list[ContainerState] = field(default_factory=list)
    phase: Phase = Phase.PENDING
    reason: str = ""
    message: str = ""
    start_time: str = ""
    network_ready: bool = False
    initialized: bool = False
    stopping: bool = False
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    servings: dict[str, Serving] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    volume_dir: Path | None = None  # downwardAPI volumes are written below it (lab.node.volumes)
    volumes: dict[str, Path] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return (self.pod.get("metadata") or {}).get("uid") or f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def final(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)

    def status(self) -> dict[str, Any]:
        ready = self.phase is Phase.RUNNING and bool(self.containers) and all(c.ready for c in self.containers)
        st: dict[str, Any] = {
            "phase": str(self.phase),
            "conditions": [
                self._condition("PodScheduled", True),
                self._condition("Initialized", self.initialized),
                self._condition("ContainersReady", ready),
                self._condition("Ready", ready),
            ],
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "qosClass": "BestEffort",
            "initContainerStatuses": [c.to_dict(self.uid) for c in self.init],
            "containerStatuses": [c.to_dict(self.uid) for c in self.containers],
        }
        if self.ephemeral:
            st["ephemeralContainerStatuses"] = [c.to_dict(self.uid) for c in self.ephemeral]
        if self.network_ready:
            st["podIP"] = self.slot.ip
            st["podIPs"] = [{"ip": self.slot.ip}]
        if self.start_time:
            st["startTime"] = self.start_time
        if self.reason:
            st["reason"] = self.reason
        if self.message:
            st["message"] = self.message
        return st

    def _condition(self, kind: str, ok: bool) -> dict[str, Any]:
        """A condition whose lastTransitionTime only moves when its status flips."""
        cond = condition(kind, ok)
        prev = self.conditions.get(kind)
        if prev is not None and prev["status"] == cond["status"]:
            return prev
        self.conditions[kind] = cond
        return cond

    def refresh_phase(self) -> None:
        """Derive the phase from the containers (once final, a phase never changes)."""
        if self.final or not self.initialized or not self.containers:
            return
        if all(s.state is State.TERMINATED for s in self.containers):
            self.phase = Phase.SUCCEEDED if all(s.exit_code == 0 for s in self.containers) else Phase.FAILED
        elif all(s.state is not State.WAITING for s in self.containers):
            self.phase = Phase.RUNNING

    def emit(self) -> None:
        self.refresh_phase()
        if not self.stopping:
            try:
                self.report(self.status())
            except Exception:
                log.exception("status report for %s/%s failed", self.namespace, self.name)

    def as_network_pod(self) -> dict[str, Any]:
        return {
            "metadata": dict(self.pod.get("metadata") or {}),
            "spec": dict(self.spec),
            "status": {"podIP": self.slot.ip, "phase": str(self.phase)},
        }

    def log_path(self, container: str) -> Path:
        return self.log_dir / f"{container}.log"


class LabNode:
    """One lab node; see the module docstring. ``cni`` is ``"enforce"`` or ``"none"``.

    Made by :class:`lab.node.pool.LabPool`, which shares its worker threads, the
    filesystem view of non-root containers and the node network between its nodes.
    """

    def __init__(
        self,
        names: N.InstanceNames,
        cni: str,
        state_dir: Path | str,
        *,
        index: int = 0,
        nodes: int = 1,
        fabric: Fabric,
        executor: ThreadPoolExecutor,
        missing_images: images.MissingImages | None = None,
    ) -> None:
        if cni not in ("enforce", "none"):
            raise ValueError(f"cni must be 'enforce' or 'none', got {cni!r}")
        self.names = names
        self.index = index
        self.cni = cni
        self.state_dir = Path(state_dir)
        self.node_name = N.node_name(index)
        self.missing = missing_images or images.MissingImages()
        self._executor = executor
        self.network = PodNetwork(names, executor, node=index, nodes=nodes, fabric=fabric)
        self._pods: dict[tuple[str, str], PodRun] = {}
        self._info = NodeInfo(
            self.node_name,
            N.node_ip(index),
            str(self.network.cidr),
            control_plane=index == 0,
            capacity={"cpu": str(os.cpu_count() or 1), "memory": _memory(), "pods": str(N.pods_per_node())},
            kernel_version=platform.release(),
        )
        self._cni = CniSync(
            self.network.netns,
            node_name=self.node_name,
            enforce=cni == "enforce",
            local_pods=lambda: [r.as_network_pod() for r in self._pods.values() if r.network_ready],
        )
        self.view: MountView | None = None

    @property
    def info(self) -> NodeInfo:
        return self._info

    @property
    def node_netns(self) -> str:
        return self.network.netns

    # -- NodeRuntime ---------------------------------------------------------------------
    async def start(self) -> None:
        """Create the node's namespace, uplink and routes; load its (empty) rule set."""
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        await self.network.start()
        await self._cni.start()

    async def run_pod(self, pod: Mapping[str, Any], report: StatusReporter) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        key = (meta.get("namespace") or "default", meta.get("name", ""))
        if key in self._pods:
            raise ValueError(f"pod {key[0]}/{key[1]} is already running on this node")
        slot = self.network.allocate()
        log_dir = self.state_dir / "logs" / key[0] / key[1]
        run = PodRun(
            key[0],
            key[1],
            pod,
            slot,
            report,
            log_dir,
            self._info.internal_ip,
            init=[
                ContainerState(c["name"], c.get("image", ""), reason="PodInitializing")
                for c in spec.get("initContainers") or []
            ],
            containers=[
                ContainerState(
                    c["name"],
                    c.get("image", ""),
                    reason="PodInitializing" if spec.get("initContainers") else "ContainerCreating",
                )
                for c in spec.get("containers") or []
            ],
        )
        self._pods[key] = run
        run.start_time = now()
        run.emit()
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            run.volume_dir = self.state_dir / "volumes" / key[0] / key[1]
            run.volumes = write_volumes(run.volume_dir, pod)
            await self.network.attach(slot)
            run.network_ready = True
            if run.stopping:  # deleted while its network was being set up (stop_pod releases the slot)
                await self.network.detach([slot])
                return
            sysctls = [
                (str(x.get("name", "")), str(x.get("value", "")))
                for x in (spec.get("securityContext") or {}).get("sysctls") or []
            ]
            if sysctls:
                for problem in await self.network.in_netns(slot.netns, apply_pod_sysctls, sysctls):
                    log.warning("pod %s/%s: %s", *key, problem)
            await self._cni.sync()  # policies cover the pod before anything listens
        except Exception as exc:
            log.error("pod %s/%s: network set-up failed: %s", *key, exc)
            if not run.network_ready:
                run.phase, run.reason, run.message = Phase.FAILED, "NetworkSetupFailed", str(exc)[:500]
                run.emit()
                await self.network.detach([slot])  # whatever part of it was created
                return
        if run.stopping:
            return
        run.emit()
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            self._spawn_task(run, self._deadline(run, float(deadline)))
        self._spawn_task(run, self._lifecycle(run))

    async def stop_pod(self, namespace: str, name: str) -> None:
        run = self._pods.pop((namespace, name), None)
        if run is None:
            return
        run.stopping = True
        run.report = _noop
        for task in list(run.tasks):
            task.cancel()
        await self._kill_processes(run, grace=_STOP_GRACE_S)
        for serving in run.servings.values():
            serving.close()
        if run.network_ready:
            await asyncio.get_running_loop().run_in_executor(self._executor, kill_netns_processes, run.slot.netns)
            await self.network.detach([run.slot])
        self.network.release(run.slot)
        shutil.rmtree(run.log_dir, ignore_errors=True)
        if run.volume_dir is not None:
            shutil.rmtree(run.volume_dir, ignore_errors=True)

    async def add_ephemeral_container(
        self, pod: Mapping[str, Any], container: Mapping[str, Any], report: StatusReporter
    ) -> None:
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name", ""))
        run = self._pods.get(key)
        if run is None:
            raise LookupError(f"pod {key[0]}/{key[1]} is not running on this node")
        run.report = report
        run.pod = {
            **run.pod,
            "spec": {**run.spec, "ephemeralContainers": (pod.get("spec") or {}).get("ephemeralContainers") or []},
        }
        name = container["name"]
        if any(c.name == name for c in run.ephemeral):
            raise ValueError(f"ephemeral container {name!r} already exists in {key[0]}/{key[1]}")
        state = ContainerState(name, container.get("image", ""))
        run.ephemeral.append(state)
        idx = len(run.ephemeral) - 1
        if run.final or not run.network_ready:
            run.ephemeral[idx] = state.waiting("PodNotRunning", f"pod is {run.phase}")
            run.emit()
            return
        if container.get("image") in self.missing:
            self._spawn_task(run, self._image_pull_failure(run, run.ephemeral, idx, str(container["image"])))
        elif podspec.is_agent(container):
            self._spawn_task(run, self._run_process(run, container, run.ephemeral, idx, ephemeral=True))
        else:
            run.log_path(name).touch()
            run.ephemeral[idx] = state.running()
            run.emit()

    def read_log(self, namespace: str, name: str, container: str) -> bytes:
        run = self._pods.get((namespace, name))
        if run is None:
            raise LogNotFound(f"pod {namespace}/{name} is not running on this node")
        names = {c.name for c in (*run.init, *run.containers, *run.ephemeral)}
        if container not in names:
            raise LogNotFound(f"container {container} is not valid for pod {name}")
        try:
            return run.log_path(container).read_bytes()
        except FileNotFoundError:
            raise LogNotFound(f'container "{container}" in pod "{name}" is waiting to start') from None

    async def sync_network(self, state: NetworkState) -> None:
        """Recompile this node's CNI from the cluster's state (returns once loaded)."""
        self._cni.state = state
        await self._cni.sync()

    async def shutdown(self) -> None:
        """Stop every pod's processes and sockets (the pool deletes the namespaces)."""
        runs = list(self._pods.values())
        self._pods.clear()
        for run in runs:
            run.stopping = True
            for task in list(run.tasks):
                task.cancel()
        await asyncio.gather(*(self._kill_processes(r, grace=0.5) for r in runs), return_exceptions=True)
        for r in runs:
            for serving in r.servings.values():
                serving.close()
        shutil.rmtree(self.state_dir / "logs", ignore_errors=True)
        shutil.rmtree(self.state_dir / "volumes", ignore_errors=True)

    # -- extras for tests and tools (additive to the protocol) ---------------------------
    def pod_netns(self, namespace: str, name: str) -> str:
        """The network namespace of a running pod (``ip netns exec`` it to look inside)."""
        return self._pods[(namespace, name)].slot.netns

    @property
    def ruleset(self) -> RuleSet | None:
        """The CNI rule set currently loaded (None before the first load)."""
        return self._cni.current

    # -- internals -----------------------------------------------------------------------
    def _spawn_task(self, run: PodRun, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        run.tasks.add(task)
        task.add_done_callback(run.tasks.discard)
        task.add_done_callback(_log_task_error)

    async def _lifecycle(self, run: PodRun) -> None:
        spec = run.spec
        sidecars: list[asyncio.Task[int]] = []
        try:
            for i, c in enumerate(spec.get("initContainers") or []):
                if c.get("image") in self.missing:
                    await self._image_pull_failure(run, run.init, i, str(c["image"]))  # until deleted
                    return
                if podspec.is_native_sidecar(c):
                    code = await self._start_sidecar(run, c, i, sidecars)
                elif podspec.is_agent(c):
                    code = await self._run_process(run, c, run.init, i)
                else:
                    run.log_path(c["name"]).touch()
                    run.init[i] = run.init[i].running().terminated(0)
                    code = 0
                if run.final:
                    return
                if code != 0:
                    run.phase, run.reason = Phase.FAILED, ""
                    run.message = (
                        f"native sidecar {c['name']} could not start (code {code})"
                        if podspec.is_native_sidecar(c)
                        else f"init container {c['name']} exited with code {code}"
                    )
                    run.containers = [s.waiting("PodInitializing") for s in run.containers]
                    run.emit()
                    return
                run.emit()
            run.initialized = True
            waits = []
            for i, c in enumerate(spec.get("containers") or []):
                if c.get("image") in self.missing:
                    self._spawn_task(run, self._image_pull_failure(run, run.containers, i, str(c["image"])))
                elif podspec.is_agent(c) or podspec.runs_command(run.pod, c):
                    waits.append(self._run_process(run, c, run.containers, i))
                elif podspec.completes_at_once(run.pod, c):
                    run.log_path(c["name"]).write_text(
                        f"kubereach lab: {c['name']} has no command and no ports: nothing to run, completed\n"
                    )
                    run.containers[i] = run.containers[i].running().terminated(0)
                else:
                    await self._start_listeners(run, c, run.containers, i)
                probe = probes.readiness_probe(c)
                if probe is not None:
                    run.containers[i] = replace(run.containers[i], probe_ready=False)
                    self._spawn_task(run, self._readiness(run, i, probe))
            tasks = [asyncio.create_task(w) for w in waits]
            run.emit()
            try:
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
            if run.final and not run.stopping:
                await self._stop_sidecars(run, sidecars)
            elif sidecars:  # agent sidecars live as long as the pod (until deleted or deadline)
                await asyncio.gather(*sidecars, return_exceptions=True)
        finally:
            for t in sidecars:
                t.cancel()

    async def _start_sidecar(self, run: PodRun, c: Mapping[str, Any], i: int, sidecars: list[asyncio.Task[int]]) -> int:
        """Start a native sidecar and return once it runs (0) or could not start (its code).

        Like the kubelet, the next init container waits for the sidecar to have started,
        not to have finished. An agent image runs its command in the background; any
        other image gets listeners on its declared ports, as a regular container does.
        The lab never restarts it (restartPolicy Always is not emulated beyond this).
        """
        if not podspec.is_agent(c):
            await self._start_listeners(run, c, run.init, i)
        else:
            task = asyncio.create_task(self._run_process(run, c, run.init, i))
            sidecars.append(task)
            while run.init[i].state is State.WAITING and not task.done():
                await asyncio.sleep(0.02)  # CreateContainerConfigError keeps it (and the pod) waiting
        state = run.init[i]
        if state.state is State.TERMINATED and state.reason == "StartError":
            return state.exit_code or 128
        return 0

    async def _stop_sidecars(self, run: PodRun, sidecars: list[asyncio.Task[int]]) -> None:
        """Every regular container has exited: terminate the native sidecars, as the kubelet does."""
        for i, c in enumerate(run.spec.get("initContainers") or []):
            if not podspec.is_native_sidecar(c) or run.init[i].state is not State.RUNNING:
                continue
            serving = run.servings.pop(c["name"], None)
            if serving is not None:
                serving.close()
            proc = run.procs.get(c["name"])
            if proc is not None:
                kill_group(proc, signal.SIGTERM)  # its _run_process task records the exit
            else:
                run.init[i] = replace(run.init[i].terminated(0), started_at=run.init[i].started_at)
        pending = [t for t in sidecars if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=_STOP_GRACE_S)
            for t in late:
                t.cancel()
        run.emit()

    async def _start_listeners(self, run: PodRun, c: Mapping[str, Any], states: list[ContainerState], i: int) -> None:
        ports, notes = podspec.listener_ports(c)
        lines = [
            f"kubereach lab: {c['name']} answers on {p.port}/{p.protocol} as {run.namespace}/{run.name}\n"
            for p in ports
        ] + [f"kubereach lab: {n}\n" for n in notes]
        run.log_path(c["name"]).write_text("".join(lines))
        try:
            opened = await self.network.in_netns(run.slot.netns, open_sockets, ports)
        except OSError as exc:
            states[i] = states[i].running().terminated(128, "StartError", f"listen: {exc}")
            return
        serving = Serving()
        run.servings[c["name"]] = serving
        for spec, sock in opened:
            await serving.add(spec, sock, namespace=run.namespace, pod=run.name, container=c["name"])
        states[i] = states[i].running()

    async def _run_process(
        self, run: PodRun, c: Mapping[str, Any], states: list[ContainerState], i: int, *, ephemeral: bool = False
    ) -> int:
        """Run an agent container to its exit; keep its state in ``states[i]``."""
        name = c["name"]
        env = podspec.container_env(
            run.pod, c, pod_ip=run.slot.ip, host_ip=self._info.internal_ip, node_name=self.node_name
        )
        sc = c.get("securityContext") or {}
        try:
            uid, gid, groups = podspec.run_as(run.pod, c)
            if uid == 0 and not podspec.is_agent(c):
                uid, gid = podspec.NOBODY, podspec.NOBODY
                with open(run.log_path(name), "ab") as f:
                    f.write(
                        b"kubereach lab: runs this command as nobody (65534), never root: it runs on this machine\n"
                    )
            mounts = container_mounts(c, run.volumes)
            setup = ""
            if mounts and run.volume_dir is not None:
                scratch = run.volume_dir / ".scratch" / name
                scratch.mkdir(parents=True, exist_ok=True)
                setup = mount_script(mounts, scratch)
            pspec = ProcessSpec(
                tuple(podspec.container_argv(c, env)),
                env,
                uid,
                gid,
                groups,
                hostname=run.name[:63],
                capabilities=container_capabilities(sc),
                no_new_privs=sc.get("allowPrivilegeEscalation") is False,
                setup=setup,
            )
            proc = await asyncio.get_running_loop().run_in_executor(
                self._executor, spawn_in_netns, run.slot.netns, pspec, run.log_path(name), self.view
            )
        except ValueError as exc:
            if str(exc) != podspec.NON_ROOT_MESSAGE:
                return self._start_error(run, name, states, i, exc)
            # The kubelet keeps such a container waiting; the pod never becomes Running.
            states[i] = states[i].waiting("CreateContainerConfigError", f"Error: {exc}")
            run.emit()
            await asyncio.Event().wait()  # until the pod is deleted or its deadline hits
            return 128
        except (OSError, TypeError, subprocess.SubprocessError) as exc:
            return self._start_error(run, name, states, i, exc)
        key = f"{'e:' if ephemeral else ''}{name}"
        run.procs[key] = proc
        states[i] = states[i].running()
        if run.stopping or run.final and not ephemeral:
            kill_group(proc)
        run.emit()
        try:
            code = await wait_exit(proc)
        except asyncio.CancelledError:
            kill_group(proc)
            raise
        finally:
            run.procs.pop(key, None)
        states[i] = replace(states[i].terminated(code), started_at=states[i].started_at)
        run.emit()
        return code

    @staticmethod
    def _start_error(run: PodRun, name: str, states: list[ContainerState], i: int, exc: BaseException) -> int:
        with open(run.log_path(name), "ab") as f:
            f.write(f"kubereach lab: cannot start {name}: {exc}\n".encode())
        states[i] = states[i].running().terminated(128, "StartError", str(exc)[:300])
        run.emit()
        return 128

    async def _image_pull_failure(self, run: PodRun, states: list[ContainerState], i: int, image: str) -> None:
        """An image the lab was told is missing: ErrImagePull, then ImagePullBackOff, again and
        again with a growing back-off, as a kubelet does, until the pod is deleted."""
        attempt = 0
        while not run.stopping:
            attempt += 1
            states[i] = states[i].waiting("ErrImagePull", images.pull_error(image))
            run.emit()
            await asyncio.sleep(images.PULL_ERROR_SECONDS)
            states[i] = states[i].waiting("ImagePullBackOff", images.backoff_message(image))
            run.emit()
            await asyncio.sleep(images.backoff_seconds(attempt))

    async def _readiness(self, run: PodRun, i: int, probe: probes.ReadinessProbe) -> None:
        """Probe container ``i`` until it stops; its readiness follows the thresholds."""
        while run.containers[i].state is State.WAITING and not run.stopping:
            await asyncio.sleep(0.05)
        await asyncio.sleep(probe.initial_delay)
        streak_ok = streak_bad = 0
        while run.containers[i].state is State.RUNNING and not run.stopping:
            ok = await probes.tcp_check(self._executor, self.network.netns, run.slot.ip, probe.port, probe.timeout)
            streak_ok, streak_bad = (streak_ok + 1, 0) if ok else (0, streak_bad + 1)
            current = run.containers[i].probe_ready
            if current is not True and streak_ok >= probe.success_threshold:
                run.containers[i] = replace(run.containers[i], probe_ready=True)
                run.emit()
            elif current is not False and streak_bad >= probe.failure_threshold:
                run.containers[i] = replace(run.containers[i], probe_ready=False)
                run.emit()
            await asyncio.sleep(probe.period)

    async def _deadline(self, run: PodRun, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if run.final or run.stopping:
            return
        run.phase, run.reason, run.message = Phase.FAILED, DEADLINE_REASON, DEADLINE_MESSAGE
        for t in list(run.tasks):
            if t is not asyncio.current_task():
                t.cancel()
        await self._kill_processes(run, grace=0)
        await asyncio.get_running_loop().run_in_executor(self._executor, kill_netns_processes, run.slot.netns)
        for serving in run.servings.values():
            serving.close()
        for states in (run.init, run.containers, run.ephemeral):
            for i, s in enumerate(states):
                if s.state is State.RUNNING:
                    states[i] = replace(s.terminated(137, "Error"), started_at=s.started_at)
        run.emit()

    async def _kill_processes(self, run: PodRun, *, grace: float) -> None:
        procs = list(run.procs.values())
        if not procs:
            return
        if grace > 0:
            for p in procs:
                kill_group(p, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            end = loop.time() + grace
            while loop.time() < end and any(p.poll() is None for p in procs):
                await asyncio.sleep(0.05)
        for p in procs:
            kill_group(p, signal.SIGKILL)
        for p in procs:
            with contextlib.suppress(TimeoutError, ChildProcessError):
                await asyncio.wait_for(wait_exit(p), 5)


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("lab node task failed", exc_info=task.exception())
