"""Keeping every node's CNI in step with the cluster: one :class:`NetworkState`, all nodes.

After each change to namespaces, pods, NetworkPolicies, Services or EndpointSlices (and
after new faults), the API server builds one :class:`lab.runtime.NetworkState` from the
store and hands it to every node, which compiles its own rules from it. Bursts of
changes (``kubectl apply`` of 200 pods, a controller creating a thousand) are coalesced
into one run; at most one run is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lab.api import resources
from lab.runtime import Fault, NetworkState, NodeRuntime
from lab.store import Store

log = logging.getLogger("lab.api")

SYNC_DEBOUNCE_SECONDS = 0.05  # coalesce a burst of changes (kubectl apply of 200 pods)
# changes to these recompile the nodes' CNI (services and their slices: ClusterIP routing)
NETWORK_RESOURCES = frozenset(
    {"namespaces", "pods", "services", resources.NETWORKPOLICIES.key, resources.ENDPOINTSLICES.key}
)


def network_state(store: Store, faults: Sequence[Fault]) -> NetworkState:
    """The CNI's inputs as the store holds them now."""

    def items(resource: str) -> tuple[dict[str, Any], ...]:
        return tuple(store.list(resource)[0])

    return NetworkState(
        namespaces=items("namespaces"),
        pods=items("pods"),
        policies=items(resources.NETWORKPOLICIES.key),
        services=items("services"),
        endpoint_slices=items(resources.ENDPOINTSLICES.key),
        faults=tuple(faults),
    )


class NetworkSync:
    """Calls every node's ``sync_network`` after changes; bursts coalesced, one run at a time."""

    def __init__(self, store: Store, nodes: Callable[[], Sequence[NodeRuntime]], faults: Callable[[], Sequence[Fault]]):
        self._store = store
        self._nodes = nodes
        self._faults = faults
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def kick(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def idle(self) -> bool:
        return not self._dirty and (self._task is None or self._task.done())

    async def wait_idle(self) -> None:
        while not self.idle:
            if self._task is not None:
                await asyncio.shield(self._task)

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(SYNC_DEBOUNCE_SECONDS)
            self._dirty = False
            state = network_state(self._store, self._faults())
            results = await asyncio.gather(
                *(node.sync_network(state) for node in self._nodes()), return_exceptions=True
            )
            for node, result in zip(self._nodes(), results, strict=False):
                if isinstance(result, BaseException):  # the node logs details; the API keeps serving
                    log.error("sync_network on %s failed: %s", node.info.name, result)
            self.runs += 1
