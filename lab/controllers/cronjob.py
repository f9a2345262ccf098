"""CronJobs: a Job at every scheduled minute (:mod:`lab.cron`), and a short history.

:func:`plan_cronjob` is the decision, pure: the latest scheduled time since
``status.lastScheduleTime`` (or the CronJob's creation) that has passed, unless
``startingDeadlineSeconds`` says it is too late; ``concurrencyPolicy`` ``Forbid`` skips it
while a Job runs, ``Replace`` deletes the running ones first. The Job is named
``<cronjob>-<minutes since the epoch>`` (so a time is never run twice), owned by the
CronJob and annotated ``batch.kubernetes.io/cronjob-scheduled-timestamp``. Finished Jobs
beyond ``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` are deleted, oldest
first. Status: ``active`` (references to running Jobs), ``lastScheduleTime``,
``lastSuccessfulTime``. ``suspend`` stops new Jobs. ``kubectl create job --from=cronjob/x``
makes a Job owned by the CronJob, which counts it like any other.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab import cron
from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers.client import Client
from lab.controllers.job import finished
from lab.controllers.manager import Key
from lab.store import Event

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_WALK = 100_000  # scheduled times walked at most (a minutely schedule missed for over two months)


@dataclass
class CronJobPlan:
    create: dict[str, Any] | None = None
    delete: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    requeue_after: float | None = None


def _ref(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    return {
        "kind": "Job",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "batch/v1",
        "resourceVersion": meta.get("resourceVersion", ""),
    }


def latest_due(
    schedule: cron.Schedule, tz: _dt.tzinfo, since: _dt.datetime, now: _dt.datetime
) -> tuple[_dt.datetime | None, _dt.datetime | None]:
    """(the latest scheduled time in (since, now], the next one after now). Only the
    latest missed time is run, as the real controller does; the walk is bounded."""
    due: _dt.datetime | None = None
    t = cron.next_after(schedule, since, tz)
    for _ in range(MAX_WALK):
        if t is None or t > now:
            return due, t
        due = t
        t = cron.next_after(schedule, t, tz)
    return due, cron.next_after(schedule, now, tz)


def job_for(cj: Mapping[str, Any], at: _dt.datetime) -> dict[str, Any]:
    template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{cj['metadata']['name']}-{int(at.timestamp() // 60)}",
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": {**(tmeta.get("annotations") or {}), SCHEDULED_AT: C.rfc3339(at)},
            "ownerReferences": [C.controller_ref(cj, R.CRONJOBS)],
        },
        "spec": dict(template.get("spec") or {}),
    }


def plan_cronjob(cj: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], *, now: _dt.datetime) -> CronJobPlan:
    spec = cj.get("spec") or {}
    status0 = cj.get("status") or {}
    plan = CronJobPlan()
    running = [j for j in jobs if finished(j) is None and not C.being_deleted(j)]
    done = sorted(
        (j for j in jobs if finished(j) is not None and not C.being_deleted(j)),
        key=lambda j: (j.get("status") or {}).get("completionTime") or j["metadata"].get("creationTimestamp") or "",
    )
    ok = [j for j in done if finished(j) == "Complete"]
    failed = [j for j in done if finished(j) == "Failed"]
    plan.delete += [dict(j) for j in ok[: max(len(ok) - int(spec.get("successfulJobsHistoryLimit", 3)), 0)]]
    plan.delete += [dict(j) for j in failed[: max(len(failed) - int(spec.get("failedJobsHistoryLimit", 1)), 0)]]
    status: dict[str, Any] = {}
    if running:
        status["active"] = [_ref(j) for j in sorted(running, key=lambda j: j["metadata"]["name"])]
    last_ok = [t for j in ok if (t := (j.get("status") or {}).get("completionTime"))]
    if last_ok:
        status["lastSuccessfulTime"] = max(last_ok)
    elif status0.get("lastSuccessfulTime"):
        status["lastSuccessfulTime"] = status0["lastSuccessfulTime"]
    if status0.get("lastScheduleTime"):
        status["lastScheduleTime"] = status0["lastScheduleTime"]
    plan.status = status
    if C.being_deleted(cj):
        return plan
    try:
        schedule = cron.parse(str(spec.get("schedule", "")))
        tz = cron.zone(spec.get("timeZone"))
    except cron.CronError:
        return plan  # validation refuses such schedules; an old object just never fires
    since = (
        C.parse_time(status0.get("lastScheduleTime")) or C.parse_time(cj["metadata"].get("creationTimestamp")) or now
    )
    due, upcoming = latest_due(schedule, tz, since, now)
    if upcoming is not None:
        plan.requeue_after = max((upcoming - now).total_seconds(), 0.0) + 0.1
    if due is None or spec.get("suspend"):
        return plan
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and (now - due).total_seconds() > int(deadline):
        return plan  # too late for this one; wait for the next
    names = {j["metadata"]["name"] for j in jobs}
    job = job_for(cj, due)
    if job["metadata"]["name"] in names:
        status["lastScheduleTime"] = C.rfc3339(due)
        return plan
    policy = spec.get("concurrencyPolicy", "Allow")
    if running and policy == "Forbid":
        plan.requeue_after = min(plan.requeue_after or 10.0, 10.0)  # look again once the Job may have ended
        return plan
    if running and policy == "Replace":
        plan.delete += [dict(j) for j in running]
    plan.create = job
    status["lastScheduleTime"] = C.rfc3339(due)
    return plan


class CronJobController:
    name = "cronjobs"
    watches = frozenset({R.CRONJOBS.key, R.JOBS.key})

    def __init__(self, client: Client) -> None:
        self.client = client

    def all_keys(self) -> Iterable[Key]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self.client.list(R.CRONJOBS)]

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.resource == R.CRONJOBS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        ref = C.controller_of(event.obj)
        return [(event.namespace, ref["name"])] if ref is not None and ref.get("kind") == "CronJob" else []

    async def sync(self, key: Key) -> float | None:
        cj = self.client.get(R.CRONJOBS, *key)
        if cj is None:
            return None
        plan = plan_cronjob(cj, self.client.owned(cj, R.JOBS), now=_dt.datetime.now(_dt.UTC))
        for job in plan.delete:
            self.client.delete(R.JOBS, job, propagation="Background")
        if plan.create is not None:
            created = await self.client.create(R.JOBS, key[0], plan.create)
            if created is not None and plan.status is not None:
                plan.status["active"] = [*plan.status.get("active", []), _ref(created)]
        current = self.client.get(R.CRONJOBS, *key)
        if current is not None and plan.status is not None:
            await self.client.update_status(R.CRONJOBS, current, plan.status)
        return plan.requeue_after
