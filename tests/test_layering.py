"""Layering contracts (DESIGN.md "Layout"), checked by walking imports with ``ast``.

- ``orchestrator/model/``: pure; no Kubernetes client, HTTP, packet, dataframe, YAML,
  socket, subprocess or file-system modules.
- ``probe/``: runs inside the agent image: the standard library, scapy, aiohttp and
  ``probe`` itself, nothing else.
- ``lab/``: never ``orchestrator`` (the lab must not share code with the model it checks).
- ``webhook/``: runs in the cluster from the agent image: never the operator's cluster I/O,
  sweep or CLI layers, nor their heavy dependencies (kubernetes client, pandas).
- ``safeyaml/``: shared by all of the above, so the standard library and PyYAML only.

Dynamic imports with a literal name (``importlib.import_module("x")``, ``__import__("x")``)
count too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODEL_FORBIDDEN = {
    "kubernetes",
    "aiohttp",
    "scapy",
    "pandas",
    "yaml",
    "socket",
    "subprocess",
    "requests",
    "urllib",
    "http",
    "asyncio",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "click",
    "tabulate",
    "multiprocessing",
    "threading",
    "ssl",
    "sqlite3",
    "io",
    "logging",
}
PROBE_ALLOWED_THIRD_PARTY = {"scapy", "aiohttp", "probe"}


def _guarded_lines(tree: ast.AST) -> set[int]:
    """Lines inside ``try:`` blocks that catch ImportError: optional imports with a fallback."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = set()
            for h in node.handlers:
                types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
                caught |= {getattr(t, "id", getattr(t, "attr", None)) for t in types if t is not None}
            if caught & {"ImportError", "ModuleNotFoundError"}:
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def imported_modules(path: Path, root: Path = ROOT, *, include_optional: bool = True) -> list[tuple[str, int]]:
    """Absolute dotted names imported by a file (relative imports resolved), with line numbers.

    ``include_optional=False`` leaves out imports guarded by ``except ImportError``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(root).with_suffix("").parts
    package = list(parts[:-1])
    guarded = set() if include_optional else _guarded_lines(tree)
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in guarded:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("import_module", "__import__"):
                out.append((node.args[0].value, node.lineno))
    return out


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", files("orchestrator/model"), ids=lambda p: p.name)
def test_model_imports_nothing_impure(path):
    bad = [(name, line) for name, line in imported_modules(path) if name.split(".")[0] in MODEL_FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the model must stay pure (no I/O, no clients)"


def test_model_does_not_reach_into_orchestrator_io_layers():
    allowed_internal = ("orchestrator.model", "orchestrator.snapshot.types", "orchestrator.errors", "probe.schema")
    for path in files("orchestrator/model"):
        for name, line in imported_modules(path):
            if name.startswith(("orchestrator", "probe")):
                assert name.startswith(allowed_internal), f"{path.relative_to(ROOT)}:{line} imports {name}"


@pytest.mark.parametrize("path", files("probe"), ids=lambda p: str(p.relative_to(ROOT)))
def test_probe_imports_only_stdlib_scapy_aiohttp(path):
    bad = []
    for name, line in imported_modules(path, include_optional=False):
        top = name.split(".")[0]
        if top in ("__future__",) or top in sys.stdlib_module_names or top in PROBE_ALLOWED_THIRD_PARTY:
            continue
        bad.append((name, line))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the agent image has stdlib, scapy, aiohttp only"


@pytest.mark.parametrize("path", files("lab"), ids=lambda p: str(p.relative_to(ROOT)))
def test_lab_never_imports_orchestrator(path):
    bad = [(name, line) for name, line in imported_modules(path) if name.split(".")[0] == "orchestrator"]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the lab must not share code with the orchestrator"


def test_walker_resolves_relative_dynamic_and_optional_imports(tmp_path):
    fake = tmp_path / "probe" / "sub" / "mod.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        "from . import x\nfrom ..schema import Protocol\nimport importlib\n"
        "importlib.import_module('yaml')\ntry:\n    import pandas\nexcept ImportError:\n    pandas = None\n"
    )
    names = [n for n, _ in imported_modules(fake, tmp_path)]
    assert names[:2] == ["probe.sub", "probe.schema"] and "yaml" in names and "pandas" in names
    assert "pandas" not in [n for n, _ in imported_modules(fake, tmp_path, include_optional=False)]


def test_importing_the_model_loads_no_impure_module():
    import subprocess

    code = (
        "import sys, orchestrator.model, orchestrator.snapshot.types; "
        "print(','.join(m for m in ('yaml', 'kubernetes', 'aiohttp', 'scapy', 'pandas', 'click', 'socket',"
        " 'subprocess') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing orchestrator.model loaded: {out.stdout.strip()}"


WEBHOOK_FORBIDDEN_PREFIXES = (
    "orchestrator.cluster",
    "orchestrator.sweep",
    "orchestrator.cli",
    "orchestrator.reports",
    "kubernetes",
    "pandas",
    "numpy",
    "tabulate",
    "lab",
)


@pytest.mark.parametrize("path", files("webhook"), ids=lambda p: str(p.relative_to(ROOT)))
def test_webhook_stays_out_of_the_operator_side(path):
    bad = [(name, line) for name, line in imported_modules(path) if name.startswith(WEBHOOK_FORBIDDEN_PREFIXES)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the webhook runs in the cluster from the agent image"


@pytest.mark.parametrize("path", files("safeyaml"), ids=lambda p: str(p.relative_to(ROOT)))
def test_safeyaml_imports_only_stdlib_and_pyyaml(path):
    bad = [
        (name, line)
        for name, line in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names | {"__future__", "yaml", "safeyaml"}
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the lab, the webhook and the orchestrator share it"
