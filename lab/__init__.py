"""The kubereach lab: a local stand-in for a Kubernetes cluster.

A Kubernetes API subset served by aiohttp (``lab.api``) over a store of objects, and a
node runtime (``lab.node``) where every pod is a Linux network namespace behind one
routing "node" namespace, with an independent NetworkPolicy "CNI" compiled to
ipset/iptables. The two halves meet only through :mod:`lab.runtime`.

The lab never imports ``orchestrator``: its CNI must agree with the orchestrator's
policy model by being right, not by sharing code.
"""

__version__ = "0.1.0"
