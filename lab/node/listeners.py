"""Listening sockets for ordinary (non-agent) containers, held by the lab process itself.

A real container would run its own server; the lab only needs something on each
declared port that answers with who it is. Sockets are created on a worker thread that
has entered the pod's network namespace (a socket keeps the namespace it was created
in), then served on the lab's event loop: hundreds of pods cost file descriptors, not
processes. Serving is :func:`probe.listeners.serve_socket`, the same code as the agent's
``serve``: the identity line first on every TCP connection, and as the reply to every
UDP datagram.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from probe.identity import identity_dict
from probe.listeners import ListenerHandle, serve_socket

log = logging.getLogger(__name__)

_BACKLOG = 128  # connection bursts from a sweep: one agent opens many at once


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A declared container port, e.g. ``PortSpec(8080, "TCP")``."""

    port: int
    protocol: str


def open_sockets(ports: list[PortSpec], address: str = "0.0.0.0") -> list[tuple[PortSpec, socket.socket]]:
    """Bind every port (call on a thread inside the pod's namespace); all or nothing."""
    opened: list[tuple[PortSpec, socket.socket]] = []
    try:
        for spec in ports:
            kind = socket.SOCK_STREAM if spec.protocol == "TCP" else socket.SOCK_DGRAM
            sock = socket.socket(socket.AF_INET, kind)
            opened.append((spec, sock))
            if kind == socket.SOCK_STREAM:  # (for UDP it would let two containers share a port)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, spec.port))
            if kind == socket.SOCK_STREAM:
                sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for _, s in opened:
            s.close()
        raise
    return opened


class Serving:
    """The listeners answering for one container; :meth:`close` releases every socket."""

    def __init__(self) -> None:
        self._handles: list[ListenerHandle] = []

    async def add(self, spec: PortSpec, sock: socket.socket, *, namespace: str, pod: str, container: str) -> None:
        identity = identity_dict(namespace, pod, container, spec.port, spec.protocol)
        self._handles.append(await serve_socket(sock, identity))

    def close(self) -> None:
        for handle in self._handles:
            try:
                handle.close()
            except Exception as exc:
                log.debug("closing listener: %s", exc)
        self._handles.clear()
