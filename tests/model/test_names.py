"""The API server's name and label syntax (``orchestrator.model.names``) against plain
character-by-character references, and the selector compiler's use of it, with hypothesis.

The validators use regular expressions; the references below spell out the rules of
``k8s.io/apimachinery/pkg/util/validation`` one condition at a time, so a wrong pattern
(an unanchored match, a missing length check) shows up as a disagreement."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.model.names import (
    dns1035_label_error,
    dns1123_label_error,
    dns1123_subdomain_error,
    label_value_error,
    port_name_error,
    qualified_name_error,
)
from orchestrator.model.selectors import InvalidSpec, compile_selector

LOWER_ALNUM = set(string.ascii_lowercase + string.digits)
ALNUM = set(string.ascii_letters + string.digits)


def ref_dns1123_label(s: str) -> bool:
    return 1 <= len(s) <= 63 and set(s) <= LOWER_ALNUM | {"-"} and s[0] in LOWER_ALNUM and s[-1] in LOWER_ALNUM


def ref_dns1123_subdomain(s: str) -> bool:
    # upstream limits the whole name to 253 and each dot-separated part to the label
    # alphabet with alphanumeric ends (the 63-character part limit is not checked)
    parts = s.split(".")
    return len(s) <= 253 and all(
        p and set(p) <= LOWER_ALNUM | {"-"} and p[0] in LOWER_ALNUM and p[-1] in LOWER_ALNUM for p in parts
    )


def ref_dns1035_label(s: str) -> bool:
    return ref_dns1123_label(s) and s[0] in string.ascii_lowercase


def ref_name_part(s: str) -> bool:
    return 1 <= len(s) <= 63 and set(s) <= ALNUM | set("-_.") and s[0] in ALNUM and s[-1] in ALNUM


def ref_label_value(s: str) -> bool:
    return s == "" or ref_name_part(s)


def ref_qualified_name(s: str) -> bool:
    parts = s.split("/")
    if len(parts) == 1:
        return ref_name_part(parts[0])
    if len(parts) == 2:
        return bool(parts[0]) and ref_dns1123_subdomain(parts[0]) and ref_name_part(parts[1])
    return False


def ref_port_name(s: str) -> bool:
    return (
        1 <= len(s) <= 15
        and set(s) <= LOWER_ALNUM | {"-"}
        and any(c in string.ascii_lowercase for c in s)
        and "--" not in s
        and not s.startswith("-")
        and not s.endswith("-")
    )


# short strings over the characters the rules care about, and long runs at the limits
edgy = st.text(alphabet="abzAZ019-_./ @$\n", max_size=20)
long_runs = st.builds(
    lambda c, n, tail: c * n + tail,
    st.sampled_from(["a", "A", "1", "-", "a.", "x/"]),
    st.sampled_from([14, 15, 16, 31, 62, 63, 64, 126, 252, 253, 254]),
    st.sampled_from(["", "a", "-", "/a", ".b"]),
)
names = edgy | long_runs

PAIRS = [
    (dns1123_label_error, ref_dns1123_label),
    (dns1123_subdomain_error, ref_dns1123_subdomain),
    (dns1035_label_error, ref_dns1035_label),
    (label_value_error, ref_label_value),
    (qualified_name_error, ref_qualified_name),
    (port_name_error, ref_port_name),
]


@pytest.mark.parametrize("check,reference", PAIRS, ids=[c.__name__ for c, _ in PAIRS])
@settings(max_examples=600, deadline=None)
@given(value=names)
def test_each_validator_agrees_with_its_reference(check, reference, value):
    problem = check(value)
    assert (problem is None) == reference(value), (value, problem)
    if problem is not None:
        assert len(problem) < 400  # the value is quoted, at most a few dozen characters of it


@pytest.mark.parametrize(
    "check,valid,invalid",
    [
        (dns1123_label_error, ["a", "my-app", "0abc", "a" * 63], ["", "A", "-a", "a-", "a.b", "a" * 64]),
        (dns1123_subdomain_error, ["a.b.c", "example.com", "a" * 253], ["", "a..b", ".a", "a_b", "a" * 254]),
        (dns1035_label_error, ["web", "a-1"], ["1web", "-a", "web-"]),
        (
            qualified_name_error,
            ["app", "app.kubernetes.io/name", "A_b.C"],
            ["", "/a", "a/", "a/b/c", "Ex.com/a", "a b"],
        ),
        (label_value_error, ["", "web", "v1.2_3", "a" * 63], ["-a", "a-", "a b", "a" * 64, "$x"]),
        (
            port_name_error,
            ["http", "grpc-web", "a1", "h" * 15],
            ["", "80", "-http", "http-", "a--b", "HTTP", "h" * 16, "http\n"],
        ),
    ],
)
def test_known_valid_and_invalid_values(check, valid, invalid):
    assert [v for v in valid if check(v) is not None] == []
    assert [v for v in invalid if check(v) is None] == []


label_keys = st.from_regex(r"\A([a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?\.)?[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?/?\Z").map(
    lambda k: k + "k" if k.endswith("/") else k
) | st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z")
label_values = st.just("") | st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z")


@settings(max_examples=300, deadline=None)
@given(labels=st.dictionaries(label_keys, label_values, max_size=5))
def test_a_selector_of_valid_labels_compiles_and_selects_exactly_what_carries_them(labels):
    assert all(qualified_name_error(k) is None for k in labels), labels
    selector = compile_selector({"matchLabels": labels}, "spec.selector")
    assert selector.matches(labels) and selector.matches({**labels, "other": "x"})
    for key in labels:
        assert not selector.matches({k: v for k, v in labels.items() if k != key})


@settings(max_examples=300, deadline=None)
@given(key=names, value=names, op=st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
def test_the_compiler_refuses_exactly_the_keys_and_values_the_api_server_refuses(key, value, op):
    values = [value] if op in ("In", "NotIn") else []
    expr = {"key": key, "operator": op, "values": values}
    valid = bool(key) and ref_qualified_name(key) and all(ref_label_value(v) for v in values)
    try:
        compile_selector({"matchExpressions": [expr]}, "spec.podSelector")
    except InvalidSpec as exc:
        assert not valid, (key, value, exc)
        assert exc.field.startswith("spec.podSelector.matchExpressions[0].")
        return
    assert valid, (key, value)
