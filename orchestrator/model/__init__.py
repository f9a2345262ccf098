"""The policy model: NetworkPolicy v1 semantics, inside the cluster-wide policy tiers, as
pure functions of a snapshot.

Public API (other packages build on these names):

- ``PolicyModel(snapshot)``: compiles every policy once.
  ``.evaluate(src: Pod, dst: Pod, port: int, protocol: Protocol) -> Verdict``;
  ``.evaluate_named(src, dst, port_name, protocol)`` for a port given by name on the
  destination; ``.evaluate_to_ip(src, ip, port, protocol) -> SideVerdict`` for a
  destination that is not a pod (egress side only).
- ``Verdict``: frozen; ``decision`` (``Decision.ALLOW``/``DENY``; with cluster policy tiers
  also ``UNDEFINED`` and ``UNKNOWN``, see :mod:`orchestrator.model.verdict`), ``egress`` and
  ``ingress`` (:class:`SideVerdict`: state, isolating policies, allowing rules as
  :class:`RuleRef` (policy, direction, rule index), note, and ``tiers``, the chain of the
  Admin/NetworkPolicy/Baseline steps when cluster policies had a say) and a one-line ``reason``.
- ``PolicyModel.cluster_policies``: the Admin and Baseline tiers compiled
  (:mod:`orchestrator.model.tiers`); ``.tier_policies(pod, direction)`` the ones selecting a pod.
- ``expected_matrix(snapshot, ports=None, *, model=None) -> ExpectedMatrix``:
  every (source, destination, port, protocol) with decision and reason; by default
  each destination on its declared container ports, with ``ports`` exactly those.
  ``ExpectedMatrix`` is a compact read-only Sequence of ``ExpectedRow`` (len, index,
  iteration; ``list(...)`` for a mutable copy); renderers stream from its blocks.
- ``compile_policy(namespace, name, spec)`` and ``InvalidSpec`` (field path + message)
  for validating a policy spec.

Pure: no kubernetes, aiohttp, scapy, pandas, yaml, socket, subprocess; no I/O.
"""

from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.matrix import expected_matrix
from orchestrator.model.policy import CompiledPolicy, Direction, compile_policy
from orchestrator.model.selectors import InvalidSpec
from orchestrator.model.verdict import Decision, ExpectedRow, RuleRef, SideState, SideVerdict, Verdict

__all__ = [
    "CompiledPolicy",
    "Decision",
    "Direction",
    "ExpectedRow",
    "InvalidSpec",
    "PolicyModel",
    "RuleRef",
    "SideState",
    "SideVerdict",
    "Verdict",
    "compile_policy",
    "expected_matrix",
]
