"""Intra-pod expectations from the annotation: rows per (from container, to container port) and findings."""

from __future__ import annotations

import pytest
from model_helpers import build, ns

from orchestrator.errors import ManifestError
from orchestrator.intrapod import analyze_intrapod, expected_intrapod, intrapod_findings
from orchestrator.model import Decision
from probe.intrapod_rules import FindingCode


def rules_pod(annotation: str | None, containers: list[dict]) -> dict:
    meta = {"name": "api", "namespace": "a"}
    if annotation is not None:
        meta["annotations"] = {"intrapod.kubereach.io/rules": annotation}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": containers}}


def c(name: str, uid: int | None, *ports, caps=()):
    sc = {}
    if uid is not None:
        sc["runAsUser"] = uid
    if caps:
        sc["capabilities"] = {"add": list(caps)}
    return {
        "name": name,
        "securityContext": sc,
        "ports": [{"containerPort": p, **({"name": n} if n else {}), "protocol": proto} for p, n, proto in ports],
    }


CONTAINERS = [
    c("app", 1001, (8080, "http", "TCP"), (8081, "admin", "TCP")),
    c("sidecar", 1002, (15001, None, "TCP")),
    c("metrics", 1003, (9100, None, "TCP"), (9101, None, "UDP")),
]

RULES = """
default: allow
rules:
  - {from: metrics, to: app, ports: [admin], action: deny}
  - {from: "*", to: metrics, ports: ["9101/UDP"], action: deny}
"""


def test_rows_cover_every_other_container_and_declared_port_with_first_matching_rule():
    snap = build([ns("a"), rules_pod(RULES, CONTAINERS)])
    rows = {(r.source, r.destination, r.port, str(r.protocol)): r for r in expected_intrapod(snap)}
    assert len(rows) == 10  # 5 declared ports x 2 other containers each
    deny = rows[("a/api/metrics", "a/api/app", 8081, "TCP")]
    assert deny.decision is Decision.DENY and deny.reason == "intra-pod rule 0 (deny)"
    assert rows[("a/api/sidecar", "a/api/app", 8081, "TCP")].decision is Decision.ALLOW
    assert rows[("a/api/metrics", "a/api/app", 8080, "TCP")].reason == "intra-pod no rule matches: default allow"
    for src in ("a/api/app", "a/api/sidecar"):
        assert rows[(src, "a/api/metrics", 9101, "UDP")].decision is Decision.DENY
        assert rows[(src, "a/api/metrics", 9100, "TCP")].decision is Decision.ALLOW
    assert not any(r[0] == r[1] for r in rows)  # a container reaching its own ports is not a row


def test_default_deny_applies_when_no_rule_matches():
    snap = build([ns("a"), rules_pod("default: deny\nrules: [{from: sidecar, to: app, action: allow}]", CONTAINERS)])
    rows = {(r.source, r.destination, r.port): r.decision for r in expected_intrapod(snap)}
    assert rows[("a/api/sidecar", "a/api/app", 8080)] is Decision.ALLOW
    assert rows[("a/api/metrics", "a/api/app", 8080)] is Decision.DENY
    assert rows[("a/api/app", "a/api/sidecar", 15001)] is Decision.DENY


def test_pods_without_annotation_have_no_rows():
    snap = build([ns("a"), rules_pod(None, CONTAINERS)])
    assert analyze_intrapod(snap).rows == () and intrapod_findings(snap) == {}


@pytest.mark.parametrize(
    "containers,code",
    [
        ([c("app", None, (80, None, "TCP")), c("side", 1002)], FindingCode.NO_UID),
        ([c("app", 0, (80, None, "TCP")), c("side", 1002)], FindingCode.ROOT_UID),
        ([c("app", 1001, (80, None, "TCP")), c("side", 1001)], FindingCode.SHARED_UID),
        ([c("app", 1001, (80, None, "TCP")), c("side", 1002, caps=("NET_ADMIN",))], FindingCode.NET_ADMIN),
    ],
)
def test_enforceability_findings(containers, code):
    snap = build([ns("a"), rules_pod("default: deny", containers)])
    findings = intrapod_findings(snap)["a/api"]
    assert [f.code for f in findings] == [code]
    assert all(code in r.reason for r in expected_intrapod(snap))


def test_pod_level_run_as_user_is_inherited():
    pod = rules_pod("default: deny", [c("app", None, (80, None, "TCP")), c("side", 1002)])
    pod["spec"]["securityContext"] = {"runAsUser": 1002}
    findings = intrapod_findings(build([ns("a"), pod]))["a/api"]
    assert [f.code for f in findings] == [FindingCode.SHARED_UID]


@pytest.mark.parametrize(
    "annotation,message",
    [
        ("rules: [{from: nobody, to: app, action: deny}]", "no container named 'nobody'"),
        ("rules: [{from: sidecar, to: app, ports: [9999], action: deny}]", "not declared by container 'app'"),
        ("rules: [{from: sidecar, to: app, action: maybe}]", "expected allow or deny"),
        ("rules: [{from: sidecar, to: app, ports: ['80/ICMP'], action: deny}]", "unknown protocol"),
        ("default: [", "invalid YAML"),
    ],
)
def test_invalid_rules_are_a_manifest_error_naming_the_pod_and_annotation(annotation, message):
    snap = build([ns("a"), rules_pod(annotation, CONTAINERS)])
    with pytest.raises(ManifestError) as info:
        expected_intrapod(snap)
    err = info.value
    assert message in str(err)
    assert err.obj == "Pod a/api" and err.field == "metadata.annotations[intrapod.kubereach.io/rules]"


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_rule_values = st.one_of(
    st.none(),
    st.sampled_from(
        ["app", "sidecar", "metrics", "*", "nobody", "allow", "deny", "8080", "9101/UDP", "admin", "80/ICMP"]
    ),
    st.integers(-1, 70000),
    st.lists(st.sampled_from([8080, "admin", "9100", 0]), max_size=2),
)
_annotation = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda d, rules: __import__("json").dumps({"default": d, "rules": rules}),
        _rule_values,
        st.lists(
            st.dictionaries(st.sampled_from(["from", "to", "ports", "action", "extra"]), _rule_values, max_size=4),
            max_size=3,
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_annotation)
def test_any_annotation_yields_rows_or_a_manifest_error(annotation):
    snap = build([ns("a"), rules_pod(annotation, CONTAINERS)])
    try:
        rows = expected_intrapod(snap)
    except ManifestError as exc:
        assert exc.field == "metadata.annotations[intrapod.kubereach.io/rules]"
        return
    assert all(r.decision in (Decision.ALLOW, Decision.DENY) for r in rows)
