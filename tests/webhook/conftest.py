"""Fixtures for the webhook tests: certificates made by the real `kubereach webhook certs`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The tests share plain helpers (pod and AdmissionReview builders) in webhook_helpers.py.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory):
    """Certificates from the real `kubereach webhook certs`, valid for 127.0.0.1 too."""
    from orchestrator.cli import main

    out = tmp_path_factory.mktemp("certs")
    rc = main(
        [
            "webhook",
            "certs",
            "--service",
            "kubereach-webhook",
            "--namespace",
            "kubereach-system",
            "--out",
            str(out),
            "--ip",
            "127.0.0.1",
            "--dns",
            "localhost",
        ]
    )
    assert rc == 0
    return out
