"""The agent wire-format helpers in probe/schema.py."""

import json

import pytest

from probe.schema import RESULT_KIND, ProbeState, find_result_document, is_agent_image


@pytest.mark.parametrize(
    "image, expected",
    [
        ("ghcr.io/kubereach/agent:0.1.0", True),
        ("ghcr.io/kubereach/agent", True),
        ("mirror.local:5000/kubereach/agent@sha256:abc", True),
        ("nginx:1.25", False),
        ("ghcr.io/kubereach/agent-evil:1", False),
        (None, False),
    ],
)
def test_agent_image_recognition(image, expected):
    assert is_agent_image(image) is expected


def test_last_result_document_wins_over_stderr_noise_and_earlier_documents():
    first = json.dumps({"kind": RESULT_KIND, "spec_id": "old"})
    last = json.dumps({"kind": RESULT_KIND, "spec_id": "new"})
    log = f'starting\n{first}\nwarning: {{not json\n{last}\n{{"kind": "Other"}}\n'
    assert find_result_document(log)["spec_id"] == "new"
    assert find_result_document("nothing here") is None


def test_states_map_to_observed_allow_deny_inconclusive():
    assert ProbeState.OPEN.passed is True and ProbeState.CLOSED.passed is True
    assert ProbeState.FILTERED.passed is False and ProbeState.UNREACHABLE.passed is False
    assert ProbeState.ERROR.passed is None
