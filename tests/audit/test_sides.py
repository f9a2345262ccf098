"""The planner's per-side bitsets agree with the expected matrix on random clusters."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from model_strategies import clusters

from orchestrator.audit.sides import Sides, declared_ports, universe
from orchestrator.model import PolicyModel, expected_matrix
from orchestrator.snapshot import Origin, snapshot_from_objects
from probe.schema import Protocol


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_pods=6, max_policies=4))
def test_sides_give_the_matrix_verdict_of_every_cell(objs):
    s = snapshot_from_objects((o, Origin("t", i)) for i, o in enumerate(objs, 1))
    model = PolicyModel(s)
    extra = [(443, Protocol.TCP), (53, Protocol.UDP)]
    sides = Sides(model, universe(declared_ports(model), extra))
    position = {p.key: i for i, p in enumerate(s.pods)}
    rows = list(expected_matrix(s, model=model)) + list(expected_matrix(s, extra, model=model))
    for row in rows:
        ps = sides.ports[(row.port, row.protocol)]
        src, dst = position[row.source], position[row.destination]
        assert bool(ps.allowed_row(src) >> dst & 1) == (row.decision == "allow"), row
        verdict = model.evaluate(s.pods[src], s.pods[dst], row.port, row.protocol)
        assert bool(ps.egress[src] >> dst & 1) == verdict.egress.allowed
        assert bool(ps.ingress[dst] >> src & 1) == verdict.ingress.allowed
        assert bool(ps.egress_col[dst] >> src & 1) == verdict.egress.allowed
        assert bool(ps.ingress_row[src] >> dst & 1) == verdict.ingress.allowed
