"""The intra-pod rules parser and decision logic (probe/intrapod_rules.py), as the spec reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.intrapod_rules import (
    Action,
    ContainerInfo,
    FindingCode,
    PortRef,
    RulesError,
    decide,
    enforceability_findings,
    expected_pairs,
    parse_rules,
)
from probe.schema import Protocol

APP = ContainerInfo(
    "app", uid=1001, ports=(PortRef(8080), PortRef(9090, Protocol.UDP)), port_names={"http": PortRef(8080)}
)
SIDECAR = ContainerInfo("sidecar", uid=1002, ports=(PortRef(15000),))
METRICS = ContainerInfo("metrics", uid=1003, ports=())
CONTAINERS = {c.name: c for c in (APP, SIDECAR, METRICS)}


def test_first_matching_rule_decides_and_default_applies_otherwise():
    rules = parse_rules(
        {
            "default": "allow",
            "rules": [
                {"from": "sidecar", "to": "app", "ports": [8080], "action": "deny"},
                {"from": "*", "to": "app", "action": "allow"},
                {"from": "metrics", "to": "app", "action": "deny"},
            ],
        },
        CONTAINERS,
    )
    assert decide(rules, "sidecar", "app", PortRef(8080)).rule_index == 0
    assert decide(rules, "sidecar", "app", PortRef(8080)).action is Action.DENY
    # rule 1 (from "*") shadows rule 2 for metrics
    assert decide(rules, "metrics", "app", PortRef(8080)).rule_index == 1
    assert decide(rules, "app", "sidecar", PortRef(15000)).rule_index is None
    assert decide(rules, "app", "sidecar", PortRef(15000)).action is Action.ALLOW


def test_ports_default_to_every_declared_port_of_the_target():
    rules = parse_rules({"default": "allow", "rules": [{"from": "sidecar", "to": "app", "action": "deny"}]}, CONTAINERS)
    pairs = {(e.source, e.target, str(e.port)): e.decision.action for e in expected_pairs(rules, CONTAINERS.values())}
    assert pairs[("sidecar", "app", "8080/TCP")] is Action.DENY
    assert pairs[("sidecar", "app", "9090/UDP")] is Action.DENY
    assert pairs[("metrics", "app", "8080/TCP")] is Action.ALLOW
    # a container never appears as a source towards itself
    assert not any(s == t for s, t, _ in pairs)


@pytest.mark.parametrize(
    "value, expected",
    [
        (8080, PortRef(8080)),
        ("8080", PortRef(8080)),
        ("9090/UDP", PortRef(9090, Protocol.UDP)),
        ("9090/udp", PortRef(9090, Protocol.UDP)),
        ("http", PortRef(8080)),
    ],
)
def test_port_forms(value, expected):
    rules = parse_rules({"rules": [{"from": "sidecar", "to": "app", "ports": [value], "action": "deny"}]}, CONTAINERS)
    assert rules.rules[0].ports == (expected,)


def test_every_problem_is_listed_with_its_field_path():
    with pytest.raises(RulesError) as err:
        parse_rules(
            {
                "default": "block",
                "rules": [
                    {"from": "ghost", "to": "app", "ports": [7777], "action": "deny"},
                    {"from": "sidecar", "to": "app", "ports": ["80/ICMP"], "action": "drop"},
                    {"to": "*", "action": "deny", "colour": "red"},
                ],
            },
            CONTAINERS,
        )
    text = "\n".join(err.value.problems)
    for fragment in (
        "default: expected allow or deny",
        "rules[0].from: no container named 'ghost'",
        "rules[0].ports[0]: 7777/TCP is not declared by container 'app'",
        "rules[1].ports[0]: unknown protocol 'ICMP'",
        "rules[1].action: expected allow or deny",
        "rules[2].from: required",
        "rules[2].to: must name one container",
        "rules[2].colour: unknown field",
    ):
        assert fragment in text
    assert len(err.value.problems) == 8


def test_without_container_info_names_are_not_checked():
    rules = parse_rules({"rules": [{"from": "a", "to": "b", "ports": ["53/UDP"], "action": "deny"}]})
    assert rules.rules[0].ports == (PortRef(53, Protocol.UDP),)


def test_enforceability_findings():
    findings = enforceability_findings(
        [
            ContainerInfo("a", uid=None),
            ContainerInfo("b", uid=0),
            ContainerInfo("c", uid=5),
            ContainerInfo("d", uid=5, net_admin=True),
        ]
    )
    codes = sorted((f.code, f.containers) for f in findings)
    assert codes == sorted(
        [
            (FindingCode.NO_UID, ("a",)),
            (FindingCode.ROOT_UID, ("b",)),
            (FindingCode.NET_ADMIN, ("d",)),
            (FindingCode.SHARED_UID, ("c", "d")),
        ]
    )
    assert enforceability_findings(CONTAINERS.values()) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.sampled_from(["default", "rules", "from", "to", "ports", "action", "x"]), kids, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_decoded_document_parses_or_raises_rules_error(data):
    try:
        rules = parse_rules(data, CONTAINERS)
    except RulesError as exc:
        assert exc.problems
    else:
        for e in expected_pairs(rules, CONTAINERS.values()):
            assert e.decision.action in (Action.ALLOW, Action.DENY)
