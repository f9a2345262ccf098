"""Jobs: pods that run to completion, retried up to ``backoffLimit``.

:func:`plan_job` is the decision, pure:

- at most ``parallelism`` pods run at once, and never more than the completions still
  missing (``completions`` defaults to 1; without it, the Job is done when one pod
  succeeded and none runs). ``Indexed`` jobs give each pod its index (annotation and
  label ``batch.kubernetes.io/job-completion-index``, hostname ``<job>-<index>``,
  ``JOB_COMPLETION_INDEX``) and are done when every index succeeded once;
- a Failed pod counts toward ``backoffLimit``; beyond it the Job fails
  (``FailureTarget`` then ``Failed``, reason ``BackoffLimitExceeded``) and its running
  pods are deleted. A new pod after a failure waits 10 s, doubling per failure, up to
  6 minutes (the real controller's backoff);
- ``activeDeadlineSeconds`` after the start the Job fails with ``DeadlineExceeded``;
- ``suspend`` deletes running pods and creates none;
- done: ``SuccessCriteriaMet`` then ``Complete`` (reason ``CompletionsReached``), with
  ``completionTime``; ``ttlSecondsAfterFinished`` later the Job is deleted.

What a pod "does" is up to the node: the lab runs a Job container's ``command`` and the
pod ends with its exit status (:mod:`lab.node.podspec`). The lab's node never restarts a
container, so a pod of an ``OnFailure`` Job fails as a ``Never`` one would, and counts as
one failure (a kubelet would restart it in place and count the restarts).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers.client import Client
from lab.controllers.manager import Key
from lab.store import Event

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
BACKOFF_BASE_SECONDS = 10.0  # the Job controller's DefaultJobPodFailureBackOff
BACKOFF_MAX_SECONDS = 360.0  # MaxJobPodFailureBackOff


@dataclass
class JobPlan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)
    delete_job: bool = False
    status: dict[str, Any] | None = None
    requeue_after: float | None = None


def finished(job: Mapping[str, Any]) -> str | None:
    """ "Complete" or "Failed" once the Job has finished, else None."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _index(pod: Mapping[str, Any]) -> int | None:
    raw = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _ranges(indexes: Iterable[int]) -> str:
    """``{0, 1, 2, 4}`` -> ``"0-2,4"`` (how ``status.completedIndexes`` is written)."""
    out: list[str] = []
    for i in sorted(set(indexes)):
        if out and out[-1].split("-")[-1] == str(i - 1):
            out[-1] = out[-1].split("-")[0] + f"-{i}"
        else:
            out.append(str(i))
    return ",".join(out)


def _job_pod(job: Mapping[str, Any], index: int | None) -> dict[str, Any]:
    template = (job.get("spec") or {}).get("template") or {}
    name = job["metadata"]["name"]
    if index is None:
        return C.pod_from_template(template, job, R.JOBS)
    spec = dict(template.get("spec") or {})
    containers = []
    for c in spec.get("containers") or []:
        env = [e for e in c.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
        env.append({"name": "JOB_COMPLETION_INDEX", "value": str(index)})
        containers.append({**c, "env": env})
    return C.pod_from_template(
        template,
        job,
        R.JOBS,
        generate_name=f"{name}-{index}-",
        labels={INDEX_KEY: str(index)},
        annotations={INDEX_KEY: str(index)},
        spec_overrides={"containers": containers, "hostname": f"{name}-{index}"},
    )


def plan_job(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *, now: _dt.datetime) -> JobPlan:
    spec = job.get("spec") or {}
    status0 = dict(job.get("status") or {})
    plan = JobPlan()
    indexed = spec.get("completionMode") == "Indexed"
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1))
    active = [p for p in pods if C.is_active(p)]
    succeeded_pods = [p for p in pods if C.phase(p) == "Succeeded"]
    failed_pods = [p for p in pods if C.phase(p) == "Failed"]
    succeeded = max(len(succeeded_pods), int(status0.get("succeeded") or 0))
    failed = max(len(failed_pods), int(status0.get("failed") or 0))
    conditions = list(status0.get("conditions") or [])
    start = C.parse_time(status0.get("startTime"))
    done = finished(job)
    done_indexes = {i for p in succeeded_pods if (i := _index(p)) is not None}
    if not done and not spec.get("suspend") and start is None:
        start = now
    failure: tuple[str, str] | None = None
    if not done:
        if failed > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif spec.get("activeDeadlineSeconds") is not None and start is not None:
            if (now - start).total_seconds() >= int(spec["activeDeadlineSeconds"]):
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            else:
                plan.requeue_after = int(spec["activeDeadlineSeconds"]) - (now - start).total_seconds() + 0.1
    complete = False
    if not done and failure is None:
        if indexed:
            complete = completions is not None and len(done_indexes) >= int(completions)
        elif completions is not None:
            complete = succeeded >= int(completions)
        else:
            complete = succeeded > 0 and not active
    if failure is not None:
        conditions = C.set_condition(conditions, "FailureTarget", "True", failure[0], failure[1], now)
        conditions = C.set_condition(conditions, "Failed", "True", failure[0], failure[1], now)
        plan.delete = [dict(p) for p in active]
        done = "Failed"
    elif complete:
        message = "Reached expected number of succeeded pods"
        conditions = C.set_condition(conditions, "SuccessCriteriaMet", "True", "CompletionsReached", message, now)
        conditions = C.set_condition(conditions, "Complete", "True", "CompletionsReached", message, now)
        status0["completionTime"] = C.rfc3339(now)
        plan.delete = [dict(p) for p in active]
        done = "Complete"
    elif not done:
        if spec.get("suspend"):
            plan.delete = [dict(p) for p in active]
            conditions = C.set_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
        else:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions):
                conditions = C.set_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
            wait = _backoff_left(failed_pods, failed, now)
            if wait > 0:
                plan.requeue_after = min(plan.requeue_after or wait, wait)
            else:
                plan.create = _to_create(job, active, succeeded, done_indexes, indexed, completions, parallelism)
    status: dict[str, Any] = {
        "active": 0 if done else len(active),
        "ready": sum(1 for p in active if C.is_ready(p)),
        "terminating": sum(1 for p in pods if C.being_deleted(p) and not C.is_finished(p)),
        "uncountedTerminatedPods": {},
    }
    if succeeded:
        status["succeeded"] = succeeded
    if failed:
        status["failed"] = failed
    if start is not None:
        status["startTime"] = C.rfc3339(start)
    if status0.get("completionTime"):
        status["completionTime"] = status0["completionTime"]
    if indexed and done_indexes:
        status["completedIndexes"] = _ranges(done_indexes)
    if conditions:
        status["conditions"] = conditions
    if not status["active"]:
        status.pop("active")
    plan.status = status
    ttl = spec.get("ttlSecondsAfterFinished")
    if done and ttl is not None:
        finished_at = max(
            (
                C.parse_time(c.get("lastTransitionTime")) or now
                for c in conditions
                if c.get("type") in ("Complete", "Failed")
            ),
            default=now,
        )
        left = (finished_at + _dt.timedelta(seconds=int(ttl)) - now).total_seconds()
        if left <= 0:
            plan.delete_job = True
        else:
            plan.requeue_after = left + 0.1
    return plan


def _backoff_left(failed_pods: Sequence[Mapping[str, Any]], failed: int, now: _dt.datetime) -> float:
    if not failed:
        return 0.0
    last = max(
        (
            C.parse_time(s.get("state", {}).get("terminated", {}).get("finishedAt"))
            or C.parse_time(p["metadata"].get("creationTimestamp"))
            or now
            for p in failed_pods
            for s in ((p.get("status") or {}).get("containerStatuses") or [{}])
        ),
        default=None,
    )
    if last is None:
        return 0.0
    delay = min(BACKOFF_BASE_SECONDS * 2 ** (failed - 1), BACKOFF_MAX_SECONDS)
    return max((last + _dt.timedelta(seconds=delay) - now).total_seconds(), 0.0)


def _to_create(
    job: Mapping[str, Any],
    active: Sequence[Mapping[str, Any]],
    succeeded: int,
    done_indexes: set[int],
    indexed: bool,
    completions: Any,
    parallelism: int,
) -> list[dict[str, Any]]:
    if indexed:
        running = {i for p in active if (i := _index(p)) is not None}
        missing = [i for i in range(int(completions)) if i not in done_indexes and i not in running]
        room = max(parallelism - len(active), 0)
        return [_job_pod(job, i) for i in missing[:room]]
    if completions is None:
        want = parallelism if succeeded == 0 else 0
    else:
        want = min(parallelism, int(completions) - succeeded)
    return [_job_pod(job, None) for _ in range(max(want - len(active), 0))]


class JobController:
    name = "jobs"
    watches = frozenset({R.JOBS.key, "pods"})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.JOBS)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == R.JOBS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        ref = C.controller_of(event.obj)
        return [(event.namespace, ref["name"])] if ref is not None and ref.get("kind") == "Job" else []

    async def sync(self, key: Key) -> float | None:
        job = self.client.get(R.JOBS, *key)
        if job is None or C.being_deleted(job):
            return None
        plan = plan_job(job, self.client.owned(job, R.PODS), now=_dt.datetime.now(_dt.UTC))
        if plan.delete_job:
            self.client.delete(R.JOBS, job, propagation="Foreground")
            return None
        for pod in plan.delete:
            self.client.delete(R.PODS, pod)
        if plan.create:
            await self.client.create_many(R.PODS, key[0], plan.create)
        current = self.client.get(R.JOBS, *key)
        if current is not None and plan.status is not None:
            await self.client.update_status(R.JOBS, current, plan.status)
        return plan.requeue_after
