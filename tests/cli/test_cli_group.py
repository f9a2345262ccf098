"""The top-level CLI: help lists every command, unknown commands are usage errors (exit 2)."""

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(*args):
    return subprocess.run([str(BIN / "kubereach"), *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_command():
    out = run("--help")
    assert out.returncode == 0
    for name in ("predict", "explain", "sweep", "cleanup", "lab", "webhook"):
        assert name in out.stdout


def test_unknown_command_is_a_usage_error():
    out = run("frobnicate")
    assert out.returncode == 2
    assert "frobnicate" in out.stderr


def test_kubectl_plugin_name_runs_the_same_cli():
    out = subprocess.run([str(BIN / "kubectl-reach"), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "kubectl reach" in out.stdout
