"""kubereach orchestrator: everything on the operator's side.

Snapshot, policy model, plan, Kubernetes I/O, compare, reports and the admission
webhook live here. The pure core (``orchestrator.model``, ``orchestrator.snapshot``
types, plan, compare) must not import the Kubernetes client, aiohttp or scapy.
"""

__version__ = "0.1.0"
