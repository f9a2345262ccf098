"""Layering: the decisions stay pure, and the lab never imports the orchestrator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("webhook/plan.py", ("aiohttp", "kubernetes", "cryptography", "ssl", "socket")),
        ("webhook/admission.py", ("aiohttp", "kubernetes", "cryptography", "ssl", "socket")),
        ("lab/admission.py", ("orchestrator",)),
    ],
)
def test_module_does_not_import(module, forbidden):
    bad = {m for m in imported_modules(REPO / module) if m.split(".")[0] in forbidden}
    assert not bad, f"{module} imports {sorted(bad)}"
