"""Fixtures for the posture tests (audit, intent, suggest).

The model tests' builders (``model_helpers``: inline clusters through the real loader) and
hypothesis strategies (``model_strategies``: random clusters) are reused from
``tests/model``; pytest runs with ``--import-mode=importlib``, so both directories are put
on sys.path here.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "model"))
sys.path.insert(0, str(HERE))
