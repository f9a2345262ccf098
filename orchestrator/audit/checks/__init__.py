"""The audit's checks, one module per family; each check is ``(AuditContext) -> Iterator[Finding]``."""

from orchestrator.audit.checks import broad, coverage, dead, enforcement, services

ALL = (*coverage.CHECKS, *dead.CHECKS, *broad.CHECKS, *services.CHECKS, *enforcement.CHECKS)

__all__ = ["ALL"]
