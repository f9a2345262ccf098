"""kubereach-probe: the in-pod agent.

Runs inside the cluster (an ephemeral container, a probe pod, or an init container)
and imports only the standard library, scapy and aiohttp. scapy is imported lazily,
only by the raw-packet methods, so a connect-only agent starts fast.
"""

__version__ = "0.1.0"
