"""The posture package stays pure: snapshot and model in, findings and manifests out.

No Kubernetes client, cluster adapter, sweep runner, CLI or process/socket modules: the
same audit runs on files, on a live snapshot and inside the sweep's report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "kubernetes",
    "orchestrator.cluster",
    "orchestrator.sweep",
    "orchestrator.cli",
    "orchestrator.reports",
    "click",
    "subprocess",
    "socket",
    "aiohttp",
    "scapy",
    "pandas",
)


def _imports(path: Path) -> list[tuple[str, int]]:
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, node.lineno))
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "orchestrator" / "audit").rglob("*.py")), ids=lambda p: p.name)
def test_posture_modules_import_nothing_from_the_io_layers(path):
    bad = [(n, line) for n, line in _imports(path) if n == "lab" or n.startswith(("lab.", *FORBIDDEN))]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
