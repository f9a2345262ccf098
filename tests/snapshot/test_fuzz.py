"""Random and mutated manifests yield a Snapshot or a clean ManifestError, never another exception.

The structure-aware fuzzing at the end runs the real loader (``load_manifests``, as
``predict -f`` calls it) in a resource-limited sandbox process on the demo's manifests
with one field replaced by something hostile: an explosion fails the test, not the machine.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import ManifestError
from orchestrator.intrapod import expected_intrapod
from orchestrator.model import expected_matrix
from orchestrator.snapshot import Origin, Snapshot, load_manifests, snapshot_from_objects

DEMO = Path(__file__).resolve().parents[2] / "manifests" / "demo"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False, width=16),
    st.sampled_from(
        [
            "",
            "TCP",
            "UDP",
            "ICMP",
            "In",
            "Exists",
            "10.0.0.0/8",
            "fd00::/64",
            "http",
            "10.0.0.1",
            "300.1.1.1",
            "Ingress",
            "Egress",
            "Pod",
            "v1",
            "a/b",
        ]
    ),
    st.text(max_size=6),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.text(max_size=8)
            | st.sampled_from(
                [
                    "kind",
                    "metadata",
                    "spec",
                    "name",
                    "namespace",
                    "labels",
                    "containers",
                    "ports",
                    "podSelector",
                    "ingress",
                    "egress",
                    "from",
                    "to",
                    "ipBlock",
                    "cidr",
                    "except",
                    "port",
                    "endPort",
                    "protocol",
                    "matchLabels",
                    "matchExpressions",
                    "items",
                    "status",
                    "podIP",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def _demo_objects() -> list[dict]:
    objs = []
    for path in sorted(DEMO.glob("*.yaml")):
        objs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return objs


DEMO_OBJECTS = _demo_objects()


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _consume(objects) -> None:
    try:
        snap = snapshot_from_objects((o, Origin("fuzz", i)) for i, o in enumerate(objects, 1))
    except ManifestError as exc:
        assert str(exc)
        return
    assert isinstance(snap, Snapshot)
    with contextlib.suppress(ManifestError):
        expected_intrapod(snap)
    expected_matrix(snap)  # every loaded snapshot must be evaluable


@SETTINGS
@given(st.lists(json_like, max_size=4))
def test_random_documents(objects):
    _consume(objects)


@SETTINGS
@given(st.data())
def test_mutated_demo_manifests(data):
    objs = copy.deepcopy(DEMO_OBJECTS)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(objs) - 1))
        paths = [p for p in _paths(objs[i]) if p]
        path = data.draw(st.sampled_from(paths))
        parent = objs[i]
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete"]))
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_like)
    _consume(objs)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_file_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    path.write_text(text)
    with contextlib.suppress(ManifestError):
        load_manifests([str(path)])


# -- structure-aware, in a sandbox: the demo with one hostile field -----------------------

sys.path.insert(0, str(Path(__file__).parents[1] / "safeyaml"))
from hostile_strategies import json_fragments, one_hostile_field, yaml_fragments  # noqa: E402
from sandbox import Sandbox  # noqa: E402

HOSTILE = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
DEMO_LIST = {"apiVersion": "v1", "kind": "List", "items": DEMO_OBJECTS}


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(cpu_s=900, memory_bytes=1 << 30, wall_s=60)
    yield box
    box.close()


def _clean(result) -> None:
    assert result.raised in (None, "ManifestError"), f"{result.raised}: {result.message}\n{result.traceback}"
    assert len(result.message) < 2000


@HOSTILE
@given(text=one_hostile_field(DEMO_LIST, yaml_fragments, as_yaml=True))
def test_demo_yaml_with_one_hostile_field(sandbox, text):
    _clean(sandbox.call("fuzz_targets:manifest_file", text))


@HOSTILE
@given(text=one_hostile_field(DEMO_LIST, json_fragments))
def test_demo_json_with_one_hostile_field(sandbox, text):
    _clean(sandbox.call("fuzz_targets:manifest_json_file", text))
