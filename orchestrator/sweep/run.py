"""The sweep as an application function: snapshot -> plan -> run -> compare -> results.

:func:`execute` is the core, independent of where the snapshot came from and how
probes run (a :class:`~orchestrator.sweep.runner.Runner`), so unit tests drive it with the
:class:`~orchestrator.sweep.runner.SimulatedRunner` and plain data. :func:`run_live` wires it
to a cluster: kubeconfig, discovery, the :class:`~orchestrator.sweep.runner.ClusterRunner`,
signal handling and cleanup, all on one event loop. The CLI only parses flags and renders.

A sweep that stops early still has a result: once discovery finished, whatever ends the
sweep (deadline, SIGINT/SIGTERM, the API server going away, RBAC) leaves every finished
probe measured, every other one inconclusive with the cause, and ``ending`` saying why.
The first signal stops probing (results are still written and the sweep's objects
removed); a second one also cuts the cleanup short.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import EXIT_USAGE, ClusterError, KubereachError, UsageError
from orchestrator.model.verdict import Decision
from orchestrator.snapshot.types import Snapshot
from orchestrator.sweep.compare import (
    CompareOptions,
    Expectation,
    Row,
    compare,
    confirm,
    exit_status,
    mismatching,
)
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.ending import COMPLETED, EndCause, Ending
from orchestrator.sweep.plan import Plan, PlanOptions, Scope, Skipped, build_plan, intrapod_rules_of

# After the sweep (even one cut by its deadline or the API server going away), removing
# its objects gets this long: a few calls per namespace take seconds on a slow server,
# and a dead or hung one must not hold the user for longer than a minute.
CLEANUP_BUDGET_S = 60.0


@dataclass(frozen=True, slots=True)
class SweepOptions:
    plan: PlanOptions = PlanOptions()
    compare: CompareOptions = CompareOptions()
    settle_s: float = 2.0  # wait before re-probing mismatches; 0 disables the re-probe
    max_agents: int = 32


@dataclass
class SweepResult:
    sweep_id: str
    plan: Plan
    rows: list[Row]
    ending: Ending = COMPLETED
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    reprobed: int = 0
    cleaned: list[str] = field(default_factory=list)
    cleanup_error: str = ""  # why the sweep's objects could not all be removed

    @property
    def complete(self) -> bool:
        return self.ending.completed

    @property
    def exit_code(self) -> int:
        """DESIGN.md: 2 when the user must fix RBAC or credentials; else 1 for a mismatch,
        3 for an incomplete run or inconclusive probes, 0 when every probe is ok."""
        if self.ending.cause.users_to_fix:
            return EXIT_USAGE
        return exit_status(self.rows, complete=self.complete)


def new_sweep_id() -> str:
    """8 hex characters: unique enough that two concurrent sweeps never share names."""
    return secrets.token_hex(4)


def expectations_for(snapshot: Snapshot, plan: Plan) -> dict[str, Expectation]:
    """The policy model's (and intra-pod rules') verdict for every job of the plan.

    A service job's expectation is its backends' common verdict (kube-proxy picks one at
    random); when backends disagree the job has no single expectation and is left out
    (see :func:`ambiguous_services`).
    """
    from orchestrator.model import PolicyModel
    from probe.intrapod_rules import decide
    from probe.schema import PortRef

    model = PolicyModel(snapshot)
    pods = {p.key: p for p in snapshot.pods}
    out: dict[str, Expectation] = {}
    rules_cache: dict[str, Any] = {}
    for job in plan.jobs:
        if job.scope is Scope.POD:
            v = model.evaluate(pods[job.source_pod], pods[job.destination_pod], job.port, job.protocol)
            out[job.id] = Expectation(v.decision, v.reason)
        elif job.scope is Scope.SERVICE:
            verdicts = [
                (backend, port, model.evaluate(pods[job.source_pod], pods[backend], port, job.protocol))
                for backend, port in job.backends
            ]
            decisions = {v.decision for _, _, v in verdicts}
            if len(decisions) == 1:
                backend, port, v = verdicts[0]
                note = f"all {len(verdicts)} backends" if len(verdicts) > 1 else f"backend {backend}:{port}"
                out[job.id] = Expectation(decisions.pop(), f"service -> {note}: {v.reason}")
        else:
            if job.source_pod not in rules_cache:
                rules_cache[job.source_pod] = intrapod_rules_of(pods[job.source_pod])[0]
            rules = rules_cache[job.source_pod]
            src_c = job.source.rsplit("/", 1)[1]
            dst_c = job.destination.rsplit("/", 1)[1]
            d = decide(rules, src_c, dst_c, PortRef(job.port, job.protocol))
            out[job.id] = Expectation(Decision(d.action.value), f"intra-pod {d.reason}")
    return out


def ambiguous_services(plan: Plan, expectations: dict[str, Expectation]) -> list[Skipped]:
    """Service probes whose backends the policies treat differently: not probed."""
    seen: dict[tuple[str, str, int], Skipped] = {}
    for job in plan.jobs:
        if job.id not in expectations:
            key = (job.source, job.destination, job.port)
            seen[key] = Skipped(
                f"{job.source} -> service {job.destination}:{job.port}/{job.protocol}",
                "the policies allow some backends and deny others: the result would depend "
                "on which backend kube-proxy picks",
            )
    return list(seen.values())


async def execute(
    snapshot: Snapshot,
    runner: Any,
    meta: SweepMeta,
    options: SweepOptions,
    *,
    progress: Any = None,
    sleep: Any = None,
) -> SweepResult:
    """Plan, probe, compare, re-probe mismatches after ``settle_s``, and confirm.

    ``sleep`` (default: the runner's, which a stop cuts short) is the settle pause. A
    runner that was stopped returns every job anyway (unfinished ones inconclusive with
    the cause), so the result always covers the whole plan.
    """
    t0 = time.monotonic()
    plan = build_plan(snapshot, options.plan)
    expectations = expectations_for(snapshot, plan)
    unclear = ambiguous_services(plan, expectations)
    if unclear:
        plan = plan.without([j.id for j in plan.jobs if j.id not in expectations], unclear)
    timings = {"plan_s": time.monotonic() - t0}
    t1 = time.monotonic()
    observed = await runner.run(plan, meta, progress=progress)
    timings["probe_s"] = time.monotonic() - t1
    rows = compare(plan.jobs, expectations, observed, options.compare)
    bad = mismatching(rows)
    reprobed = 0
    if bad and options.settle_s > 0 and runner.ending is None:
        await (sleep or runner.sleep)(options.settle_s)
        t2 = time.monotonic()
        sub = plan.subset(bad, index_offset=0)
        again = await runner.run(sub, replace(meta, round=1), progress=progress)
        timings["reprobe_s"] = time.monotonic() - t2
        second = {r.job.id: r for r in compare(sub.jobs, expectations, again, options.compare)}
        rows = confirm(rows, second)
        reprobed = len(sub.jobs) if runner.ending is None else 0
    elif bad:
        rows = confirm(rows, None)
    return SweepResult(meta.sweep_id, plan, rows, runner.ending or COMPLETED, list(runner.notes), timings, reprobed)


# -- live ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    request_timeout: float | None = None


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class LiveOutcome:
    """What a live sweep produced. ``result`` is None when discovery did not finish
    (``error`` or ``ending`` says why) or for a dry run."""

    result: SweepResult | None
    snapshot: Snapshot
    context: str
    namespaces: tuple[str, ...] | None
    api_calls: dict[str, int]
    api_call_total: int
    api_call_log: list[dict[str, Any]]
    started_at: str
    wall_s: float
    ending: Ending = COMPLETED
    error: KubereachError | None = None
    meta: SweepMeta | None = None  # as run (with started_at)
    watch_connections: int = 0

    @property
    def interrupted(self) -> str | None:
        """The signal that stopped the sweep (SIGINT, SIGTERM), if one did."""
        return self.ending.detail if self.ending.cause is EndCause.INTERRUPTED else None


def run_live(
    cluster: ClusterOptions,
    meta: SweepMeta,
    options: SweepOptions,
    *,
    deadline_s: float,
    progress: Any = None,
    dry_run_out: Any = None,
    log: Any = None,
) -> LiveOutcome:
    """Discover, plan and (unless dry-run) probe a live cluster; always cleans up.

    ``dry_run_out``: a callable receiving the YAML of every object the sweep would
    create; then nothing is created and ``result`` is None.
    """
    from orchestrator.cluster.kube import load_cluster

    started = datetime.now(UTC)
    t0 = time.monotonic()
    kube = load_cluster(
        cluster.kubeconfig, cluster.context, request_timeout=cluster.request_timeout, pool_size=options.max_agents + 4
    )
    namespaces: tuple[str, ...] | None = (
        None if cluster.all_namespaces else (cluster.namespaces or (kube.info.namespace,))
    )
    meta = replace(meta, started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"))
    live = _LiveSweep(kube, namespaces, meta, options, deadline_s, progress, dry_run_out, log or (lambda _m: None))
    try:
        asyncio.run(live.main())
    finally:
        kube.close()
    return LiveOutcome(
        live.result,
        live.snapshot,
        kube.info.context,
        namespaces,
        kube.call_counts(),
        kube.call_count,
        [c.to_dict() for c in list(kube.calls)],
        started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        time.monotonic() - t0,
        live.result.ending if live.result is not None else (live.ending or COMPLETED),
        live.error,
        meta,
        live.runner.watch_connections if live.runner is not None else 0,
    )


class _LiveSweep:
    """One live sweep on one event loop: discovery in a thread, the runner, signals, cleanup."""

    def __init__(
        self,
        kube: Any,
        namespaces: tuple[str, ...] | None,
        meta: SweepMeta,
        options: SweepOptions,
        deadline_s: float,
        progress: Any,
        dry_run_out: Any,
        log: Any,
    ) -> None:
        self.kube, self.namespaces, self.meta, self.options = kube, namespaces, meta, options
        self.deadline_s, self.progress, self.dry_run_out, self.log = deadline_s, progress, dry_run_out, log
        self.snapshot = Snapshot(namespaces={}, pods=())
        self.result: SweepResult | None = None
        self.runner: Any = None
        self.ending: Ending | None = None
        self.error: KubereachError | None = None
        self.signals: list[str] = []
        self._stopped = asyncio.Event()
        self._hurry = asyncio.Event()

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
        if self.runner is not None:
            self.runner.request_stop(ending)
        self._stopped.set()

    def on_signal(self, signame: str) -> None:
        self.signals.append(signame)
        if len(self.signals) == 1:
            self.log(f"{signame}: stopping; finished probes are kept, unfinished ones become inconclusive")
            self.stop(Ending(EndCause.INTERRUPTED, signame))
        else:  # a second signal: the user will not wait for the cleanup either
            self.kube.deadline = time.monotonic()
            self._hurry.set()

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.on_signal, sig.name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            self.kube.deadline = time.monotonic() + self.deadline_s
            snapshot = await self._discover()
            if snapshot is None:
                return
            self.snapshot = snapshot
            if self.dry_run_out is not None:
                from orchestrator.sweep.deploy import render_manifests, render_yaml

                self.dry_run_out(render_yaml(render_manifests(build_plan(snapshot, self.options.plan), self.meta)))
                return
            from orchestrator.sweep.runner import ClusterRunner

            self.runner = ClusterRunner(self.kube, max_agents=self.options.max_agents, deadline=self.kube.deadline)
            if self.ending is not None:
                self.runner.request_stop(self.ending)
            self.result = await execute(snapshot, self.runner, self.meta, self.options, progress=self.progress)
        finally:
            await self._cleanup()
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _discover(self) -> Snapshot | None:
        from orchestrator.cluster.discovery import discover

        task = asyncio.ensure_future(asyncio.to_thread(discover, self.kube, self.namespaces))
        stop_wait = asyncio.ensure_future(self._stopped.wait())
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if not task.done():  # interrupted: the discovery thread's next request fails at once
            self.kube.deadline = time.monotonic()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "never retrieved"
            return None
        try:
            snapshot: Snapshot = task.result()
        except UsageError as exc:
            self.error = exc
            return None
        except ClusterError as exc:
            from orchestrator.sweep.runner import ending_for

            self.error, self.ending = exc, ending_for(exc)
            return None
        self.log(
            f"discovered {len(snapshot.pods)} pods, {len(snapshot.policies)} NetworkPolicies in "
            f"{'all namespaces' if self.namespaces is None else ', '.join(self.namespaces)} "
            f"(context {self.kube.info.context})"
        )
        return snapshot

    async def _cleanup(self) -> None:
        if self.runner is None:
            return
        why = ""
        cleaned: list[str] = []
        if self._hurry.is_set():
            why = "skipped after a second signal"
        else:
            self.kube.deadline = time.monotonic() + CLEANUP_BUDGET_S  # also after the sweep's deadline
            task = asyncio.ensure_future(self.runner.close())
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait({task, hurry}, return_when=asyncio.FIRST_COMPLETED)
            hurry.cancel()
            if not task.done():
                why = "interrupted by a second signal"
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            elif task.exception() is not None:
                exc = task.exception()
                why = f"failed: {exc}" if isinstance(exc, KubereachError) else f"failed: {exc!r}"
            else:
                cleaned = task.result()
        if why and self.result is None:  # else the results and the CLI say it
            self.log(f"cleanup {why}; run `kubereach cleanup` to remove this sweep's leftovers")
        if self.result is not None:
            self.result.cleaned = cleaned
            self.result.cleanup_error = why


__all__ = [
    "ClusterOptions",
    "LiveOutcome",
    "SweepOptions",
    "SweepResult",
    "execute",
    "expectations_for",
    "new_sweep_id",
    "run_live",
    "utc_stamp",
]
