"""Why a sweep ended, and why a probe did not measure: the words the results use.

Pure: no I/O, no clocks, no Kubernetes client. A sweep ends in exactly one way
(:class:`Ending`); the runner stamps every probe it could not finish with that cause, so
``probes.csv`` says, row by row, *why* a cell is inconclusive, and ``summary.txt`` and
``run.json`` say why the sweep stopped (``ended: completed | deadline | interrupted
(SIGINT) | api-unreachable | ...``).

Unfinished probes carry a detail that starts with one of these words (the ``reason``
column reads ``<policy reason>; not measured: <detail>``, the ``evidence`` column the
word alone):

========================  =============================================================
``deadline``              the sweep deadline passed before the probe's agent finished
``interrupted``           SIGINT or SIGTERM stopped the sweep
``api-unreachable``       the API server could not be reached any more
``api-error``             the API server kept failing (5xx after retries)
``rbac-refused``          RBAC refused a call the sweep needs (exit 2)
``configuration-error``   the credentials or the server's certificate were refused (exit 2)
``agent-died``            the agent ended without a result document, or its pod went away
``agent-not-started``     the agent could not be created or never started
``agent-timeout``         the agent ran past its own deadline
``agent-log-unreadable``  the agent finished but its log could not be read
========================  =============================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EndCause(enum.StrEnum):
    COMPLETED = "completed"
    DEADLINE = "deadline"
    INTERRUPTED = "interrupted"
    API_UNREACHABLE = "api-unreachable"
    API_ERROR = "api-error"
    RBAC_REFUSED = "rbac-refused"
    CONFIG_ERROR = "configuration-error"

    @property
    def users_to_fix(self) -> bool:
        """The user must fix something (RBAC, credentials): exit 2, as DESIGN.md says."""
        return self in (EndCause.RBAC_REFUSED, EndCause.CONFIG_ERROR)


class AgentTrouble(enum.StrEnum):
    """Why one agent's probes did not measure while the sweep went on."""

    DIED = "agent-died"
    NOT_STARTED = "agent-not-started"
    TIMEOUT = "agent-timeout"
    LOG_UNREADABLE = "agent-log-unreadable"


@dataclass(frozen=True, slots=True)
class Ending:
    """How a sweep ended: a cause and what exactly happened.

    ``Ending(EndCause.INTERRUPTED, "SIGINT")``, ``Ending(EndCause.API_UNREACHABLE,
    "connection refused", "cannot reach the API server at https://... (watch pods in
    namespace shop): connection refused")``.
    """

    cause: EndCause
    detail: str = ""  # short: a signal name, "connection refused"
    message: str = ""  # the full explanation for logs, summary and run.json

    @property
    def completed(self) -> bool:
        return self.cause is EndCause.COMPLETED

    @property
    def label(self) -> str:
        """``completed``, ``deadline``, ``interrupted (SIGINT)``, ``api-unreachable``."""
        if self.cause is EndCause.INTERRUPTED and self.detail:
            return f"{self.cause} ({self.detail})"
        return str(self.cause)

    def unfinished(self) -> str:
        """The detail of a probe this ending left unmeasured, e.g. ``api-unreachable:
        connection refused`` or ``interrupted: SIGTERM arrived before this probe's agent
        finished``."""
        why = {
            EndCause.DEADLINE: "the sweep deadline passed before this probe's agent finished",
            EndCause.INTERRUPTED: f"{self.detail or 'a signal'} arrived before this probe's agent finished",
            EndCause.COMPLETED: "no result for this probe",
        }.get(self.cause, self.detail or self.message)
        return f"{self.cause}: {why}" if why else str(self.cause)

    def sentence(self) -> str:
        """One line for the summary: ``Ended: api-unreachable: cannot reach ...``."""
        if self.completed:
            return "Ended: completed"
        if self.cause is EndCause.INTERRUPTED and not self.message:
            return f"Ended: {self.label}"
        text = self.message or self.unfinished().partition(": ")[2]
        return f"Ended: {self.label}: {text}" if text else f"Ended: {self.label}"


COMPLETED = Ending(EndCause.COMPLETED)


def agent_trouble(kind: AgentTrouble, detail: str) -> str:
    """The detail of a probe whose agent failed: ``agent-died: exit code 137, ...``."""
    return f"{kind}: {detail}"


def cause_word(detail: str | None) -> str:
    """The leading word of an unfinished probe's detail (its ``evidence``), or ""."""
    head = (detail or "").partition(":")[0]
    known = {str(c) for c in EndCause} | {str(t) for t in AgentTrouble}
    return head if head in known else ""


__all__ = ["COMPLETED", "AgentTrouble", "EndCause", "Ending", "agent_trouble", "cause_word"]
