"""The lab's controllers: what kube-controller-manager and kube-scheduler do, in-process.

Each controller is a small reconcile loop over one kind, written as a pure planning
function (current objects in, the objects to create, update or delete and the new status
out; tested on its own with plain dicts) and a thin ``sync`` that reads the store and
applies the plan through :class:`lab.controllers.client.Client`, i.e. through the lab's
API code like any client. :mod:`lab.controllers.manager` feeds them from store events.

- ``scheduler``: binds pods without a node (spreading; nodeSelector, node affinity, taints)
- ``replicaset``: ReplicaSets and ReplicationControllers -> pods
- ``deployment``: Deployments -> ReplicaSets (rolling update, Recreate, revisions)
- ``statefulset``: ordinal pods, OrderedReady/Parallel, rolling update by partition
- ``daemonset``: one pod per fitting node, rolling update
- ``job``/``cronjob``: pods to completion with backoff; Jobs on a cron schedule
- ``endpoints``: EndpointSlices and Endpoints from Services' selectors and pod readiness

Garbage collection through ownerReferences is the API's (:mod:`lab.api.gc`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.controllers.manager import Controller, ControllerManager

if TYPE_CHECKING:
    from lab.controllers.client import Client


def build_controllers(client: Client) -> list[Controller]:
    from lab.api import resources as R
    from lab.controllers.cronjob import CronJobController
    from lab.controllers.daemonset import DaemonSetController
    from lab.controllers.deployment import DeploymentController
    from lab.controllers.endpoints import EndpointSliceController
    from lab.controllers.job import JobController
    from lab.controllers.replicaset import ReplicaSetController
    from lab.controllers.scheduler import Scheduler
    from lab.controllers.statefulset import StatefulSetController

    return [
        Scheduler(client),
        DeploymentController(client),
        ReplicaSetController(client, R.REPLICASETS),
        ReplicaSetController(client, R.REPLICATIONCONTROLLERS),
        StatefulSetController(client),
        DaemonSetController(client),
        JobController(client),
        CronJobController(client),
        EndpointSliceController(client),
    ]


__all__ = ["ControllerManager", "build_controllers"]
