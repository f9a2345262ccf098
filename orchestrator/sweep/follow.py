"""Following agents to their end through pod watches: one per namespace with agents.

While agents run, the sweep must learn when each agent's container terminated. Listing
every pod of a namespace twice a second costs the namespace's size times the sweep's
duration — the load that gets a tool banned from production clusters. Instead:

* before the first agent of a namespace starts, one LIST with ``limit=1`` reads the
  namespace's current resourceVersion (one object, not the namespace);
* a WATCH of the namespace's pods from that resourceVersion reports every change after
  it, the agents' own status updates included, however early they finish. Probe pods
  (``--source-mode pod``) are watched with the sweep's label selector. Ephemeral agents
  live in the users' pods, which no label of ours selects and a field selector could
  only name one at a time (one watch per pod), so that watch takes the namespace's
  pods: it costs the namespace's *changes* while agents run, never its size per tick;
* the server ends a watch after ``window_s`` (the request timeout, so a server that
  hangs is noticed within a few of them): the watch resumes from the last
  resourceVersion it saw. A 410 Gone re-lists the namespace (paged) and resumes from
  the list. A namespace whose agents are all done closes its watch; the next agent
  there resumes it from the last resourceVersion, with nothing missed;
* a failure (the API server gone, 5xx after retries, RBAC refusing ``watch``) goes to
  ``on_failure`` at once, so the runner ends the sweep with its cause: a watch never
  dies silently.

Watches block in the ``kubernetes`` client, so each runs in its own thread and hands
events to the event loop; :meth:`Follower.close` shuts every stream down at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ClusterError, KubereachError

# A watch the server ends after this long is resumed at once; with no --request-timeout
# (0) the server's usual 5 minutes, since then nothing shorter is asked of any request.
WATCH_WINDOW_S = 300.0
# The client waits this much longer than the server's timeoutSeconds for the next
# byte: the server's own timer and the network, before a silent stream counts as broken.
WATCH_READ_GRACE_S = 5.0
# A watch that ends within a second having delivered nothing is not resumed at once: a
# server that closes every watch straight away must not be hammered. The pause doubles
# from 0.2 s up to 5 s.
QUICK_END_S = 1.0
PAUSE_BASE_S = 0.2
PAUSE_CAP_S = 5.0

Outcome = tuple[str, str]  # (outcome, detail) of runner.container_outcome
Judge = Callable[["Waiter", Mapping[str, Any] | None], Outcome | None]


@dataclass(eq=False)
class Waiter:
    """One agent waiting for its container to end: resolved with (outcome, detail)."""

    namespace: str
    pod: str
    container: str
    ephemeral: bool
    future: asyncio.Future[Outcome] = field(repr=False)
    # set once the agent was created: before that, its pod's absence means nothing
    launched: bool = False


class NamespaceWatch:
    """The watch of one namespace's pods: a thread that resumes, re-lists and reports."""

    def __init__(
        self,
        kube: Any,
        namespace: str,
        *,
        label_selector: str | None,
        window_s: float,
        post: Callable[[str, Any], None],
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.label_selector = label_selector
        self.window_s = window_s
        self.resource_version: str | None = None
        self._post = post  # thread-safe: ("event", pod) | ("gone", pod) | ("relist", pods) | ("failed", exc)
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._current: Any = None
        self.connections = 0

    @property
    def running(self) -> bool:
        return self._stop is not None and not self._stop.is_set()

    def prime(self) -> None:
        """Blocking: the namespace's current resourceVersion (one LIST of one object)."""
        if self.resource_version is None:
            self.resource_version = self.kube.pods_resource_version(self.namespace, label_selector=self.label_selector)

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            stop = self._stop = threading.Event()
        threading.Thread(target=self._run, args=(stop,), name=f"kubereach-watch-{self.namespace}", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            if self._stop is not None:
                self._stop.set()
            current, self._current = self._current, None
        if current is not None:
            current.close()

    def _run(self, stop: threading.Event) -> None:
        import time

        from orchestrator.cluster.kube import Gone

        pause = PAUSE_BASE_S
        try:
            while not stop.is_set():
                if self.resource_version is None:
                    self._relist(stop)
                    continue
                opened, events = time.monotonic(), 0
                try:
                    watch = self.kube.watch_pods(
                        self.namespace,
                        resource_version=self.resource_version,
                        label_selector=self.label_selector,
                        timeout_s=int(self.window_s),
                        read_timeout_s=self.window_s + WATCH_READ_GRACE_S,
                    )
                except Gone:
                    self.resource_version = None
                    continue
                self.connections += 1
                with self._lock:
                    if stop.is_set():  # stopped while connecting; a newer thread may own _current
                        watch.close()
                    else:
                        self._current = watch
                for kind, obj in watch:
                    if stop.is_set():
                        break
                    events += 1
                    if kind in ("ADDED", "MODIFIED"):
                        self._post("event", obj)
                    elif kind == "DELETED":
                        self._post("gone", obj)
                    if watch.resource_version:
                        self.resource_version = watch.resource_version
                if watch.gone:
                    self.resource_version = None
                # else: the server's timeout or a broken connection: resume from the last
                # resourceVersion (a server that is gone fails the reconnect, and says so)
                if not events and time.monotonic() - opened < QUICK_END_S:
                    stop.wait(pause)
                    pause = min(pause * 2, PAUSE_CAP_S)
                else:
                    pause = PAUSE_BASE_S
        except KubereachError as exc:
            if not stop.is_set():
                self._post("failed", exc)
        except Exception as exc:  # a bug must not leave agents waiting for the deadline
            if not stop.is_set():
                self._post("failed", ClusterError(f"watching pods in namespace {self.namespace} failed: {exc!r}"))
        finally:
            stop.set()  # this thread is done: the next agent starts another

    def _relist(self, stop: threading.Event) -> None:
        pods, version = self.kube.list_pods_versioned(self.namespace, label_selector=self.label_selector)
        if not stop.is_set():
            self._post("relist", pods)
            self.resource_version = version


class Follower:
    """Resolves each :class:`Waiter` when its container's status says it ended.

    ``judge(waiter, pod)`` (pod None: deleted) returns (outcome, detail), or None while
    the agent is still running; ``on_failure(exc)`` hears of a watch that cannot go on.
    """

    def __init__(
        self,
        kube: Any,
        *,
        label_selector: str | None,
        window_s: float,
        judge: Judge,
        on_failure: Callable[[KubereachError], None],
        call: Callable[..., Any],
    ) -> None:
        self.kube = kube
        self.label_selector = label_selector
        self.window_s = window_s
        self.judge = judge
        self.on_failure = on_failure
        self._call = call  # the runner's way to run a blocking API call off the loop
        self.watches: dict[str, NamespaceWatch] = {}
        self._primed: dict[str, asyncio.Future[None]] = {}
        self._waiting: dict[tuple[str, str], list[Waiter]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def _watch(self, namespace: str) -> NamespaceWatch:
        if namespace not in self.watches:

            def post(kind: str, payload: Any) -> None:
                self._post(namespace, kind, payload)

            self.watches[namespace] = NamespaceWatch(
                self.kube, namespace, label_selector=self.label_selector, window_s=self.window_s, post=post
            )
        return self.watches[namespace]

    async def ready(self, namespace: str) -> None:
        """Before the first agent of ``namespace`` starts: fix where its watch begins, so
        nothing the agent does can happen before it."""
        self._loop = asyncio.get_running_loop()
        primed = self._primed.get(namespace)
        if primed is None:
            primed = self._primed[namespace] = asyncio.ensure_future(self._call(self._watch(namespace).prime))
        try:
            await asyncio.shield(primed)
        except BaseException:
            if primed.done() and (primed.cancelled() or primed.exception() is not None):
                self._primed.pop(namespace, None)  # the next agent tries again
            raise

    def follow(self, namespace: str, pod: str, container: str, *, ephemeral: bool) -> Waiter:
        loop = self._loop or asyncio.get_running_loop()
        waiter = Waiter(namespace, pod, container, ephemeral, loop.create_future())
        self._waiting.setdefault((namespace, pod), []).append(waiter)
        if not self.closed:
            self._watch(namespace).start()
        return waiter

    def unfollow(self, waiter: Waiter) -> None:
        key = (waiter.namespace, waiter.pod)
        left = [w for w in self._waiting.get(key, []) if w is not waiter]
        if left:
            self._waiting[key] = left
        else:
            self._waiting.pop(key, None)
        if not any(ns == waiter.namespace for ns, _ in self._waiting):
            watch = self.watches.get(waiter.namespace)
            if watch is not None:
                watch.stop()  # resumed from its last resourceVersion by the next agent

    def close(self) -> None:
        self.closed = True
        for watch in self.watches.values():
            watch.stop()
        for waiters in self._waiting.values():
            for w in waiters:
                if not w.future.done():
                    w.future.cancel()
        self._waiting.clear()

    @property
    def connections(self) -> int:
        return sum(w.connections for w in self.watches.values())

    # -- from the watch threads ------------------------------------------------------

    def _post(self, namespace: str, kind: str, payload: Any) -> None:
        loop = self._loop
        if loop is None or self.closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop is gone: the sweep is over
            loop.call_soon_threadsafe(self._deliver, namespace, kind, payload)

    def _deliver(self, namespace: str, kind: str, payload: Any) -> None:
        if self.closed:
            return
        if kind == "failed":
            waiting = (w for (ns, _), ws in self._waiting.items() if ns == namespace for w in ws)
            if any(not w.future.done() for w in waiting):
                self.on_failure(payload)  # else no agent needs it; the next one reopens the watch
            return
        if kind == "relist":
            present = {(p.get("metadata") or {}).get("name"): p for p in payload}
            for (ns, name), waiters in list(self._waiting.items()):
                if ns == namespace:
                    self._resolve(waiters, present.get(name))
            return
        name = str((payload.get("metadata") or {}).get("name") or "")
        found = self._waiting.get((namespace, name))
        if found:
            self._resolve(found, None if kind == "gone" else payload)

    def _resolve(self, waiters: list[Waiter], pod: Mapping[str, Any] | None) -> None:
        for w in waiters:
            if w.future.done():
                continue
            outcome = self.judge(w, pod)
            if outcome is not None:
                w.future.set_result(outcome)


__all__ = ["Follower", "NamespaceWatch", "Waiter", "WATCH_READ_GRACE_S", "WATCH_WINDOW_S"]
