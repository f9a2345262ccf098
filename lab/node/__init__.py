"""The lab's nodes: pods as network namespaces, containers as processes or sockets.

Public surface:

- :class:`LabPool` ``(instance_id, cni, state_dir, nodes=N, missing_images=[...])``
  implements :class:`lab.runtime.NodePool`: N nodes on one node network, plus the fake
  external hosts :data:`EXTERNAL_HOSTS` answering on :data:`EXTERNAL_PORTS` (identity:
  namespace "", pod = the address, container "external").
- :class:`LabNode` implements :class:`lab.runtime.NodeRuntime`. Beyond the protocol:
  ``pod_netns(ns, name)`` and ``node_netns`` name the namespaces (for ``ip netns
  exec``/``nsenter``); ``ruleset`` is the CNI rule set currently loaded.
- :func:`cleanup_instance` ``(instance_id)`` removes whatever an instance left (its
  namespaces, and the processes living in them), even after the daemon died.
- :mod:`lab.node.names`: node names, addresses and pod CIDRs (:data:`POD_CIDR` is
  10.244.0.0/16, a /20 per node).

Everything the nodes create lives inside namespaces named ``krl-<instance>-*``; the
host's own links, routes, iptables and ipsets are never touched. IPv4 only.
"""

from __future__ import annotations

from typing import Any

from lab.node.names import EXTERNAL_HOSTS, EXTERNAL_PORTS, POD_CIDR

# LabNode, LabPool and cleanup_instance load lazily: lab.cni.apply needs lab.node.netns, and an eager
# import of the runtime here would import lab.cni.apply back while it is half-initialised
# (``import lab.cni.apply`` on its own failed with a circular ImportError).
_LAZY = {"LabNode": "lab.node.runtime", "LabPool": "lab.node.pool", "cleanup_instance": "lab.node.cleanup"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lab.node' has no attribute {name!r}")


__all__ = ["LabNode", "LabPool", "cleanup_instance", "EXTERNAL_HOSTS", "EXTERNAL_PORTS", "POD_CIDR"]
