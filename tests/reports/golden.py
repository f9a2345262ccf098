"""Golden files of tests/reports: JSON compared with files under goldens/.

Refresh them on purpose, after checking the change is wanted:
    KUBEREACH_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/reports
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDENS = Path(__file__).parent / "goldens"
UPDATE = os.environ.get("KUBEREACH_UPDATE_GOLDENS") == "1"


def check_golden(name: str, value: Any) -> None:
    text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = GOLDENS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with KUBEREACH_UPDATE_GOLDENS=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (KUBEREACH_UPDATE_GOLDENS=1 refreshes it)"
