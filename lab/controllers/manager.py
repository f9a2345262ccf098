"""The controller manager: work queues fed by store events, one worker per controller.

Like kube-controller-manager's informers and work queues, in-process: the store calls
:meth:`ControllerManager._on_event` synchronously after every write; each controller
maps the event to the keys (``(namespace, name)`` of its primary objects) it must
reconcile; a key queued twice before its worker gets to it is reconciled once, and a key
is never reconciled by two workers at once. A reconcile may ask to be called again after
some seconds (a CronJob's next run, a Deployment's progress deadline); one that fails is
retried with a growing delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from lab.store import Event

if TYPE_CHECKING:
    from lab.api.cluster import Cluster
    from lab.controllers.client import Client

log = logging.getLogger("lab.controllers")

Key = tuple[str, str]  # (namespace, name) of a primary object; ("", "") for singletons
RETRY_BASE_SECONDS = 0.5  # a failed reconcile is retried after this, doubling...
RETRY_MAX_SECONDS = 30.0  # ...up to this


class Controller(Protocol):
    name: str
    watches: frozenset[str]  # store resources whose events may concern this controller

    def keys_for(self, event: Event) -> Iterable[Key]:
        """The keys to reconcile after ``event`` (runs inside the store's write: read only)."""

    def all_keys(self) -> Iterable[Key]:
        """Every key there is now (reconciled once when the manager starts)."""

    async def sync(self, key: Key) -> float | None:
        """Bring the world one step closer to what ``key`` asks for; seconds until the next
        look when time alone will change something, else None."""


class WorkQueue:
    """Keys waiting for a worker; deduplicated, never handed out twice at once."""

    def __init__(self) -> None:
        self._pending: dict[Key, None] = {}
        self._active: set[Key] = set()
        self._again: set[Key] = set()
        self._ready = asyncio.Event()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._active:
            self._again.add(key)
            return
        self._pending[key] = None
        self._ready.set()

    def add_after(self, key: Key, seconds: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(max(seconds, 0.0), self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        key = next(iter(self._pending))
        del self._pending[key]
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    @property
    def idle(self) -> bool:
        return not self._pending and not self._active

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


class ControllerManager:
    """Every controller of the lab, fed by the cluster's store."""

    def __init__(self, cluster: Cluster) -> None:
        from lab.controllers import build_controllers
        from lab.controllers.client import Client

        self.client: Client = Client(cluster)
        self.controllers: list[Controller] = build_controllers(self.client)
        self._queues: dict[str, WorkQueue] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._failures: dict[tuple[str, Key], int] = {}
        cluster.store.listen(self._on_event)

    def start(self) -> None:
        for controller in self.controllers:
            queue = WorkQueue()
            self._queues[controller.name] = queue
            for key in controller.all_keys():
                queue.add(key)
            self._workers.append(asyncio.get_running_loop().create_task(self._work(controller, queue)))

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        for queue in self._queues.values():
            queue.close()

    @property
    def idle(self) -> bool:
        """No key waiting or being reconciled (timers for later do not count)."""
        return all(q.idle for q in self._queues.values())

    def _on_event(self, event: Event) -> None:
        if not self._queues:
            return
        for controller in self.controllers:
            if event.resource in controller.watches:
                queue = self._queues[controller.name]
                for key in controller.keys_for(event):
                    queue.add(key)

    async def _work(self, controller: Controller, queue: WorkQueue) -> None:
        while True:
            key = await queue.get()
            try:
                again = await controller.sync(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get((controller.name, key), 0) + 1
                self._failures[(controller.name, key)] = failures
                delay = min(RETRY_BASE_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
                log.exception("%s: reconciling %s/%s failed (retry in %.1fs)", controller.name, *key, delay)
                queue.add_after(key, delay)
            else:
                self._failures.pop((controller.name, key), None)
                if again is not None:
                    queue.add_after(key, again)
            finally:
                queue.done(key)
