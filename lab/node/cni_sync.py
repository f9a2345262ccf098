"""Keeps one node's ipset/iptables in step with the cluster: coalescing recompiles.

Every change (a pod starting, the API server's ``sync_network``, new faults) asks for a
recompile; requests that arrive while one runs are served together by the next one, so
200 pods starting at once cost a handful of loads, not 200. A caller waits until a
load that began after its request has finished, which is how a pod only reports
Running once the policies already cover it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from lab.cni.apply import apply_ruleset, sctp_supported
from lab.cni.compile import RuleSet, compile_ruleset
from lab.node.names import GATEWAY
from lab.runtime import NetworkState

log = logging.getLogger(__name__)


class CniSync:
    def __init__(
        self, netns: str, *, node_name: str, enforce: bool, local_pods: Callable[[], list[Mapping[str, Any]]]
    ) -> None:
        self.netns = netns
        self.node_name = node_name
        self.enforce = enforce
        self._local_pods = local_pods
        self.state = NetworkState()
        self.sctp = True
        self.current: RuleSet | None = None
        self._requested = 0
        self._done = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sctp = await sctp_supported(self.netns)
        await self.sync()

    async def sync(self) -> None:
        """Recompile and load; returns once a load begun after this call has finished."""
        self._requested += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._requested, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._worker())
        await fut

    async def _worker(self) -> None:
        while self._done < self._requested:
            gen = self._requested
            error: BaseException | None = None
            try:
                # the inputs are gathered here, on the loop; compiling (a second for a thousand
                # pods) runs on a thread so the API keeps answering meanwhile
                compile_now = self.compiler()
                ruleset = await asyncio.get_running_loop().run_in_executor(None, compile_now)
                await apply_ruleset(ruleset, self.netns)
                previous = set(self.current.notes) if self.current else set()
                self.current = ruleset
                for note in ruleset.notes:
                    if note not in previous:  # say each thing once, not on every sync
                        log.info("cni: %s", note)
            except Exception as exc:
                log.error("cni: loading rules failed: %s", exc)
                error = exc
            self._done = gen
            still = []
            for want, fut in self._waiters:
                if want <= gen:
                    if not fut.done():
                        fut.set_exception(error) if error else fut.set_result(None)
                else:
                    still.append((want, fut))
            self._waiters = still

    def merged_pods(self) -> list[Mapping[str, Any]]:
        """The API server's pods, with addresses the node assigned but the store lacks yet."""
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        local = {_key(p): p for p in self._local_pods()}
        for pod in self.state.pods:
            k = _key(pod)
            if not (pod.get("status") or {}).get("podIP") and k in local:
                pod = {**pod, "status": {**(pod.get("status") or {}), "podIP": local[k]["status"]["podIP"]}}
            merged[k] = pod
        for k, pod in local.items():
            merged.setdefault(k, pod)
        return list(merged.values())

    def compiler(self) -> Callable[[], RuleSet]:
        """The compile of the current inputs, as a call that touches nothing else (for a thread)."""
        return functools.partial(
            compile_ruleset,
            self.state.namespaces,
            self.merged_pods(),
            self.state.policies,
            self.state.faults,
            enforce=self.enforce,
            sctp=self.sctp,
            services=self.state.services,
            endpoint_slices=self.state.endpoint_slices,
            hairpin_source=GATEWAY,
            node_name=self.node_name,
        )

    def compile(self) -> RuleSet:
        return self.compiler()()


def _key(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (meta.get("namespace") or "default", meta.get("name", ""))
