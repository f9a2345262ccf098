"""Fuzzing the AdmissionReview endpoint: reviews shaped as kube-apiserver sends them, one field hostile.

Each generated body goes through exactly what a webhook worker runs
(:func:`webhook.worker.answer`), inside a resource-limited sandbox process: the answer
must be an AdmissionReview (allowed or denied, with bounded messages and warnings) or a
400 for a body that is not one, never an exception, and never an explosion of CPU or
memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from webhook_helpers import RULES, make_pod, make_review

sys.path.insert(0, str(Path(__file__).parents[1] / "safeyaml"))

from hostile_corpus import CORPUS, as_text
from hostile_strategies import json_fragments, one_hostile_field, yaml_fragments
from sandbox import Sandbox

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
REVIEW = make_review(make_pod(init_containers=[{"name": "mesh-init", "image": "m"}]))


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(cpu_s=900, memory_bytes=1 << 30, wall_s=60)
    yield box
    box.close()


@FUZZ
@given(body=one_hostile_field(REVIEW, json_fragments))
def test_a_review_with_one_hostile_field_is_answered(sandbox, body):
    result = sandbox.call("fuzz_targets:admission_review", body.encode("utf-8", "surrogatepass"))
    assert result.raised is None, f"{result.raised}: {result.message}\n{result.traceback}"


@FUZZ
@given(
    rules=one_hostile_field(
        {"default": "deny", "rules": [{"from": "sidecar", "to": "app", "ports": ["http", 9090], "action": "deny"}]},
        yaml_fragments,
        as_yaml=True,
    )
)
def test_a_review_whose_rules_annotation_has_one_hostile_field_is_answered(sandbox, rules):
    review = json.loads(json.dumps(REVIEW))
    review["request"]["object"]["metadata"]["annotations"]["intrapod.kubereach.io/rules"] = rules
    result = sandbox.call("fuzz_targets:admission_review", json.dumps(review).encode("utf-8", "surrogatepass"))
    assert result.raised is None, f"{result.raised}: {result.message}\n{result.traceback}"
    assert result.value == {"allowed": result.value.get("allowed")}


@pytest.mark.parametrize("entry", sorted(CORPUS))
def test_the_hostile_corpus_as_the_rules_annotation_is_denied_with_a_short_message(sandbox, entry):
    review = json.loads(json.dumps(REVIEW))
    review["request"]["object"]["metadata"]["annotations"]["intrapod.kubereach.io/rules"] = as_text(CORPUS[entry])
    result = sandbox.call("fuzz_targets:admission_review", json.dumps(review).encode())
    assert result.raised is None, f"{result.raised}: {result.message}"
    assert result.value == {"allowed": False}


def test_the_template_itself_is_admitted(sandbox):
    assert RULES
    assert sandbox.call("fuzz_targets:admission_review", json.dumps(REVIEW).encode()).value == {"allowed": True}
