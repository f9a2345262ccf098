"""The one loader for YAML someone else wrote: bounded, strict about keys, JSON-shaped."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import safeyaml
from safeyaml import Limits, YamlError

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([prev] * 9)}]\n"
    for name, prev in zip("bcdefghij", ["*a", "*b", "*c", "*d", "*e", "*f", "*g", "*h", "*i"], strict=True)
)
BILLION_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS


def test_a_billion_laughs_is_refused_before_anything_expands_it():
    assert len(BILLION_LAUGHS) < 600
    started = time.process_time()
    with pytest.raises(YamlError, match="too large once its aliases are expanded") as info:
        safeyaml.load(BILLION_LAUGHS)
    assert time.process_time() - started < 1.0  # generous: the check is O(distinct nodes), microseconds
    assert info.value.document == 1 and info.value.line is not None


def test_modest_aliases_and_merge_keys_still_work():
    data = safeyaml.load("base: &b {cpu: 1m}\nx: *b\ny: {<<: *b, mem: 2Mi}\n")
    assert data == {"base": {"cpu": "1m"}, "x": {"cpu": "1m"}, "y": {"cpu": "1m", "mem": "2Mi"}}


def test_alias_expansion_bound_is_a_parameter():
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a, *a, *a]\n"
    assert safeyaml.load(text)["b"][4][9] == 10
    with pytest.raises(YamlError, match="more than 40 nodes"):
        safeyaml.load(text, Limits(max_nodes=40))


def test_recursive_alias_is_refused():
    with pytest.raises(YamlError, match="recursive"):
        safeyaml.load("a: &x [1, *x]\n")


@pytest.mark.parametrize(
    "text", ["[" * 250 + "]" * 250, "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 260))]
)
def test_deep_nesting_is_a_clean_error(text):
    with pytest.raises(YamlError, match="nested too deeply"):
        safeyaml.load(text)


def test_nesting_up_to_the_limit_loads():
    assert safeyaml.load("[" * 150 + "]" * 150) is not None


def test_duplicate_keys_name_the_key_and_both_lines():
    with pytest.raises(YamlError) as info:
        list(safeyaml.load_all("kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: b}\nkind: Service\n"))
    err = info.value
    assert (err.document, err.line) == (2, 6)  # lines count in the whole text, as editors do
    assert "duplicate key 'kind' (first at line 4)" in str(err)


def test_dates_stay_strings_and_binary_is_refused():
    assert safeyaml.load("created: 2024-01-01\nat: 2024-01-01T10:00:00Z\n") == {
        "created": "2024-01-01",
        "at": "2024-01-01T10:00:00Z",
    }
    with pytest.raises(YamlError, match="binary values are not JSON"):
        safeyaml.load("x: !!binary aGVsbG8=\n")
    with pytest.raises(YamlError, match="set values are not JSON"):
        safeyaml.load("x: !!set {a, b}\n")


def test_size_is_checked_before_parsing():
    with pytest.raises(YamlError, match="larger than 1,024 bytes"):
        safeyaml.load("a: " + "x" * 2000, Limits(max_bytes=1024))


def test_nul_bytes_and_invalid_utf8_are_clean_errors():
    with pytest.raises(YamlError, match="NUL"):
        safeyaml.load("a: b\x00c")
    with pytest.raises(YamlError, match="not UTF-8"):
        safeyaml.load(b"a: \xff\xfe")


def test_errors_quote_little_of_the_input():
    key = "k" * 5000
    with pytest.raises(YamlError) as info:
        safeyaml.load(f"{key}: 1\n{key}: 2\n")
    assert len(str(info.value)) < 400


def test_documents_are_numbered_and_empty_ones_skipped():
    assert list(safeyaml.load_all("---\n---\na: 1\n---\n\n---\nb: 2\n")) == [(2, {"a": 1}), (4, {"b": 2})]


def test_load_wants_one_document():
    with pytest.raises(YamlError, match="expected one document, found 2"):
        safeyaml.load("a: 1\n---\nb: 2\n")


# YAML forbids raw control characters that JSON strings may hold unescaped
_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text.filter(bool), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_document_loads_as_itself(value):
    import json

    assert safeyaml.load(json.dumps(value, ensure_ascii=False)) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_loads_or_is_a_yaml_error(text):
    with contextlib.suppress(YamlError):
        list(safeyaml.load_all(text, Limits(max_bytes=4096, max_nodes=10_000)))


# -- keys and values as kubectl makes them (JSON-shaped) ----------------------------------


def test_keys_become_strings_as_kubectl_makes_them_and_never_fold_into_each_other():
    # PyYAML's dict would fold 1 and true into one key (True == 1 in Python)
    assert safeyaml.load("1: a\ntrue: b\n2.0: c\n1.5: d\nfalse: e\n") == {
        "1": "a",
        "true": "b",
        "2": "c",
        "1.5": "d",
        "false": "e",
    }


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("~: a\n", "not null"),
        ("? [a, b]\n: c\n", "not a list or a mapping"),
        ("? {a: b}\n: c\n", "not a list or a mapping"),
        ("1: a\n'1': b\n", "duplicate key '1'"),
        ("a: .nan\n", "not a finite number"),
        ("a: -.inf\n", "not a finite number"),
        ("a: " + "9" * 5000 + "\n", "Exceeds the limit"),
    ],
)
def test_what_json_cannot_carry_is_a_clean_error(text, fragment):
    with pytest.raises(YamlError, match=fragment) as info:
        safeyaml.load(text)
    assert info.value.document == 1 and len(str(info.value)) < 400


# -- one annotation's bounds -----------------------------------------------------------

ALIAS_BOMB_440 = (  # the finding: 440 bytes that took the old webhook 16-23 s and ~1 GiB
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "rules: *i\n"
)


def test_the_annotation_limits_refuse_an_alias_bomb_in_microseconds():
    assert len(ALIAS_BOMB_440) < 500
    started = time.process_time()
    with pytest.raises(YamlError, match="aliases expand it by more than 10,000 nodes"):
        safeyaml.load(ALIAS_BOMB_440, safeyaml.ANNOTATIONS)
    assert time.process_time() - started < 0.5  # generous: it is O(distinct nodes)


def test_the_annotation_limits_allow_reusing_a_port_list():
    text = "ports: &web [8080, 8443]\nrules:\n" + "".join(
        f"  - {{from: c{i}, to: app, ports: *web, action: deny}}\n" for i in range(50)
    )
    data = safeyaml.load(text, safeyaml.ANNOTATIONS)
    assert data["rules"][49]["ports"] == [8080, 8443]


def test_the_annotation_limits_follow_the_api_servers_256_kib():
    assert safeyaml.ANNOTATIONS.max_bytes == 256 * 1024
    with pytest.raises(YamlError, match="larger than 262,144 bytes"):
        safeyaml.load("a: " + "x" * (256 * 1024), safeyaml.ANNOTATIONS)
    with pytest.raises(YamlError, match="nested too deeply"):
        safeyaml.load("[" * 40 + "]" * 40, safeyaml.ANNOTATIONS)


def test_the_alias_bound_counts_only_what_aliases_add():
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a]\n"  # aliases add 2 x 11 nodes
    assert safeyaml.load(text, Limits(max_alias_nodes=22))["b"][1][9] == 10
    with pytest.raises(YamlError, match="more than 21 nodes"):
        safeyaml.load(text, Limits(max_alias_nodes=21))
    # without aliases, a large document is only bounded by max_nodes
    assert len(safeyaml.load("[" + ", ".join(["1"] * 5000) + "]", Limits(max_alias_nodes=0))) == 5000
