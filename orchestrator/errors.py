"""The error tree of kubereach, and the exit status each branch maps to.

Every failure a user can cause or meet is one of these, chained to its cause with
``raise ... from exc``; the CLI turns them into a message on stderr and an exit code,
never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


class KubereachError(Exception):
    """Base of every error kubereach raises on purpose."""

    exit_code = EXIT_INCOMPLETE


class UsageError(KubereachError):
    """Something the user must fix: flags, manifests, kubeconfig, context, RBAC.

    Messages name the file, the document, the object and the field path where one
    applies, so the user can go straight to the line.
    """

    exit_code = EXIT_USAGE


class ManifestError(UsageError):
    """Bad input in a YAML manifest; carries where it was found."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        document: int | None = None,
        obj: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.document, self.obj, self.field = file, document, obj, field
        where = []
        if file:
            where.append(file)
        if document is not None:
            where.append(f"document {document}")
        if obj:
            where.append(obj)
        if field:
            where.append(f"field {field}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.detail = message


class ClusterError(KubereachError):
    """The cluster could not be used: unreachable, 5xx after retries, deadline passed."""

    exit_code = EXIT_INCOMPLETE
