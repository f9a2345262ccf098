"""The lab's CNI: NetworkPolicy v1 compiled to ipset + iptables, written from the spec.

:mod:`lab.cni.compile` is pure (plain Kubernetes dicts in, a :class:`RuleSet` out);
:mod:`lab.cni.apply` loads a rule set into a network namespace atomically. This package
must never import ``orchestrator``: it is an independent implementation, so agreement
between the two is real evidence that both are right.
"""

from __future__ import annotations

from lab.cni.compile import IpSet, RuleSet, compile_ruleset

__all__ = ["IpSet", "RuleSet", "compile_ruleset"]
