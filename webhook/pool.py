"""A bounded pool of decision workers with a time budget per request (the server's side).

Each review is decided in a worker process (:mod:`webhook.worker`), never in the
server's event loop: ``/healthz`` and every other review stay answered while one
request is expensive. Guarantees, whatever a request holds:

- **time**: a request gets :attr:`PoolOptions.budget_s` from its arrival, waiting for a
  worker included; a worker that has not answered by then is killed and replaced, and
  the request is denied with the reason. The budget is well under the API server's
  ``timeoutSeconds`` (5 s in the shipped configurations), so the API server always gets
  an answer, never a timeout;
- **memory**: each worker's address space is capped (:attr:`PoolOptions.memory_bytes`);
  one that runs out reports it and is replaced, and the request is denied;
- **isolation by size**: bodies over :attr:`PoolOptions.large_body_bytes` (a pod with
  a large annotation, or a hostile one) are decided by their own worker(s), so a burst
  of them delays only each other, never the ordinary small reviews.

A request that cannot be decided gets an AdmissionReview denial naming the reason
when its uid is known (the worker reports the uid first), else HTTP 503 with the
reason (the API server then applies ``failurePolicy``: with ``Fail``, the pod is not
created, and the message says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.admission import Decision, Settings, response
from webhook.worker import FRAME

log = logging.getLogger("kubereach.webhook")


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Sizes and budgets; the defaults are what ``kubereach webhook serve`` uses.

    ``workers`` decide ordinary reviews, ``large_workers`` the ones with a body over
    ``large_body_bytes``; ``budget_s`` is per request from its arrival; ``memory_bytes``
    caps each worker's address space (a worker idles at about 30 MB; the largest
    admission request the API server sends, 3 MiB of JSON, needs well under 100 MB to
    decide); ``start_timeout_s`` bounds a worker's start-up.
    """

    workers: int = 2
    large_workers: int = 1
    budget_s: float = 2.0
    memory_bytes: int = 256 << 20
    large_body_bytes: int = 64 << 10
    start_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the HTTP handler answers: a status, a JSON body, and a log line."""

    status: int
    body: bytes
    log: str
    failed: bool = False  # no decision was made (budget, memory, crash, overload)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, settings: Settings, options: PoolOptions) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "webhook.worker",
            "--agent-image",
            settings.agent_image,
            "--memory-bytes",
            str(options.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(proc)
        try:
            kind, _ = await asyncio.wait_for(worker.read_frame(), options.start_timeout_s)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            worker.kill()
            await worker.wait()
            raise RuntimeError(f"a decision worker did not start: {exc!r}") from exc
        if kind != b"R":
            worker.kill()
            await worker.wait()
            raise RuntimeError(f"a decision worker said {kind!r} instead of ready")
        return worker

    async def read_frame(self) -> tuple[bytes, dict[str, Any]]:
        assert self.proc.stdout is not None
        head = await self.proc.stdout.readexactly(FRAME.size)
        kind, length = FRAME.unpack(head)
        payload = json.loads(await self.proc.stdout.readexactly(length))
        if not isinstance(payload, dict):
            raise ValueError("a worker frame is not a JSON object")
        return kind, payload

    async def send(self, mode: str, body: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(FRAME.pack(b"m" if mode == "mutate" else b"v", len(body)))
        self.proc.stdin.write(body)
        await self.proc.stdin.drain()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def wait(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()


class _Lane:
    """Idle workers of one lane; a worker is either idle here or busy with one request."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size
        self.idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self.workers: set[_Worker] = set()


class DecisionPool:
    """Start with :meth:`start`, decide with :meth:`decide`, stop with :meth:`close`."""

    def __init__(self, settings: Settings, options: PoolOptions | None = None) -> None:
        self.settings = settings
        self.options = options or PoolOptions()
        self._lanes = {
            "small": _Lane("small", self.options.workers),
            "large": _Lane("large", self.options.large_workers),
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.replaced = 0  # workers killed or lost and replaced (for logs, tests and the benchmark)

    async def start(self) -> None:
        """Start every worker; raises RuntimeError when one cannot start."""
        starts = [self._add(lane) for lane in self._lanes.values() for _ in range(lane.size)]
        await asyncio.gather(*starts)

    async def _add(self, lane: _Lane) -> None:
        worker = await _Worker.start(self.settings, self.options)
        if self._closed:
            worker.kill()
            await worker.wait()
            return
        lane.workers.add(worker)
        lane.idle.put_nowait(worker)

    def _replace(self, lane: _Lane, worker: _Worker, why: str) -> None:
        """Kill ``worker`` and start another in the background."""
        worker.kill()
        lane.workers.discard(worker)
        self.replaced += 1
        log.warning("decision worker pid %s replaced: %s", worker.proc.pid, why)

        async def respawn() -> None:
            await worker.wait()
            delay = 0.1
            while not self._closed:
                try:
                    await self._add(lane)
                    return
                except (RuntimeError, OSError) as exc:  # keep trying: the lane must not shrink for good
                    log.error("%s; retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

        task = asyncio.get_running_loop().create_task(respawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def decide(self, mode: str, body: bytes, *, arrived: float | None = None) -> Outcome:
        """Answer one review within the budget (counted from ``arrived``, a monotonic time)."""
        deadline = (arrived if arrived is not None else time.monotonic()) + self.options.budget_s
        lane = self._lanes["large" if len(body) > self.options.large_body_bytes else "small"]
        while True:
            try:
                worker = await asyncio.wait_for(lane.idle.get(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return _failed(
                    None, f"no decision worker was free within {self.options.budget_s:g}s (the webhook is overloaded)"
                )
            if worker.proc.returncode is None:
                break
            self._replace(lane, worker, f"it had exited (code {worker.proc.returncode}) while idle")
        summary: dict[str, Any] | None = None
        try:
            await asyncio.wait_for(worker.send(mode, body), max(0.0, deadline - time.monotonic()))
            while True:
                kind, payload = await asyncio.wait_for(worker.read_frame(), max(0.0, deadline - time.monotonic()))
                if kind == b"H":
                    summary = payload
                    continue
                break
        except TimeoutError:
            self._replace(lane, worker, "decision over the time budget")
            return _failed(
                summary, f"the decision took longer than {self.options.budget_s:g}s; the request was dropped"
            )
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            self._replace(lane, worker, f"worker failed: {exc!r}")
            return _failed(summary, "the decision worker died while deciding (see the webhook's log)")
        status = payload.get("status")
        if status == "memory":
            self._replace(lane, worker, "decision over the memory budget")
            return _failed(
                summary, f"deciding needed more than the {self.options.memory_bytes >> 20} MiB a decision may use"
            )
        lane.idle.put_nowait(worker)
        if status == 200:
            return Outcome(200, str(payload["body"]).encode(), str(payload.get("log", "")))
        if status == 400:
            error = str(payload.get("error", "bad request"))
            return Outcome(400, json.dumps({"error": error}).encode(), f"bad request: {error}")
        return _failed(summary, f"the decision failed: {payload.get('error', 'internal error')}")

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        workers = [w for lane in self._lanes.values() for w in lane.workers]
        for w in workers:
            if w.proc.stdin is not None:
                w.proc.stdin.close()  # a worker exits at end of input
        for w in workers:
            try:
                await asyncio.wait_for(w.proc.wait(), 2.0)
            except TimeoutError:
                w.kill()
                await w.wait()
        for lane in self._lanes.values():
            lane.workers.clear()

    @property
    def alive(self) -> int:
        return sum(1 for lane in self._lanes.values() for w in lane.workers if w.proc.returncode is None)


def _failed(summary: Mapping[str, Any] | None, reason: str) -> Outcome:
    """A denial for the request ``summary`` names (its uid), else HTTP 503."""
    message = f"kubereach webhook: {reason}"
    uid = (summary or {}).get("uid")
    where = f"{(summary or {}).get('namespace')}/{(summary or {}).get('name') or '?'} uid={uid}" if uid else "?"
    if uid:
        answer = response(str(uid), Decision(False, message=message, code=503))
        return Outcome(200, json.dumps(answer).encode(), f"denied {where}: {reason}", failed=True)
    return Outcome(503, json.dumps({"error": message}).encode(), f"no decision ({where}): {reason}", failed=True)
