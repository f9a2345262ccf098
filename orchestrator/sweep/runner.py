"""Running probe jobs: one interface, a simulated and a cluster implementation.

A runner takes a :class:`~orchestrator.sweep.plan.Plan` (agents, each with its jobs) and
returns an :class:`~orchestrator.sweep.compare.Observation` for **every** job: runners never
raise per job; a job that could not be measured gets state ``error`` and a detail that
says why, which compare turns into ``inconclusive``. Only what makes the whole sweep
pointless escapes: a :class:`~orchestrator.errors.UsageError` (RBAC refused, the user
must fix it) or an unreachable API server.

* :class:`SimulatedRunner` answers from expectations (the policy model), optionally with
  injected discrepancies: unit tests and ``--simulate`` use it.
* :class:`ClusterRunner` adds an ephemeral container to each source pod (or creates a
  probe pod), waits until the agent terminated, reads its result document from the pod
  log, and cleans up. Agents in flight are bounded by an :class:`asyncio.Semaphore`;
  status is read with one LIST per namespace per tick for all agents at once, so API
  calls grow with the number of sources (and namespaces), never with probes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from typing import Protocol as TypingProtocol

from orchestrator.errors import ClusterError, UsageError
from orchestrator.model.verdict import Decision
from orchestrator.sweep.compare import Expectation, Observation
from orchestrator.sweep.deploy import (
    AGENT_CONTAINER,
    START_GRACE_S,
    SweepMeta,
    agent_deadline_s,
    apply_owners,
    container_name,
    probe_pod,
    probe_pod_name,
)
from orchestrator.sweep.plan import AgentPlan, Plan, ProbeJob, Scope, SourceMode
from probe.schema import Method, ProbeState, find_result_document

# Status is polled at 0.1 s, 0.2 s, 0.4 s after agents start, then every 0.5 s: a
# fast agent is read back at once, a slow sweep costs two LISTs per namespace per second.
POLL_INTERVAL_S = 0.5
FIRST_POLL_S = 0.1
# Waiting reasons after which a container will never start on its own.
FATAL_WAITING = {
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


class ProgressSink(TypingProtocol):
    def update(
        self, *, agents_done: int, agents_total: int, probes_done: int, probes_total: int, phase: str
    ) -> None: ...


class Runner(TypingProtocol):
    notes: list[str]

    async def run(self, plan: Plan, meta: SweepMeta, *, progress: ProgressSink | None = None) -> dict[str, Observation]:
        """An observation for every job of ``plan``."""

    async def close(self) -> list[str]:
        """Remove whatever the runner created; returns what it removed."""


def _error(detail: str, evidence: str = "not-measured") -> Observation:
    return Observation(ProbeState.ERROR, evidence, detail=detail)


def _all(agent: AgentPlan, obs: Observation) -> dict[str, Observation]:
    return {j.id: obs for j in agent.jobs}


# -- simulated ---------------------------------------------------------------------------

FaultKey = tuple[str, str, int, str]  # (source, destination, port, protocol)


@dataclass
class SimulatedRunner:
    """Answers every probe from the expectations, as a perfectly enforcing CNI would.

    ``overrides`` injects discrepancies (by source, destination, port, protocol), e.g.
    ``{("shop/web", "shop/db", 5432, "TCP"): ProbeState.OPEN}``; ``unmeasured`` jobs
    come back as ``error``. Denied pod traffic is ``filtered`` (dropped), denied
    intra-pod traffic ``closed`` (the intra-pod rules reject with RST).
    """

    expectations: Mapping[str, Expectation]
    overrides: Mapping[FaultKey, ProbeState] = field(default_factory=dict)
    unmeasured: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    runs: int = 0

    def state_for(self, job: ProbeJob) -> ProbeState:
        key = (job.source, job.destination, job.port, str(job.protocol))
        if key in self.overrides:
            return self.overrides[key]
        if self.expectations[job.id].decision is Decision.ALLOW:
            return ProbeState.OPEN
        return ProbeState.CLOSED if job.scope is Scope.INTRA_POD else ProbeState.FILTERED

    async def run(self, plan: Plan, meta: SweepMeta, *, progress: ProgressSink | None = None) -> dict[str, Observation]:
        self.runs += 1
        out: dict[str, Observation] = {}
        done = 0
        for i, agent in enumerate(plan.agents, 1):
            for job in agent.jobs:
                if job.id in self.unmeasured:
                    out[job.id] = _error("simulated: not measured")
                    continue
                state = self.state_for(job)
                out[job.id] = Observation(state, f"simulated {state}", 0.0, None, str(job.method), 1)
            done += len(agent.jobs)
            if progress:
                progress.update(
                    agents_done=i,
                    agents_total=len(plan.agents),
                    probes_done=done,
                    probes_total=len(plan.jobs),
                    phase="simulated",
                )
        return out

    async def close(self) -> list[str]:
        return []


# -- cluster -----------------------------------------------------------------------------


@dataclass
class _Waiter:
    agent: AgentPlan
    pod: str  # the pod to watch (source pod, or the probe pod)
    container: str
    until: float  # monotonic time after which we give up
    future: asyncio.Future[tuple[str, str]]  # (outcome, detail) of container_outcome
    ephemeral: bool = True


def parse_result_log(
    agent: AgentPlan, log_text: str, *, exit_info: str = ""
) -> tuple[dict[str, Observation], list[str]]:
    """Map an agent's log to observations for each of its jobs (pure)."""
    doc = find_result_document(log_text)
    if doc is None:
        tail = " | ".join(line.strip() for line in log_text.strip().splitlines()[-3:])[:300]
        message = "the agent printed no result document" + (f" ({exit_info})" if exit_info else "")
        if tail:
            message += f": {tail}"
        return _all(agent, _error(message)), []
    by_id = {str(r.get("id")): r for r in doc.get("results") or [] if isinstance(r, dict)}
    out: dict[str, Observation] = {}
    for job in agent.jobs:
        r = by_id.get(job.id)
        if r is None:
            out[job.id] = _error("missing from the agent's result document")
            continue
        try:
            state = ProbeState(str(r.get("state")))
        except ValueError:
            out[job.id] = _error(f"unknown state {r.get('state')!r} in the result document")
            continue
        latency = r.get("latency_ms")
        detail = r.get("detail")
        if r.get("method_used") and r.get("method_used") != r.get("method"):
            detail = f"{detail + '; ' if detail else ''}method {r.get('method')} fell back to {r.get('method_used')}"
        out[job.id] = Observation(
            state,
            str(r.get("evidence") or ""),
            float(latency) if isinstance(latency, (int, float)) else None,
            str(detail) if detail else None,
            r.get("method_used"),
            r.get("attempts"),
        )
    notes = [f"{agent.identity.key}: {n}" for n in doc.get("notes") or []]
    if doc.get("deadline_hit"):
        notes.append(f"{agent.identity.key}: the agent hit its deadline; unfinished probes are inconclusive")
    return out, notes


def container_outcome(pod: Mapping[str, Any] | None, container: str, *, ephemeral: bool) -> tuple[str, str]:
    """("running"|"done"|"failed"|"gone", detail) for one agent container (pure)."""
    if pod is None:
        return "gone", "the pod disappeared"
    status = pod.get("status") or {}
    key = "ephemeralContainerStatuses" if ephemeral else "containerStatuses"
    cs = next((c for c in status.get(key) or [] if c.get("name") == container), None)
    state = (cs or {}).get("state") or {}
    if "terminated" in state:
        t = state["terminated"] or {}
        return "done", f"exit code {t.get('exitCode')}" + (f", {t['reason']}" if t.get("reason") else "")
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING:
        return "failed", f"container {container} cannot start: {waiting.get('reason')}: {waiting.get('message', '')}"[
            :300
        ]
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        if ephemeral:
            return "failed", f"the pod ended ({phase}) before the agent finished"
        return "done", f"pod {phase}" + (f": {status.get('reason')}" if status.get("reason") else "")
    return "running", ""


def _canonical_ip(text: Any) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return str(text)


def destination_change(pod: Mapping[str, Any] | None, address: str) -> str:
    """Why a destination pod no longer stands behind ``address`` ("" if it still does; pure)."""
    if pod is None:
        return "was deleted"
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "was being deleted"
    listed = [status.get("podIP"), *((e or {}).get("ip") for e in status.get("podIPs") or [])]
    ips = {_canonical_ip(ip) for ip in listed if ip}
    if _canonical_ip(address) not in ips:
        return f"was replaced (its IP is now {status.get('podIP') or 'unassigned'}, not {address})"
    if status.get("phase") not in (None, "Running"):
        return f"stopped running (phase {status.get('phase')})"
    return ""


class ClusterRunner:
    """Runs agents in a real (or lab) cluster through :class:`orchestrator.cluster.kube.Kube`."""

    def __init__(
        self,
        kube: Any,
        *,
        max_agents: int = 32,
        deadline: float | None = None,
        poll_interval: float = POLL_INTERVAL_S,
        start_grace_s: float = START_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.max_agents = max(1, max_agents)
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.start_grace_s = start_grace_s
        self.clock = clock
        self.notes: list[str] = []
        self.owner_uids: dict[str, str] = {}
        self.created_pods: list[tuple[str, str]] = []
        self.meta: SweepMeta | None = None
        self.namespaces: set[str] = set()
        self.incomplete = False
        self._waiters: list[_Waiter] = []
        self._wake = asyncio.Event()
        # Patches of one pod's ephemeral containers go one at a time: each replaces the
        # list server-side, and an API server that does not retry conflicts could drop one.
        self._pod_locks: dict[str, asyncio.Lock] = {}

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _ensure_owners(self, meta: SweepMeta, namespaces: tuple[str, ...]) -> None:
        for ns in namespaces:
            if ns in self.owner_uids:
                continue
            self.owner_uids.update(await self._call(apply_owners, self.kube, meta, [ns]))

    async def run(self, plan: Plan, meta: SweepMeta, *, progress: ProgressSink | None = None) -> dict[str, Observation]:
        from orchestrator.cluster.kube import ApiError

        self.meta = meta
        self.namespaces.update(plan.namespaces)
        results: dict[str, Observation] = {}
        if not plan.agents:
            return results
        try:
            await self._ensure_owners(meta, plan.namespaces)
        except ApiError as exc:
            raise ClusterError(f"cannot create the sweep's owner ConfigMap: {exc}") from exc
        sem = asyncio.Semaphore(self.max_agents)
        done_agents = 0
        done_probes = 0
        total_probes = len(plan.jobs)

        def report(phase: str) -> None:
            if progress:
                progress.update(
                    agents_done=done_agents,
                    agents_total=len(plan.agents),
                    probes_done=done_probes,
                    probes_total=total_probes,
                    phase=phase,
                )

        async def one(agent: AgentPlan) -> None:
            nonlocal done_agents, done_probes
            async with sem:
                obs = await self._run_agent(agent, meta)
            results.update(obs)
            done_agents += 1
            done_probes += len(agent.jobs)
            report("probing")

        report("starting")
        poller = asyncio.create_task(self._poll_loop(meta))
        tasks = [asyncio.create_task(one(a)) for a in plan.agents]
        try:
            timeout = None if self.deadline is None else max(0.0, self.deadline - self.clock())
            finished, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
            for t in finished:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if pending:
                self.incomplete = True
                self.notes.append(
                    f"the sweep deadline passed with {len(pending)} agent(s) unfinished; their probes are inconclusive"
                )
        finally:
            for t in tasks:
                t.cancel()
            poller.cancel()
            await asyncio.gather(*tasks, poller, return_exceptions=True)
            for w in self._waiters:
                if not w.future.done():
                    w.future.cancel()
            self._waiters.clear()
        for job in plan.jobs:
            results.setdefault(
                job.id, _error("the sweep deadline passed before this probe's agent finished", "deadline")
            )
        await self._discard_vanished_destinations(plan, results)
        return results

    async def _discard_vanished_destinations(self, plan: Plan, results: dict[str, Observation]) -> None:
        """A probe to a destination pod that was deleted or replaced while the sweep ran
        measured an empty address, not the policies: make it inconclusive (a filtered or
        unreachable answer would otherwise pass for a deny, or raise a false outage).

        One LIST per destination namespace per round: grows with namespaces, not probes.
        """
        if self.deadline is not None and self.clock() >= self.deadline:
            return  # the summary already says the sweep did not complete; no API call is allowed now
        jobs = [j for j in plan.jobs if j.scope is Scope.POD and results[j.id].state is not ProbeState.ERROR]
        live: dict[str, Mapping[str, Any]] = {}
        unchecked: set[str] = set()
        for ns in sorted({j.destination_pod.split("/", 1)[0] for j in jobs}):
            try:
                pods = await self._call(self.kube.list_pods, ns)
            except ClusterError as exc:  # deadline passed, API trouble: keep what was measured
                self.notes.append(f"could not check that the destination pods in {ns} still exist: {exc}")
                unchecked.add(ns)
                continue
            live.update({f"{ns}/{(p.get('metadata') or {}).get('name')}": p for p in pods})
        for job in jobs:
            if job.destination_pod.split("/", 1)[0] in unchecked:
                continue
            why = destination_change(live.get(job.destination_pod), job.address)
            if why:
                results[job.id] = _error(
                    f"the destination pod {job.destination_pod} {why} during the sweep", "destination-gone"
                )

    def _fallbacks(self, agent: AgentPlan, meta: SweepMeta) -> list[tuple[SourceMode, Method]]:
        """Where to run an agent, in order: as asked; for ``syn`` refused by admission
        (Pod Security forbids NET_RAW in ephemeral containers), a probe pod with ``syn``;
        then plain ``connect``, which needs no capability."""
        options = [(meta.source_mode, meta.method)]
        if meta.method is Method.SYN:
            if meta.source_mode is SourceMode.EPHEMERAL and not agent.identity.containers:
                options.append((SourceMode.POD, Method.SYN))
            options.append((meta.source_mode, Method.CONNECT))
        return options

    async def _launch(self, agent: AgentPlan, meta: SweepMeta) -> tuple[str, str]:
        """Create the agent (ephemeral container or probe pod); returns (pod, container)."""
        ns = agent.identity.namespace
        if meta.source_mode is SourceMode.EPHEMERAL:
            from orchestrator.sweep.deploy import ephemeral_container

            name = container_name(meta, agent)
            lock = self._pod_locks.setdefault(agent.identity.pod_key, asyncio.Lock())
            async with lock:
                await self._call(
                    self.kube.add_ephemeral_container, ns, agent.identity.pod, ephemeral_container(meta, agent)
                )
            return agent.identity.pod, name
        pod = probe_pod_name(meta, agent)
        await self._call(self.kube.create_pod, ns, probe_pod(meta, agent, self.owner_uids.get(ns, "")))
        self.created_pods.append((ns, pod))
        return pod, AGENT_CONTAINER

    async def _run_agent(self, agent: AgentPlan, meta: SweepMeta) -> dict[str, Observation]:
        """Launch one agent, wait for it, read its result; never raises per agent."""
        from orchestrator.cluster.kube import AdmissionDenied, ApiError

        ns = agent.identity.namespace
        attempts = self._fallbacks(agent, meta)
        for n, (mode, method) in enumerate(attempts):
            run_meta = replace(meta, source_mode=mode, method=method)
            run_agent = (
                agent
                if method is meta.method
                else AgentPlan(
                    agent.identity,
                    agent.index,
                    tuple(replace(j, method=method) if j.method is Method.SYN else j for j in agent.jobs),
                    agent.labels,
                )
            )
            try:
                pod, name = await self._launch(run_agent, run_meta)
            except UsageError:
                raise
            except AdmissionDenied as exc:
                if n + 1 < len(attempts):
                    nxt_mode, nxt_method = attempts[n + 1]
                    self.notes.append(
                        f"{agent.identity.key}: admission refused the agent in {mode} mode with "
                        f"{method} ({exc}); falling back to {nxt_mode} mode with {nxt_method}"
                    )
                    continue
                return _all(agent, _error(f"admission refused the agent for {agent.identity.pod_key}: {exc}"))
            except ApiError as exc:
                what = (
                    "add the agent's ephemeral container to"
                    if mode is SourceMode.EPHEMERAL
                    else "create the probe pod for"
                )
                return _all(agent, _error(f"could not {what} {agent.identity.pod_key}: {exc}"))
            break
        ephemeral = run_meta.source_mode is SourceMode.EPHEMERAL
        meta, agent = run_meta, run_agent
        until = self.clock() + agent_deadline_s(meta, agent) + self.start_grace_s
        if self.deadline is not None:
            until = min(until, self.deadline)
        fut: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(agent, pod, name, until, fut, ephemeral))
        self._wake.set()
        outcome, detail = await fut
        if outcome in ("gone", "failed", "timeout"):
            return _all(agent, _error(f"{agent.identity.pod_key}: {detail}"))
        try:
            log = await self._call(self.kube.read_log, ns, pod, name)
        except UsageError:
            raise
        except ApiError as exc:
            return _all(agent, _error(f"could not read the agent's log: {exc}"))
        obs, notes = parse_result_log(agent, log, exit_info=detail)
        self.notes.extend(notes)
        return obs

    async def _poll_loop(self, meta: SweepMeta) -> None:
        """One LIST per namespace per tick resolves every waiting agent in it."""
        from orchestrator.cluster.kube import ApiError
        from orchestrator.sweep.deploy import sweep_labels

        ephemeral = meta.source_mode is SourceMode.EPHEMERAL
        selector = None if ephemeral else ",".join(f"{k}={v}" for k, v in sweep_labels(meta.sweep_id).items())
        interval = FIRST_POLL_S
        while True:
            pending = [w for w in self._waiters if not w.future.done()]
            if not pending:
                self._wake.clear()
                await self._wake.wait()
                interval = FIRST_POLL_S
                continue
            await asyncio.sleep(min(interval, self.poll_interval))
            interval *= 2
            pending = [w for w in self._waiters if not w.future.done()]
            for ns in sorted({w.agent.identity.namespace for w in pending}):
                try:
                    pods = await self._call(self.kube.list_pods, ns, label_selector=selector)
                except ApiError as exc:
                    self.notes.append(f"listing pods in {ns} failed: {exc}")
                    continue
                by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
                now = self.clock()
                for w in pending:
                    if w.agent.identity.namespace != ns or w.future.done():
                        continue
                    outcome, detail = container_outcome(by_name.get(w.pod), w.container, ephemeral=w.ephemeral)
                    if outcome == "running" and now > w.until:
                        outcome, detail = "timeout", "the agent did not finish before its deadline"
                    if outcome != "running":
                        w.future.set_result((outcome, detail))
            self._waiters = [w for w in self._waiters if not w.future.done()]

    async def close(self) -> list[str]:
        """Delete this sweep's probe pods and owner ConfigMaps (ephemeral containers
        cannot be removed; their agents exit at their own deadline)."""
        from orchestrator.sweep.deploy import cleanup_sweep

        if self.meta is None:
            return []
        deleted = await asyncio.to_thread(
            cleanup_sweep, self.kube, self.meta.sweep_id, sorted(self.namespaces), list(self.created_pods)
        )
        self.created_pods.clear()
        self.owner_uids.clear()
        return deleted
