"""Fixtures for the policy model tests; the builders live in ``model_helpers``.

pytest runs with ``--import-mode=importlib`` (no sys.path insertion), so this
directory is put on sys.path here for the test modules' ``import model_helpers``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model_helpers import cluster

from orchestrator.snapshot import Snapshot


@pytest.fixture
def standard() -> Snapshot:
    return cluster()
