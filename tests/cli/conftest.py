"""pytest runs with ``--import-mode=importlib`` (no sys.path insertion): the helper
modules the CLI tests share with other test folders are put on sys.path here, the
workload manifests of tests/snapshot and the scripted API server of tests/sweep."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "snapshot", TESTS / "sweep"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
