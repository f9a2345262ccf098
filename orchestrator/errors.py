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


# A manifest error quotes what the manifest says (``got [1, 1, ...]``): at most this much of
# it, so a hostile value of megabytes never becomes a message of megabytes.
MAX_DETAIL = 500


class ManifestError(UsageError):
    """Bad input in a YAML manifest; carries where it was found. The message (``detail``)
    is cut to :data:`MAX_DETAIL` characters, the object and field path to 200 (a name or
    key can be as long as someone made it)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        document: int | None = None,
        obj: str | None = None,
        field: str | None = None,
    ) -> None:
        message = message if len(message) <= MAX_DETAIL else message[: MAX_DETAIL - 1] + "…"
        obj, field = _cut(obj, 200), _cut(field, 200)
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


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


class ClusterError(KubereachError):
    """The cluster could not be used: unreachable, 5xx after retries, deadline passed."""

    exit_code = EXIT_INCOMPLETE
