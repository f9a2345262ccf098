"""PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge."""

from __future__ import annotations

import contextlib
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.api.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(json_objects, json_objects)
def test_merge_patch_never_mutates_inputs_and_is_idempotent(target, patch):
    t0, p0 = copy.deepcopy(target), copy.deepcopy(patch)
    once = merge_patch(target, patch)
    assert target == t0 and patch == p0
    assert merge_patch(once, patch) == once


@given(json_objects)
def test_merge_patch_with_the_document_itself_keeps_non_null_content(doc):
    result = merge_patch({}, doc)
    assert all(v is not None for v in result.values())


def test_merge_patch_null_deletes_and_maps_merge():
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None, "e": 3}, "d": None}) == {
        "a": {"c": 2, "e": 3}
    }


def test_json_patch_operations():
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/c"},
            {"op": "move", "from": "/metadata/labels/c", "path": "/metadata/labels/m~1n"},
            {"op": "test", "path": "/spec/list", "value": [2, 3]},
        ],
    )
    assert out == {"metadata": {"labels": {"a": "9", "b": "2", "m/n": "9"}}, "spec": {"list": [2, 3]}}
    assert doc["spec"]["list"] == [1, 2]


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add"},
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/x", "value": 1}],
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/a/5", "value": 1}],
        [{"op": "add", "path": "a", "value": 1}],
    ],
)
def test_json_patch_errors(ops):
    with pytest.raises(PatchError):
        json_patch({"a": [1]}, ops)


def test_strategic_merge_merges_containers_by_name_and_ports_by_container_port():
    pod = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "b", "image": "y"},
            ]
        }
    }
    out = strategic_merge_patch(
        pod,
        {
            "spec": {
                "containers": [
                    {"name": "b", "image": "z"},
                    {"name": "a", "ports": [{"containerPort": 81}]},
                    {"name": "c", "image": "new"},
                ]
            }
        },
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b", "c"]
    assert out["spec"]["containers"][1]["image"] == "z"
    assert [p["containerPort"] for p in out["spec"]["containers"][0]["ports"]] == [80, 81]


def test_strategic_merge_directives():
    base = {
        "metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "tolerations": [{"key": "k"}]},
    }
    out = strategic_merge_patch(
        base,
        {
            "metadata": {"finalizers": ["b"], "labels": {"x": None}},
            "spec": {
                "containers": [{"name": "a", "$patch": "delete"}],
                "tolerations": [{"key": "j"}],
                "$setElementOrder/containers": [{"name": "b"}],
            },
            "$deleteFromPrimitiveList/nothing": ["z"],
        },
    )
    assert out["metadata"] == {"finalizers": ["a", "b"], "labels": {"y": "2"}}
    assert out["spec"]["containers"] == [{"name": "b"}]
    assert out["spec"]["tolerations"] == [{"key": "j"}]  # no merge key: replaced
    replaced = strategic_merge_patch(base, {"spec": {"$patch": "replace", "containers": []}})
    assert replaced["spec"] == {"containers": []}


def test_strategic_merge_element_without_merge_key_is_an_error():
    with pytest.raises(PatchError):
        strategic_merge_patch({"spec": {"containers": []}}, {"spec": {"containers": [{"image": "x"}]}})


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "add", "path": "/a/01", "value": 1}],  # no leading zeros in an index (RFC 6901)
        [{"op": "add", "path": "/a/0"}],  # add without a value
        [{"op": "move", "path": "/b"}],  # move without a from
        [{"op": "add", "path": "/a/0/x", "value": 1}],  # into a scalar
        ["not an operation"],
    ],
)
def test_json_patch_malformed_operations_are_patch_errors(ops):
    with pytest.raises(PatchError):
        json_patch({"a": [1]}, ops)


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
op_st = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
        "path": st.sampled_from(["", "/", "/a", "/a/0", "/a/-", "/b/c", "/a/01", "x"]),
    },
    optional={"value": json_st, "from": st.sampled_from(["/a", "/a/0", "/b", ""])},
)


@settings(max_examples=300, deadline=None)
@given(doc=json_st, ops=st.lists(op_st, max_size=4))
def test_json_patch_either_applies_or_is_a_patch_error(doc, ops):
    """Whatever someone sends, the answer is a document or PatchError (a 422), never a crash."""
    before = copy.deepcopy(doc)
    with contextlib.suppress(PatchError):
        json_patch(doc, ops)
    assert doc == before
