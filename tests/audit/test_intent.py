"""The intent format: validation with file/document/field errors, and its semantics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_strategies import clusters
from posture_helpers import intent, pod, shop, snap
from test_suggest_properties import intents

from orchestrator.audit.intent import (
    Intended,
    IntentIndex,
    IntentVerdict,
    intent_verdict,
    load_intent,
    parse_intent,
)
from orchestrator.errors import ManifestError
from orchestrator.snapshot import Origin, snapshot_from_objects
from probe.schema import Protocol

TCP, UDP = Protocol.TCP, Protocol.UDP


def cell(index, src, dst, port, proto=TCP):
    return index.cell(src, dst, port, proto)


def test_first_matching_rule_decides_and_the_default_covers_the_rest():
    s = snap(shop())
    i = intent(
        [
            {"action": "deny", "from": "app/web-1", "to": {"namespace": "data"}},
            {
                "action": "allow",
                "from": {"podSelector": {"matchLabels": {"app": "web"}}},
                "to": "data/*",
                "ports": ["pg"],
            },
        ],
        default="deny",
    )
    index = IntentIndex(i, s)
    assert cell(index, "app/web-1", "data/db-0", 5432).intended is Intended.DENY
    web2 = cell(index, "app/web-2", "data/db-0", 5432)
    assert web2.intended is Intended.ALLOW and web2.statement.index == 1
    assert cell(index, "app/api-1", "data/db-0", 5432) == cell(index, "app/api-1", "data/db-0", 5432)
    assert cell(index, "app/api-1", "data/db-0", 5432).statement is None
    assert cell(index, "app/api-1", "data/db-0", 5432).intended is Intended.DENY  # the default
    assert cell(index, "app/web-1", "app/web-1", 8080).intended is Intended.UNSPECIFIED  # itself


@pytest.mark.parametrize(
    "ports,port,proto,expected",
    [
        ([5432], 5432, TCP, True),
        ([5432], 5432, UDP, False),
        (["53/UDP"], 53, UDP, True),
        (["50-100/TCP"], 80, TCP, True),
        (["50-100/TCP"], 101, TCP, False),
        (["pg"], 5432, TCP, True),  # a name the destination declares
        (["pg/UDP"], 5432, TCP, False),
        (["http"], 5432, TCP, False),
    ],
)
def test_ports_numbers_ranges_and_names(ports, port, proto, expected):
    index = IntentIndex(intent([{"action": "allow", "from": "*", "to": "data/db-0", "ports": ports}]), snap(shop()))
    want = Intended.ALLOW if expected else Intended.UNSPECIFIED
    assert cell(index, "app/web-1", "data/db-0", port, proto).intended is want


def test_selectors_by_namespace_labels_and_pod_names():
    index = IntentIndex(
        intent(
            [
                {
                    "action": "deny",
                    "from": {"namespaceSelector": {"matchLabels": {"team": "app"}}, "pod": "api-1"},
                    "to": "*",
                }
            ]
        ),
        snap(shop()),
    )
    assert cell(index, "app/api-1", "data/db-0", 5432).intended is Intended.DENY
    assert cell(index, "app/web-1", "data/db-0", 5432).intended is Intended.UNSPECIFIED


@pytest.mark.parametrize(
    "intended,allowed,verdict",
    [
        (Intended.ALLOW, True, IntentVerdict.OK),
        (Intended.ALLOW, False, IntentVerdict.VIOLATION_CLOSED),
        (Intended.DENY, True, IntentVerdict.VIOLATION_OPEN),
        (Intended.DENY, False, IntentVerdict.OK),
        (Intended.UNSPECIFIED, True, IntentVerdict.UNSPECIFIED),
        (Intended.DENY, None, IntentVerdict.INCONCLUSIVE),  # a sweep that did not measure never passes
    ],
)
def test_intent_verdicts(intended, allowed, verdict):
    assert intent_verdict(intended, allowed) is verdict


BASE = "apiVersion: kubereach.io/v1alpha1\nkind: ReachabilityIntent\nmetadata: {name: x}\n"


@pytest.mark.parametrize(
    "body,field,message",
    [
        ("spec: {default: maybe}", "spec.default", "expected allow, deny or unspecified"),
        ("spec: {rules: [{action: permit, from: '*', to: '*'}]}", "spec.rules[0].action", "allow or deny"),
        ("spec: {rules: [{action: allow, to: '*'}]}", "spec.rules[0].from", "required"),
        ("spec: {rules: [{action: allow, from: 'web', to: '*'}]}", "spec.rules[0].from", "NAMESPACE/POD"),
        (
            "spec: {rules: [{action: allow, from: '*', to: '*', ports: [70000]}]}",
            "spec.rules[0].ports[0]",
            "out of range",
        ),
        (
            "spec: {rules: [{action: allow, from: '*', to: '*', ports: ['80/ICMP']}]}",
            "spec.rules[0].ports[0]",
            "protocol",
        ),
        ("spec: {rules: [{action: allow, from: '*', to: '*', ports: ['Bad_Name']}]}", "spec.rules[0].ports[0]", "IANA"),
        (
            "spec: {rules: [{action: allow, from: {namespace: a, namespaceSelector: {}}, to: '*'}]}",
            "spec.rules[0].from",
            "exclude each other",
        ),
        (
            "spec: {rules: [{action: allow, to: '*',\n"
            "  from: {podSelector: {matchExpressions: [{key: a, operator: Is}]}}}]}",
            "spec.rules[0].from.podSelector.matchExpressions[0].operator",
            "unknown operator",
        ),
        ("spec: {rules: [{action: allow, from: '*', to: '*', port: [80]}]}", "spec.rules[0].port", "unknown field"),
        ("spec: {rules: {}}", "spec.rules", "expected a list"),
    ],
)
def test_invalid_intents_name_file_document_object_and_field(tmp_path, body, field, message):
    path = tmp_path / "intent.yaml"
    path.write_text(BASE + body + "\n")
    with pytest.raises(ManifestError) as err:
        load_intent(str(path))
    assert err.value.file == str(path) and err.value.document == 1 and err.value.field == field
    assert message in err.value.detail and err.value.obj == "ReachabilityIntent x"


def test_wrong_kind_bad_yaml_and_hostile_files_are_clean_errors(tmp_path):
    other = tmp_path / "pod.yaml"
    other.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    with pytest.raises(ManifestError, match="expected apiVersion: kubereach.io/v1alpha1 and kind: ReachabilityIntent"):
        load_intent(str(other))
    broken = tmp_path / "broken.yaml"
    broken.write_text(BASE + "spec: {rules: [\n")
    with pytest.raises(ManifestError, match="invalid YAML at line"):
        load_intent(str(broken))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [1,1,1,1,1,1,1,1,1]\n"
        + "".join(
            f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    with pytest.raises(ManifestError, match="aliases"):
        load_intent(str(bomb))
    with pytest.raises(ManifestError, match="cannot read"):
        load_intent(str(tmp_path / "missing.yaml"))
    twice = tmp_path / "twice.yaml"
    twice.write_text(BASE + "spec: {}\n---\n" + BASE + "spec: {}\n")
    with pytest.raises(ManifestError, match="expected one document"):
        load_intent(str(twice))


def test_numeric_ports_are_the_single_numbers_the_rules_name():
    i = intent([{"action": "deny", "from": "*", "to": "*", "ports": [80, "53/UDP", "http", "1-9/TCP"]}])
    assert i.numeric_ports() == [(80, TCP), (53, UDP)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clusters(max_pods=6, max_policies=0),
    intents,
    st.sampled_from([(80, TCP), (53, UDP), (8080, TCP), (9000, Protocol.SCTP)]),
)
def test_bitset_rows_and_columns_equal_the_rule_by_rule_answer(objs, raw, port):
    s = snapshot_from_objects((o, Origin("t", i)) for i, o in enumerate(objs, 1))
    index = IntentIndex(parse_intent(raw), s)
    keys = [p.key for p in s.pods]
    for si, src in enumerate(keys):
        allowed, denied = index.row(si, *port)
        for di, dst in enumerate(keys):
            want = index.cell(src, dst, *port).intended
            got = Intended.ALLOW if allowed >> di & 1 else Intended.DENY if denied >> di & 1 else Intended.UNSPECIFIED
            assert got is want
            col_allowed, col_denied = index.column(di, *port)
            assert (col_allowed >> si & 1, col_denied >> si & 1) == (allowed >> di & 1, denied >> di & 1)


def test_pods_outside_the_snapshot_are_unspecified():
    index = IntentIndex(intent([], default="deny"), snap([pod("a", "p", {}, None, [])]))
    assert index.cell("a/p", "b/q", 80, TCP).intended is Intended.UNSPECIFIED
    assert (
        parse_intent({"apiVersion": "kubereach.io/v1alpha1", "kind": "ReachabilityIntent", "spec": {}}).name == "intent"
    )
