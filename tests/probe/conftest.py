"""Fixtures of the probe tests; the helpers live in krp_helpers.py (importable by name)."""

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from krp_helpers import netpair, single_ns  # noqa: F401  (pytest fixtures)
