"""Pod and container status dicts, shaped like the real API's (pure helpers).

The node keeps one :class:`ContainerState` per container and builds the whole pod
``status`` from them each time something changes.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, replace
from typing import Any


class Phase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class State(enum.StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    TERMINATED = "terminated"


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One container, e.g. ``ContainerState("app", "nginx", State.RUNNING, started_at=...)``."""

    name: str
    image: str
    state: State = State.WAITING
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    probe_ready: bool | None = None  # None: no readiness probe (ready while running)

    @property
    def ready(self) -> bool:
        return self.state is State.RUNNING and self.probe_ready is not False

    def running(self) -> ContainerState:
        return replace(self, state=State.RUNNING, reason="", started_at=now())

    def terminated(self, code: int, reason: str | None = None, message: str = "") -> ContainerState:
        return replace(
            self,
            state=State.TERMINATED,
            exit_code=code,
            message=message,
            reason=reason or ("Completed" if code == 0 else "Error"),
            started_at=self.started_at or now(),
            finished_at=now(),
        )

    def waiting(self, reason: str, message: str = "") -> ContainerState:
        return replace(self, state=State.WAITING, reason=reason, message=message)

    def to_dict(self, pod_uid: str) -> dict[str, Any]:
        if self.state is State.RUNNING:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state is State.TERMINATED:
            term: dict[str, Any] = {
                "exitCode": self.exit_code,
                "reason": self.reason,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "containerID": self.container_id(pod_uid),
            }
            if self.message:
                term["message"] = self.message
            state = {"terminated": term}
        else:
            state = {"waiting": {"reason": self.reason, **({"message": self.message} if self.message else {})}}
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "state": state,
            "lastState": {},
            "ready": self.ready,
            "restartCount": 0,
            "started": self.state is State.RUNNING,
        }
        if self.state is not State.WAITING:
            out["containerID"] = self.container_id(pod_uid)
        return out

    def container_id(self, pod_uid: str) -> str:
        return f"kubereach-lab://{pod_uid}/{self.name}"


def condition(kind: str, ok: bool, *, reason: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now(),
    }
    if reason:
        out["reason"] = reason
    return out
