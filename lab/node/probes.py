"""Readiness probes, as the kubelet runs them, against what the lab's containers serve.

A container declaring a ``readinessProbe`` is ready once the probe has succeeded
``successThreshold`` times in a row, and stops being ready after ``failureThreshold``
failures in a row; the first probe runs ``initialDelaySeconds`` after the container
started, then every ``periodSeconds``, each allowed ``timeoutSeconds``.

What the lab can check is whether something accepts a connection on the port, from
the node's namespace (where the kubelet probes from), to the pod's address: a lab
listener answers on its container's declared ports, an agent whatever it opened. So
``tcpSocket``, ``httpGet`` and ``grpc`` probes are all a TCP connect to their port (a
named port resolves on the container's ports; the lab's listeners speak no HTTP, so
the status code an HTTP probe would look at is not emulated). ``exec`` probes would run
a command in the container's image, which the lab does not have: such a container is
ready once started, like one without a probe. Liveness and startup probes are not run.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lab.node.netns import in_netns


@dataclass(frozen=True, slots=True)
class ReadinessProbe:
    port: int
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def readiness_probe(container: Mapping[str, Any]) -> ReadinessProbe | None:
    """The probe the lab runs for a container, or None (no probe, or one it cannot run)."""
    probe = container.get("readinessProbe")
    if not isinstance(probe, dict):
        return None
    action = probe.get("tcpSocket") or probe.get("httpGet") or probe.get("grpc")
    if not isinstance(action, dict):
        return None
    port = action.get("port")
    if isinstance(port, str) and not port.isdigit():
        named = [p for p in container.get("ports") or () if p.get("name") == port]
        port = named[0].get("containerPort") if named else None
    try:
        number = int(port)  # type: ignore[arg-type]  # None or junk fall to the except
    except (TypeError, ValueError):
        return ReadinessProbe(port=0)  # a port that resolves to nothing: never ready, as in a cluster
    return ReadinessProbe(
        port=number,
        initial_delay=float(probe.get("initialDelaySeconds") or 0),
        period=float(probe.get("periodSeconds") or 10),
        timeout=float(probe.get("timeoutSeconds") or 1),
        success_threshold=int(probe.get("successThreshold") or 1),
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )


def _socket_in(netns: str) -> socket.socket:
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


async def tcp_check(executor: ThreadPoolExecutor, netns: str, address: str, port: int, timeout: float) -> bool:
    """Whether ``address:port`` accepts a TCP connection made from namespace ``netns``."""
    if not 1 <= port <= 65535:
        return False
    loop = asyncio.get_running_loop()
    sock = await loop.run_in_executor(executor, _socket_in, netns)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
        return True
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()
