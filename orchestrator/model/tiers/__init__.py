"""Cluster-wide policy tiers: ClusterNetworkPolicy (and the older AdminNetworkPolicy and
BaselineAdminNetworkPolicy) around the NetworkPolicy model.

- :mod:`.compiled`: cluster policies compiled once (subject, rules, peers, protocols);
- :mod:`.walk`: the order of evaluation of one side, Admin -> NetworkPolicy -> Baseline ->
  allow, shared by the pairwise evaluator and the fast matrix;
- :mod:`.fast`: the fast matrix's side for pods the tiers select (classes of peers that
  every rule treats alike, each decided once by :func:`.walk.walk`).

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from orchestrator.model.tiers.compiled import (
    Action,
    CompiledClusterPolicy,
    PeerKind,
    TierPeer,
    TierPort,
    TierRule,
    compile_cluster_policy,
)
from orchestrator.model.tiers.walk import Match, SidePlan, priority_groups, walk

__all__ = [
    "Action",
    "CompiledClusterPolicy",
    "Match",
    "PeerKind",
    "SidePlan",
    "TierPeer",
    "TierPort",
    "TierRule",
    "compile_cluster_policy",
    "priority_groups",
    "walk",
]
