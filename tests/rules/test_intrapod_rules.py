"""The intra-pod rules parser and decision logic (probe/intrapod_rules.py), as the spec reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.intrapod_rules import (
    MAX_PROBLEMS,
    Action,
    ContainerInfo,
    ContainerKind,
    FindingCode,
    PortRef,
    RulesError,
    decide,
    enforceability_findings,
    expected_pairs,
    has_net_admin,
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


@pytest.mark.parametrize(
    "add, drop, privileged, expected",
    [
        ((), (), False, False),  # the runtime's default set has no NET_ADMIN
        (("NET_ADMIN",), (), False, True),
        (("net_admin",), (), False, True),  # case-insensitive, as containerd
        (("CAP_NET_ADMIN",), (), False, True),  # a CAP_ prefix: the safe reading
        (("ALL",), (), False, True),
        (("ALL",), ("NET_ADMIN",), False, False),  # ALL, then drop NET_ADMIN
        (("ALL",), ("ALL",), False, False),  # drop ALL wins over add ALL
        (("NET_ADMIN",), ("ALL",), False, True),  # drop ALL, then add NET_ADMIN
        (("NET_ADMIN",), ("NET_ADMIN",), False, False),  # drop is applied last
        ((), ("ALL",), True, True),  # privileged has everything
    ],
)
def test_net_admin_is_computed_as_the_container_runtime_does(add, drop, privileged, expected):
    assert has_net_admin(add, drop, privileged=privileged) is expected


def _codes(findings):
    return [(f.code, f.containers, f.blocking) for f in findings]


def test_native_sidecars_take_part_like_containers_and_plain_init_containers_only_warn():
    sidecar = ContainerKind.SIDECAR
    findings = enforceability_findings(
        [
            ContainerInfo("app", uid=1000, ports=(PortRef(8080),)),
            ContainerInfo("proxy", uid=1000, kind=sidecar),  # inherits the app's UID (pod level)
            ContainerInfo("logger", uid=1002, kind=sidecar, privileged=True, net_admin=True),
            ContainerInfo("metrics", uid=1003, kind=sidecar, net_admin=True, ports=(PortRef(8080),)),
            ContainerInfo("mesh-init", uid=0, kind=ContainerKind.INIT, net_admin=True),  # istio-init-like
            ContainerInfo("setup", uid=None, kind=ContainerKind.INIT),  # plain init: neither UID nor root matters
        ]
    )
    assert _codes(findings) == [
        (FindingCode.PRIVILEGED, ("logger",), True),
        (FindingCode.NET_ADMIN, ("metrics",), True),
        (FindingCode.SHARED_UID, ("app", "proxy"), True),
        (FindingCode.SHARED_PORT, ("app", "metrics"), True),
        (FindingCode.INIT_NET_ADMIN, ("mesh-init",), False),
    ]
    assert "native sidecar 'logger' is privileged" in findings[0].message
    assert "container 'app', native sidecar 'proxy' share UID 1000" in findings[2].message


def test_host_network_is_a_finding_of_the_pod():
    (finding,) = enforceability_findings([ContainerInfo("app", uid=1)], host_network=True)
    assert finding.code is FindingCode.HOST_NETWORK and finding.blocking and finding.containers == ()


def test_plain_init_containers_are_not_rule_targets():
    mesh_init = ContainerInfo("mesh-init", uid=1005, kind=ContainerKind.INIT, ports=(PortRef(15001),))
    pairs = expected_pairs(parse_rules({"default": "deny"}, CONTAINERS), [*CONTAINERS.values(), mesh_init])
    assert "mesh-init" not in {p.source for p in pairs} | {p.target for p in pairs}


def test_problems_are_bounded_in_number_and_quote_little_of_what_was_written():
    huge = "x" * 100_000
    with pytest.raises(RulesError) as err:
        parse_rules({huge: 1, "rules": [{"from": huge, "to": "app", "action": huge} for _ in range(5000)]}, CONTAINERS)
    problems = err.value.problems
    assert len(problems) == MAX_PROBLEMS + 1 and problems[-1].startswith("... and ")
    assert max(map(len, problems)) < 300 and len(str(err.value)) < 6000


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
