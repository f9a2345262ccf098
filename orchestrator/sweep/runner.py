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
  their status comes from one pod watch per namespace (:mod:`orchestrator.sweep.follow`),
  so API calls grow with the number of sources (and namespaces), never with probes,
  and bytes never with the sweep's duration.

Whatever stops the cluster runner early — its deadline (also one that expires inside an
API call), :meth:`ClusterRunner.request_stop` (SIGINT/SIGTERM), the API server going
away, a 5xx that persists, an RBAC refusal — it stops waiting at once, keeps every
observation it has, and marks each unfinished probe with the cause
(:mod:`orchestrator.sweep.ending`); ``ending`` says how the run ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from typing import Protocol as TypingProtocol

from orchestrator.errors import ClusterError, KubereachError, UsageError
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
from orchestrator.sweep.ending import AgentTrouble, EndCause, Ending, agent_trouble, cause_word
from orchestrator.sweep.follow import WATCH_WINDOW_S, Follower, Waiter
from orchestrator.sweep.plan import AgentPlan, Plan, ProbeJob, Scope, SourceMode
from probe.schema import Method, ProbeState, find_result_document

# Threads for blocking API calls beyond one per agent in flight: the namespace primes,
# the destination check and cleanup (watches have threads of their own).
EXTRA_API_THREADS = 4
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
    ending: Ending | None  # None while nothing stopped it

    async def run(self, plan: Plan, meta: SweepMeta, *, progress: ProgressSink | None = None) -> dict[str, Observation]:
        """An observation for every job of ``plan``."""

    async def sleep(self, seconds: float) -> None:
        """Pause (the settle before re-probing), cut short when the runner is stopped."""

    async def close(self) -> list[str]:
        """Remove whatever the runner created; returns what it removed."""


def _error(detail: str, evidence: str = "") -> Observation:
    """A probe that did not measure; its evidence is the cause's word when it has one."""
    return Observation(ProbeState.ERROR, evidence or cause_word(detail) or "not-measured", detail=detail)


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
    ending: Ending | None = None

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

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> list[str]:
        return []


# -- cluster -----------------------------------------------------------------------------


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
        return _all(agent, _error(agent_trouble(AgentTrouble.DIED, message))), []
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
    """("running"|"done"|"failed"|"died"|"gone", detail) for one agent container (pure).

    ``failed``: it can never start; ``died``: its pod ended before it did; ``gone``: the
    pod was deleted."""
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
            return "died", f"the pod ended ({phase}) before the agent finished"
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


def ending_for(exc: BaseException) -> Ending:
    """How an error that makes going on pointless ends the sweep."""
    from orchestrator.cluster.kube import ApiUnreachable, DeadlinePassed, RbacRefused

    if isinstance(exc, DeadlinePassed):
        return Ending(EndCause.DEADLINE, "", str(exc))
    if isinstance(exc, ApiUnreachable):
        return Ending(EndCause.API_UNREACHABLE, exc.cause, str(exc))
    if isinstance(exc, UsageError):
        cause = EndCause.RBAC_REFUSED if isinstance(exc, RbacRefused) else EndCause.CONFIG_ERROR
        return Ending(cause, "", str(exc))
    return Ending(EndCause.API_ERROR, "", str(exc))


class ClusterRunner:
    """Runs agents in a real (or lab) cluster through :class:`orchestrator.cluster.kube.Kube`."""

    def __init__(
        self,
        kube: Any,
        *,
        max_agents: int = 32,
        deadline: float | None = None,
        start_grace_s: float = START_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.max_agents = max(1, max_agents)
        self.deadline = deadline
        self.start_grace_s = start_grace_s
        self.clock = clock
        self.notes: list[str] = []
        self.owner_uids: dict[str, str] = {}
        self.created_pods: list[tuple[str, str]] = []
        self.meta: SweepMeta | None = None
        self.namespaces: set[str] = set()
        self.ending: Ending | None = None
        self.watch_connections = 0
        self._stopped: asyncio.Event | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_agents + EXTRA_API_THREADS, thread_name_prefix="kubereach-api"
        )
        self._inflight: set[concurrent.futures.Future[Any]] = set()
        # Patches of one pod's ephemeral containers go one at a time: each replaces the
        # list server-side, and an API server that does not retry conflicts could drop one.
        self._pod_locks: dict[str, asyncio.Lock] = {}

    @property
    def incomplete(self) -> bool:
        return self.ending is not None

    # -- stopping --------------------------------------------------------------------

    def _stop_event(self) -> asyncio.Event:
        if self._stopped is None:
            self._stopped = asyncio.Event()
            if self.ending is not None:
                self._stopped.set()
        return self._stopped

    def request_stop(self, ending: Ending) -> None:
        """Stop waiting for agents now (the first cause wins); call on the event loop."""
        if self.ending is None:
            self.ending = ending
        if self._stopped is not None:
            self._stopped.set()

    def _fail(self, exc: KubereachError) -> None:
        self.request_stop(ending_for(exc))

    async def sleep(self, seconds: float) -> None:
        """The settle pause: cut short by a stop, never past the deadline."""
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event().wait(), max(0.0, seconds))
        if self.deadline is not None and self.clock() >= self.deadline:
            self.request_stop(Ending(EndCause.DEADLINE, "", "the sweep deadline passed before the re-probe"))

    # -- blocking calls ----------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking API call on the runner's threads; cleanup waits for the calls
        still in flight (a create that lands after cleanup listed would be left over)."""
        future = self._pool.submit(fn, *args, **kwargs)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        return await asyncio.wrap_future(future)

    async def _settle_inflight(self) -> None:
        pending = [f for f in list(self._inflight) if not f.done()]
        if pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in pending])

    async def _ensure_owners(self, meta: SweepMeta, namespaces: tuple[str, ...]) -> None:
        for ns in namespaces:
            if ns in self.owner_uids:
                continue
            self.owner_uids.update(await self._call(apply_owners, self.kube, meta, [ns]))

    # -- the run -----------------------------------------------------------------------

    async def run(self, plan: Plan, meta: SweepMeta, *, progress: ProgressSink | None = None) -> dict[str, Observation]:
        from orchestrator.cluster.kube import ApiError

        self.meta = meta
        self.namespaces.update(plan.namespaces)
        self._stop_event()
        results: dict[str, Observation] = {}
        if not plan.agents:
            return results
        if self.ending is None:
            try:
                await self._ensure_owners(meta, plan.namespaces)
            except ApiError as exc:
                self.request_stop(Ending(EndCause.API_ERROR, "", f"cannot create the sweep's owner ConfigMap: {exc}"))
            except KubereachError as exc:
                self._fail(exc)
        if self.ending is None:
            await self._run_agents(plan, meta, results, progress)
        if self.ending is not None:
            unfinished = _error(self.ending.unfinished())
            for job in plan.jobs:
                results.setdefault(job.id, unfinished)
        else:
            await self._discard_vanished_destinations(plan, results)
        return results

    async def _run_agents(
        self, plan: Plan, meta: SweepMeta, results: dict[str, Observation], progress: ProgressSink | None
    ) -> None:
        from orchestrator.cluster.kube import ApiError
        from orchestrator.sweep.deploy import sweep_labels

        ephemeral = meta.source_mode is SourceMode.EPHEMERAL
        selector = None if ephemeral else ",".join(f"{k}={v}" for k, v in sweep_labels(meta.sweep_id).items())
        follower = Follower(
            self.kube,
            label_selector=selector,
            window_s=float(getattr(self.kube, "request_timeout", None) or WATCH_WINDOW_S),
            judge=_judge,
            on_failure=self._fail,
            call=self._call,
        )
        sem = asyncio.Semaphore(self.max_agents)
        done_agents = done_probes = 0

        def report(phase: str) -> None:
            if progress:
                progress.update(
                    agents_done=done_agents,
                    agents_total=len(plan.agents),
                    probes_done=done_probes,
                    probes_total=len(plan.jobs),
                    phase=phase,
                )

        async def one(agent: AgentPlan) -> None:
            nonlocal done_agents, done_probes
            async with sem:
                if self.ending is not None:
                    return
                try:
                    obs = await self._run_agent(agent, meta, follower)
                except ApiError as exc:  # this agent's namespace or pod, not the sweep
                    obs = _all(agent, _error(agent_trouble(AgentTrouble.NOT_STARTED, str(exc))))
                except KubereachError as exc:  # unreachable, deadline, 5xx, RBAC: the sweep ends
                    self._fail(exc)
                    return
            results.update(obs)
            done_agents += 1
            done_probes += len(agent.jobs)
            report("probing")

        report("starting")
        stopped = self._stop_event()
        tasks = [asyncio.create_task(one(a)) for a in plan.agents]
        stop_wait = asyncio.create_task(stopped.wait())
        try:
            pending: set[asyncio.Task[Any]] = set(tasks)
            while pending and not stopped.is_set():
                timeout = None if self.deadline is None else max(0.0, self.deadline - self.clock())
                done, pending = await asyncio.wait(
                    pending | {stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop_wait)
                if not done:
                    self.request_stop(
                        Ending(
                            EndCause.DEADLINE,
                            "",
                            f"the sweep deadline passed with {len(pending)} agent(s) unfinished",
                        )
                    )
        finally:
            for t in (*tasks, stop_wait):
                t.cancel()
            await asyncio.gather(*tasks, stop_wait, return_exceptions=True)
            follower.close()
            self.watch_connections += follower.connections

    async def _discard_vanished_destinations(self, plan: Plan, results: dict[str, Observation]) -> None:
        """A probe to a destination pod that was deleted or replaced while the sweep ran
        measured an empty address, not the policies: make it inconclusive (a filtered or
        unreachable answer would otherwise pass for a deny, or raise a false outage).

        One (paged) LIST per destination namespace per round: grows with namespaces, not
        probes, nor with the sweep's duration.
        """
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

    @staticmethod
    def _where(agent: AgentPlan, meta: SweepMeta) -> tuple[str, str]:
        """(pod, container) the agent will run as."""
        if meta.source_mode is SourceMode.EPHEMERAL:
            return agent.identity.pod, container_name(meta, agent)
        return probe_pod_name(meta, agent), AGENT_CONTAINER

    async def _launch(self, agent: AgentPlan, meta: SweepMeta) -> None:
        """Create the agent: an ephemeral container, or a probe pod."""
        ns = agent.identity.namespace
        if meta.source_mode is SourceMode.EPHEMERAL:
            from orchestrator.sweep.deploy import ephemeral_container

            lock = self._pod_locks.setdefault(agent.identity.pod_key, asyncio.Lock())
            async with lock:
                await self._call(
                    self.kube.add_ephemeral_container, ns, agent.identity.pod, ephemeral_container(meta, agent)
                )
            return
        pod = probe_pod_name(meta, agent)
        await self._call(self.kube.create_pod, ns, probe_pod(meta, agent, self.owner_uids.get(ns, "")))
        self.created_pods.append((ns, pod))

    async def _run_agent(self, agent: AgentPlan, meta: SweepMeta, follower: Follower) -> dict[str, Observation]:
        """Launch one agent, wait for it, read its result. Per-agent trouble becomes its
        probes' detail; only what ends the sweep (KubereachError but ApiError) escapes."""
        from orchestrator.cluster.kube import AdmissionDenied, ApiError

        ns = agent.identity.namespace
        await follower.ready(ns)
        attempts = self._fallbacks(agent, meta)
        waiter: Waiter | None = None
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
            pod, name = self._where(run_agent, run_meta)
            # followed before it exists, so not even an agent that ends at once is missed
            waiter = follower.follow(ns, pod, name, ephemeral=mode is SourceMode.EPHEMERAL)
            try:
                await self._launch(run_agent, run_meta)
            except AdmissionDenied as exc:
                follower.unfollow(waiter)
                if n + 1 < len(attempts):
                    nxt_mode, nxt_method = attempts[n + 1]
                    self.notes.append(
                        f"{agent.identity.key}: admission refused the agent in {mode} mode with "
                        f"{method} ({exc}); falling back to {nxt_mode} mode with {nxt_method}"
                    )
                    continue
                why = f"admission refused the agent for {agent.identity.pod_key}: {exc}"
                return _all(agent, _error(agent_trouble(AgentTrouble.NOT_STARTED, why)))
            except ApiError as exc:
                follower.unfollow(waiter)
                what = "create the probe pod for"
                if mode is SourceMode.EPHEMERAL:
                    what = "add the agent's ephemeral container to"
                why = f"could not {what} {agent.identity.pod_key}: {exc}"
                return _all(agent, _error(agent_trouble(AgentTrouble.NOT_STARTED, why)))
            except BaseException:
                follower.unfollow(waiter)
                raise
            break
        assert waiter is not None
        waiter.launched = True
        meta, agent = run_meta, run_agent
        budget = agent_deadline_s(meta, agent) + self.start_grace_s
        try:
            outcome, detail = await asyncio.wait_for(asyncio.shield(waiter.future), budget)
        except TimeoutError:
            outcome, detail = "timeout", f"it did not finish within {budget:.0f} s (its deadline plus time to start)"
        finally:
            follower.unfollow(waiter)
        kinds = {
            "gone": AgentTrouble.DIED,
            "died": AgentTrouble.DIED,
            "failed": AgentTrouble.NOT_STARTED,
            "timeout": AgentTrouble.TIMEOUT,
        }
        if outcome in kinds:
            where = "the source pod" if waiter.ephemeral else "its probe pod"
            text = f"{where} {agent.identity.pod_key} was deleted" if outcome == "gone" else detail
            return _all(agent, _error(agent_trouble(kinds[outcome], text)))
        try:
            log = await self._call(self.kube.read_log, ns, waiter.pod, waiter.container)
        except ApiError as exc:
            return _all(agent, _error(agent_trouble(AgentTrouble.LOG_UNREADABLE, f"could not read it: {exc}")))
        obs, notes = parse_result_log(agent, log, exit_info=detail)
        self.notes.extend(notes)
        return obs

    async def close(self) -> list[str]:
        """Delete this sweep's probe pods and owner ConfigMaps (ephemeral containers
        cannot be removed; their agents exit at their own deadline). Waits first for API
        calls still in flight, so a pod created a moment after an interrupt goes too."""
        from orchestrator.sweep.deploy import cleanup_sweep

        try:
            await self._settle_inflight()
            if self.meta is None:
                return []
            deleted: list[str] = await self._call(
                cleanup_sweep, self.kube, self.meta.sweep_id, sorted(self.namespaces), list(self.created_pods)
            )
            self.created_pods.clear()
            self.owner_uids.clear()
            return deleted
        finally:
            self._pool.shutdown(wait=False)


def _judge(waiter: Waiter, pod: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The watch's verdict on one waiting agent: None while it runs."""
    if pod is None and not waiter.launched:
        return None  # not created yet: its pod's absence means nothing
    outcome, detail = container_outcome(pod, waiter.container, ephemeral=waiter.ephemeral)
    return None if outcome == "running" else (outcome, detail)
