"""Remove everything one lab instance left in the kernel, even if its daemon died.

The instance's namespaces are found by name (``krl-<id>-*`` under /run/netns); its
processes by the namespace they live in (every lab process runs inside one of the
instance's namespaces), never by a pattern over the process table. Deleting the
namespaces takes their links, routes, ipsets and iptables rules with them: the lab never
creates anything in the host's own namespace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time

from lab.node.names import InstanceNames
from lab.node.netns import list_netns, pids_in_netns
from lab.node.processes import remove_view_dir

log = logging.getLogger(__name__)

_KILL_WAIT_S = 3.0  # how long SIGKILLed processes get to leave the namespace


def kill_netns_processes(netns: str) -> list[int]:
    """SIGKILL every process living in ``netns``; wait briefly until they are gone."""
    pids = pids_in_netns(netns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + _KILL_WAIT_S
    while pids and time.monotonic() < end:
        pids = [p for p in pids if _alive(p)]
        if pids:
            time.sleep(0.02)
    return pids


def _alive(pid: int) -> bool:
    """Running (a zombie has left its namespace already; its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def cleanup_instance(instance_id: str) -> None:
    """Kill the instance's processes and delete its namespaces (links, rules, sets go with
    them), and its mount views' stand-in directories."""
    names = InstanceNames(instance_id)
    found = list_netns(names.netns_prefix)
    for ns in found:
        left = kill_netns_processes(ns)
        if left:
            log.warning("processes %s still in %s after SIGKILL", left, ns)
    if found:
        batch = "".join(f"netns del {ns}\n" for ns in found)
        proc = subprocess.run(["ip", "-force", "-batch", "-"], input=batch.encode(), capture_output=True)
        if proc.returncode != 0:
            log.warning("ip netns del: %s", proc.stderr.decode(errors="replace").strip())
    leftover = list_netns(names.netns_prefix)
    if leftover:
        raise RuntimeError(f"lab {instance_id}: could not delete namespaces {leftover}")
    remove_view_dir(instance_id)  # after the processes: their private mount views use it
