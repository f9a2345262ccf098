"""Fuzzing the agent's decoders: a probe spec and an intra-pod config, each valid but for one hostile field.

``kubereach-probe run`` decodes a spec someone else built, the init container a config
the webhook projected from an annotation: both run in a resource-limited sandbox here,
and must answer with their own clean error (SpecError, IntrapodError) or a result,
never another exception and never an explosion of CPU or memory.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parents[1] / "safeyaml"))

from hostile_strategies import json_fragments, one_hostile_field
from sandbox import Sandbox

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
SPEC = {
    "kind": "KubereachProbeSpec",
    "version": 1,
    "id": "fuzz",
    "deadline_s": 5,
    "concurrency": 4,
    "timeout_s": 0.5,
    "retries": 0,
    "targets": [
        {"id": "a", "address": "127.0.0.1", "port": 9, "protocol": "TCP", "method": "connect"},
        {"address": "::1", "port": 53, "protocol": "udp", "timeout_s": 0.2, "retries": 1},
    ],
}
CONFIG = {
    "rules": {"default": "deny", "rules": [{"from": "side", "to": "app", "ports": ["80/TCP"], "action": "allow"}]},
    "containers": [{"name": "app", "uid": 1001, "ports": ["80/TCP", "53/UDP"]}, {"name": "side", "uid": 1002}],
}


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(cpu_s=900, memory_bytes=1 << 30, wall_s=60)
    yield box
    box.close()


def z(text: str) -> str:
    return "z:" + base64.b64encode(zlib.compress(text.encode("utf-8", "surrogatepass"))).decode()


@FUZZ
@given(text=one_hostile_field(SPEC, json_fragments))
def test_probe_spec_with_one_hostile_field(sandbox, text):
    for form in (text, z(text)):
        result = sandbox.call("fuzz_targets:probe_spec", form)
        assert result.raised in (None, "SpecError"), f"{result.raised}: {result.message}\n{result.traceback}"


@FUZZ
@given(text=one_hostile_field(CONFIG, json_fragments))
def test_intrapod_config_with_one_hostile_field(sandbox, text):
    for form in (text, z(text)):
        result = sandbox.call("fuzz_targets:intrapod_config", form)
        assert result.raised in (None, "IntrapodError"), f"{result.raised}: {result.message}\n{result.traceback}"


def test_a_zlib_bomb_stops_at_the_bound(sandbox):
    bomb = "z:" + base64.b64encode(zlib.compress(b"[" + b" " * (64 << 20) + b"]", 9)).decode()
    assert len(bomb) < 100_000
    result = sandbox.call("fuzz_targets:intrapod_config", bomb)
    assert result.raised == "IntrapodError" and "once decompressed" in result.message


def test_the_templates_themselves_are_valid(sandbox):
    assert sandbox.call("fuzz_targets:probe_spec", json.dumps(SPEC)).value == 2
    assert sandbox.call("fuzz_targets:intrapod_config", json.dumps(CONFIG)).value == 2  # side -> app: 80 allow, 53 deny
