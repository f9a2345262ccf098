"""The sweep as an application function: snapshot -> plan -> run -> compare -> results.

:func:`execute` is the core, independent of where the snapshot came from and how
probes run (a :class:`~orchestrator.sweep.runner.Runner`), so unit tests drive it with the
:class:`~orchestrator.sweep.runner.SimulatedRunner` and plain data. :func:`run_live` wires it
to a cluster: kubeconfig, discovery, the :class:`~orchestrator.sweep.runner.ClusterRunner`,
signal handling and cleanup. The CLI only parses flags and renders.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import KubereachError
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
from orchestrator.sweep.plan import Plan, PlanOptions, Scope, Skipped, build_plan, intrapod_rules_of


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
    complete: bool
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    reprobed: int = 0
    cleaned: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
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
    sleep: Any = asyncio.sleep,
) -> SweepResult:
    """Plan, probe, compare, re-probe mismatches after ``settle_s``, and confirm."""
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
    complete = not getattr(runner, "incomplete", False)
    bad = mismatching(rows)
    reprobed = 0
    if bad and options.settle_s > 0 and complete:
        await sleep(options.settle_s)
        t2 = time.monotonic()
        sub = plan.subset(bad, index_offset=0)
        again = await runner.run(sub, replace(meta, round=1), progress=progress)
        timings["reprobe_s"] = time.monotonic() - t2
        second = {r.job.id: r for r in compare(sub.jobs, expectations, again, options.compare)}
        rows = confirm(rows, second)
        reprobed = len(sub.jobs)
        complete = not getattr(runner, "incomplete", False)
    elif bad:
        rows = confirm(rows, None)
    return SweepResult(meta.sweep_id, plan, rows, complete, list(getattr(runner, "notes", [])), timings, reprobed)


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
    result: SweepResult | None
    snapshot: Snapshot
    context: str
    namespaces: tuple[str, ...] | None
    api_calls: dict[str, int]
    api_call_total: int
    api_call_log: list[dict[str, Any]]
    started_at: str
    wall_s: float
    interrupted: str | None = None
    error: KubereachError | None = None
    meta: SweepMeta | None = None  # as run (with started_at)


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
    from orchestrator.cluster.discovery import discover
    from orchestrator.cluster.kube import load_cluster
    from orchestrator.sweep.runner import ClusterRunner

    started = datetime.now(UTC)
    t0 = time.monotonic()
    kube = load_cluster(
        cluster.kubeconfig, cluster.context, request_timeout=cluster.request_timeout, pool_size=options.max_agents + 4
    )
    namespaces: tuple[str, ...] | None = (
        None if cluster.all_namespaces else (cluster.namespaces or (kube.info.namespace,))
    )
    meta = replace(meta, started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"))
    outcome_error: KubereachError | None = None
    interrupted: str | None = None
    result: SweepResult | None = None
    snapshot = Snapshot(namespaces={}, pods=())
    runner: ClusterRunner | None = None
    try:
        kube.deadline = time.monotonic() + deadline_s
        snapshot = discover(kube, namespaces)
        if log:
            log(
                f"discovered {len(snapshot.pods)} pods, {len(snapshot.policies)} NetworkPolicies in "
                f"{'all namespaces' if namespaces is None else ', '.join(namespaces)} "
                f"(context {kube.info.context})"
            )
        if dry_run_out is not None:
            from orchestrator.sweep.deploy import render_manifests, render_yaml

            plan = build_plan(snapshot, options.plan)
            dry_run_out(render_yaml(render_manifests(plan, meta)))
        else:
            runner = ClusterRunner(kube, max_agents=options.max_agents, deadline=kube.deadline)
            result = _run_with_signals(execute(snapshot, runner, meta, options, progress=progress), options.max_agents)
    except _Interrupted as exc:
        interrupted = exc.signame
    except KeyboardInterrupt:  # Ctrl-C outside the probing phase (discovery, planning)
        interrupted = "SIGINT"
    except KubereachError as exc:
        outcome_error = exc
    finally:
        cleaned: list[str] = []
        if runner is not None:
            kube.deadline = None  # cleanup must run even after the sweep deadline passed
            try:
                cleaned = asyncio.run(runner.close())
            except (KubereachError, KeyboardInterrupt) as exc:
                if log:
                    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {exc}"
                    log(f"cleanup {why}; run `kubereach cleanup` to remove this sweep's leftovers")
                if isinstance(exc, KeyboardInterrupt) and interrupted is None:
                    interrupted = "SIGINT"
            if result is not None:
                result.cleaned = cleaned
        kube.close()
    return LiveOutcome(
        result,
        snapshot,
        kube.info.context,
        namespaces,
        kube.call_counts(),
        kube.call_count,
        [c.to_dict() for c in list(kube.calls)],
        started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        time.monotonic() - t0,
        interrupted,
        outcome_error,
        meta,
    )


class _Interrupted(Exception):
    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


def _run_with_signals(coro: Any, max_agents: int) -> Any:
    """Run ``coro``; SIGINT/SIGTERM cancel it (the caller then cleans up)."""

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        # Kubernetes client calls block: one thread per agent in flight, plus the poller.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=max_agents + 4, thread_name_prefix="kubereach-api"))
        task = asyncio.current_task()
        received: list[str] = []

        def on_signal(signame: str) -> None:
            received.append(signame)
            if task is not None:
                task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig.name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            return await coro
        except asyncio.CancelledError:
            if received:
                raise _Interrupted(received[0]) from None
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


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
