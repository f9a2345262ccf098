"""Client-side lab control: ``up``, ``down``, ``status``, ``kubeconfig``, ``fault``, companions.

What the CLI (``orchestrator/cli/lab.py``) and the tests call, one concern per module:

- :mod:`~lab.control.client`: :class:`LabError` (with an exit code) and :class:`LabClient`
- :mod:`~lab.control.lifecycle`: :func:`up`, :func:`down`, :func:`status`
- :mod:`~lab.control.apply`: applying manifests, waiting until the lab has settled
- :mod:`~lab.control.processes`: the daemon's and companions' processes
- :mod:`~lab.control.faults`: :func:`fault`, :func:`remove_fault`, :func:`list_faults`
- :mod:`~lab.control.kubeconfig`: the kubeconfig ``up`` writes

These functions raise :class:`LabError` and never import the orchestrator.
"""

from __future__ import annotations

from lab.control.apply import LAST_APPLIED, apply, apply_objects, wait_settled
from lab.control.client import EXIT_FAILED, EXIT_USAGE, LabAlreadyRunning, LabClient, LabError
from lab.control.faults import fault, list_faults, parse_fault, remove_fault
from lab.control.kubeconfig import kubeconfig_path, render_kubeconfig
from lab.control.lifecycle import DEFAULT_NODE_FACTORY, NODE_FACTORY_ENV, UpResult, down, status, up
from lab.control.processes import companion_log_tail, companion_running, start_companion, stop_companions

__all__ = [
    "DEFAULT_NODE_FACTORY",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "LAST_APPLIED",
    "NODE_FACTORY_ENV",
    "LabAlreadyRunning",
    "LabClient",
    "LabError",
    "UpResult",
    "apply",
    "apply_objects",
    "companion_log_tail",
    "companion_running",
    "down",
    "fault",
    "kubeconfig_path",
    "list_faults",
    "parse_fault",
    "remove_fault",
    "render_kubeconfig",
    "start_companion",
    "status",
    "stop_companions",
    "up",
    "wait_settled",
]
