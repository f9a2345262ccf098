"""The hostile corpus, the sandbox and the fuzz targets are plain modules of this directory."""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
