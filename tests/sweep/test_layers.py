"""The pure core of the sweep imports no client, no network library, no pandas."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "orchestrator.sweep.plan",
    "orchestrator.sweep.selection",
    "orchestrator.sweep.compare",
    "orchestrator.sweep.deploy",
    "orchestrator.sweep.runner",
    "orchestrator.sweep.run",
    "orchestrator.sweep.ending",
    "orchestrator.sweep.follow",
]
FORBIDDEN = ["kubernetes", "urllib3", "aiohttp", "pandas", "scapy", "tabulate"]


def test_plan_compare_deploy_runner_import_no_io_library():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
