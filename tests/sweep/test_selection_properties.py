"""Flag parsers under hypothesis: selectors round-trip, garbage is a clean PlanError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.model.selectors import Operator, Requirement, Selector
from orchestrator.sweep.selection import PlanError, PodSelector, parse_label_selector, parse_port

KEY = st.from_regex(
    r"([a-z0-9]([-a-z0-9.]{0,10}[a-z0-9])?/)?[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,10}[a-zA-Z0-9])?", fullmatch=True
)
VALUE = st.from_regex(r"[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,8}[a-zA-Z0-9])?", fullmatch=True)


@st.composite
def requirements(draw):
    op = draw(st.sampled_from(list(Operator)))
    values = (
        frozenset(draw(st.lists(VALUE, min_size=1, max_size=3)))
        if op in (Operator.IN, Operator.NOT_IN)
        else frozenset()
    )
    return Requirement(draw(KEY), op, values)


def kubectl_text(req: Requirement, *, equality: bool) -> str:
    """How a person writes the requirement for ``kubectl get -l``."""
    if req.operator is Operator.EXISTS:
        return req.key
    if req.operator is Operator.DOES_NOT_EXIST:
        return f"!{req.key}"
    if equality and len(req.values) == 1:
        (value,) = req.values
        return f"{req.key}{'=' if req.operator is Operator.IN else '!='}{value}"
    op = "in" if req.operator is Operator.IN else "notin"
    return f"{req.key} {op} ({', '.join(sorted(req.values))})"


@given(st.lists(requirements(), max_size=4), st.booleans())
@settings(max_examples=200, deadline=None)
def test_a_selector_written_kubectl_style_parses_back_to_itself(reqs, equality):
    text = ",".join(kubectl_text(r, equality=equality) for r in reqs)
    assert parse_label_selector(text) == Selector(tuple(reqs))


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_from_to_text_is_a_selector_or_a_plan_error(text):
    with contextlib.suppress(PlanError):
        PodSelector.parse(text)


@given(st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_any_port_text_is_a_port_or_a_plan_error(text):
    try:
        port, _ = parse_port(text)
    except PlanError:
        return
    assert 1 <= port.port <= 65535
