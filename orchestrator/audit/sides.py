"""Both sides of every connection of a snapshot, as bitsets: what ``suggest`` plans with.

A connection is allowed when the source's egress side *and* the destination's ingress
side allow it. ``suggest`` must know each side on its own (a side that is not isolated
can be isolated by a new policy; a side that allows through an existing rule cannot be
closed by adding one), so this module keeps them apart, per (port, protocol):

- ``egress[s]``: the destinations source ``s``'s egress allows (every pod when it is not
  isolated or uses the host network);
- ``ingress[d]``: the sources destination ``d``'s ingress allows;
- and both transposed (``egress_col[d]``, ``ingress_row[s]``), so a cell's verdict is
  ``egress[s] & ingress_row[s]`` for a whole row at once.

The sets come from the model's own bitset index (:class:`MatrixBuilder`:
``rule_peer_mask``, ``rule_port_mask``), so they are the matrix's semantics exactly; a
test checks rows against :func:`orchestrator.model.expected_matrix`.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.audit.context import bits
from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.matrix import MatrixBuilder
from orchestrator.model.policy import Direction
from probe.schema import Protocol

PortKey = tuple[int, Protocol]


def universe(pods_ports: Sequence[Iterable[PortKey]], extra: Iterable[PortKey] = ()) -> dict[PortKey, int]:
    """(port, protocol) -> the destinations evaluated on it: each pod on its declared ports
    (as ``predict``), plus every pod on the ``extra`` ports (numbers an intent names)."""
    out: dict[PortKey, int] = {}
    for i, ports in enumerate(pods_ports):
        for key in ports:
            out[key] = out.get(key, 0) | (1 << i)
    everyone = (1 << len(pods_ports)) - 1
    for key in extra:
        out[key] = everyone
    return dict(sorted(out.items()))


def declared_ports(model: PolicyModel) -> list[set[PortKey]]:
    return [{(cp.port, cp.protocol) for c in p.serving_containers for cp in c.ports} for p in model.snapshot.pods]


def _transpose(values: Sequence[int], n: int, everyone: int) -> list[int]:
    """``out[j]`` = the indices ``i`` with bit ``j`` in ``values[i]`` (sharing equal values)."""
    by_value: dict[int, int] = {}
    for i, v in enumerate(values):
        by_value[v] = by_value.get(v, 0) | (1 << i)
    base = by_value.pop(everyone, 0)
    out = [base] * n
    for value, owners in by_value.items():
        for j in bits(value):
            out[j] |= owners
    return out


@dataclass
class PortSides:
    port: int
    protocol: Protocol
    dests: int  # destinations evaluated at this port
    egress: list[int]  # per source: destinations its egress allows
    ingress: list[int]  # per destination: sources its ingress allows
    egress_col: list[int]  # per destination: sources whose egress allows it
    ingress_row: list[int]  # per source: destinations whose ingress allows it

    def allowed_row(self, s: int) -> int:
        """Destinations ``s`` may reach at this port (the same pod always may)."""
        return (self.egress[s] & self.ingress_row[s] | (1 << s)) & self.dests


class Sides:
    """Every side of every pod at every port of ``ports``, for one snapshot's model."""

    def __init__(self, model: PolicyModel, ports: dict[PortKey, int]) -> None:
        self.model = model
        self.builder = MatrixBuilder(model)
        b = self.builder
        self.n = n = len(model.snapshot.pods)
        self.everyone = (1 << n) - 1
        pods = model.snapshot.pods
        self.hostnet = sum(1 << i for i, p in enumerate(pods) if p.host_network)
        self.isolated = {
            d: sum(1 << i for i in range(n) if b.isolating[d][i] and not pods[i].host_network) for d in Direction
        }
        self.ports: dict[PortKey, PortSides] = {}
        for (port, proto), dests in ports.items():
            egress = self._egress(port, proto)
            ingress = self._ingress(port, proto)
            self.ports[(port, proto)] = PortSides(
                port,
                proto,
                dests,
                egress,
                ingress,
                _transpose(egress, n, self.everyone),
                _transpose(ingress, n, self.everyone),
            )

    def _egress(self, port: int, proto: Protocol) -> list[int]:
        b = self.builder
        out: list[int] = []
        cache: dict[tuple[int, ...], int] = {}
        for i in range(self.n):
            pols = b.isolating[Direction.EGRESS][i]
            if not pols or self.hostnet >> i & 1:
                out.append(self.everyone)
                continue
            value = cache.get(pols)
            if value is None:
                value = 0
                for pi in pols:
                    for r in b.policies[pi].egress:
                        value |= b.rule_peer_mask(pi, r) & b.rule_port_mask(pi, r, port, proto)
                cache[pols] = value
            out.append(value)
        return out

    def _ingress(self, port: int, proto: Protocol) -> list[int]:
        b = self.builder
        out: list[int] = []
        cache: dict[tuple[tuple[int, int], ...], int] = {}
        for d in range(self.n):
            pols = b.isolating[Direction.INGRESS][d]
            if not pols or self.hostnet >> d & 1:
                out.append(self.everyone)
                continue
            bit = 1 << d
            matching = tuple(
                (pi, r.index)
                for pi in pols
                for r in b.policies[pi].ingress
                if b.rule_port_mask(pi, r, port, proto) & bit
            )
            value = cache.get(matching)
            if value is None:
                value = 0
                for pi, k in matching:
                    value |= b.rule_peer_mask(pi, b.policies[pi].ingress[k])
                cache[matching] = value
            out.append(value)
        return out
