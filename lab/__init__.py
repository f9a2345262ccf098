"""The kubereach lab: a local stand-in for a Kubernetes cluster.

A Kubernetes API subset served by aiohttp (``lab.api``) over a store of objects, the
controllers that make workloads run (``lab.controllers``: Deployments, StatefulSets,
DaemonSets, Jobs, CronJobs, the scheduler, EndpointSlices), and nodes (``lab.node``):
network namespaces on a node network, each routing its pods (every pod a Linux network
namespace) and enforcing NetworkPolicies with an independent "CNI" compiled to
ipset/iptables (``lab.cni``). The API and the nodes meet only through :mod:`lab.runtime`;
``lab.control`` is the client side (``lab up``/``down``/...).

The lab never imports ``orchestrator``: its CNI must agree with the orchestrator's
policy model by being right, not by sharing code.
"""

__version__ = "0.1.0"
