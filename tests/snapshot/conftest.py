"""pytest runs with ``--import-mode=importlib`` (no sys.path insertion): this directory is
put on sys.path for the test modules' ``import workload_manifests`` (also used by tests/cli)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
