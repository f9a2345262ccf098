"""Fuzzing the rules parser: a valid rules annotation with one hostile field, in a resource-limited sandbox.

Through the one path predict, the sweep and the webhook share
(:func:`orchestrator.intrapod.pod_intrapod`): every input yields rules or a list of
problems (each quoting little of the input), never an exception or an explosion; an
annotation over the API server's 256 KiB makes the pod itself invalid (ManifestError).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parents[1] / "safeyaml"))

from hostile_strategies import json_fragments, one_hostile_field, yaml_fragments
from sandbox import Sandbox

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
RULES = {
    "default": "deny",
    "rules": [
        {"from": "side", "to": "app", "ports": ["http", 80, "80/TCP"], "action": "allow"},
        {"from": "*", "to": "app", "action": "deny"},
    ],
}


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(cpu_s=900, memory_bytes=1 << 30, wall_s=60)
    yield box
    box.close()


@FUZZ
@given(text=one_hostile_field(RULES, yaml_fragments, as_yaml=True))
def test_yaml_rules_with_one_hostile_field(sandbox, text):
    result = sandbox.call("fuzz_targets:rules_annotation", text)
    assert result.raised in (None, "ManifestError"), f"{result.raised}: {result.message}\n{result.traceback}"
    assert result.raised is None or "262144 bytes" in result.message


@FUZZ
@given(text=one_hostile_field(RULES, json_fragments))
def test_json_rules_with_one_hostile_field(sandbox, text):
    result = sandbox.call("fuzz_targets:rules_annotation", text)
    assert result.raised in (None, "ManifestError"), f"{result.raised}: {result.message}\n{result.traceback}"
    assert result.raised is None or "262144 bytes" in result.message


def test_the_template_itself_is_valid(sandbox):
    import json

    assert sandbox.call("fuzz_targets:rules_annotation", json.dumps(RULES)).value == []
