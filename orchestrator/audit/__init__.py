"""Posture: findings about the policies themselves, reachability intent, and suggested fixes.

Public API:

- ``audit(snapshot) -> list[Finding]`` (:mod:`orchestrator.audit.engine`): coverage, dead
  rules, broad allows, DNS, Services, enforceability; each :class:`Finding` has a stable
  ``id``, a :class:`Severity`, ``title``, ``message``, ``objects`` and ``fix``.
- ``load_intent(path) -> Intent`` and ``IntentIndex`` (:mod:`orchestrator.audit.intent`):
  what *should* be reachable, and the intended verdict of any cell.
- ``suggest(snapshot, intent) -> Suggestion`` (:mod:`orchestrator.audit.suggest`):
  NetworkPolicies that make the model agree with the intent, verified before shown.

Pure apart from reading the intent file: everything here is computed from the
snapshot and the policy model (the same answers ``predict`` and the sweep use).
"""

from typing import TYPE_CHECKING, Any

from orchestrator.audit.findings import KINDS, Finding, Severity, at_or_above, sort_findings

if TYPE_CHECKING:  # imported on first use (see __getattr__)
    from orchestrator.audit.engine import audit

__all__ = ["KINDS", "Finding", "Severity", "at_or_above", "audit", "sort_findings"]


def __getattr__(name: str) -> Any:
    # The checks pull in the intra-pod rules (PyYAML) and the matrix engine: only load them
    # when an audit runs, not for everything that merely compares against an intent.
    if name == "audit":
        from orchestrator.audit.engine import audit

        return audit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
