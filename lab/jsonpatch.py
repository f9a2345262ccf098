"""RFC 6902 JSON Patch for the lab: the well-kept ``jsonpatch`` library behind one function.

Two parts of the lab apply JSON patches, as two parts of the real API server do with
one library: the API's ``PATCH`` with ``application/json-patch+json``
(:mod:`lab.api.patch`) and the patch a mutating admission webhook answers
(:mod:`lab.admission`). Both call :func:`apply_json_patch`, so a patch means the same
thing in either place.

The library does the work (``add``, ``remove``, ``replace``, ``move``, ``copy``,
``test``, RFC 6901 pointers with ``~0``/``~1`` escapes, ``-`` for the end of an array,
no leading zeros in indexes). What this module adds: the input is checked to be a list
of operations first (the library would iterate a mapping's keys), the document is never
mutated (a copy is patched), and every way a patch can fail becomes :class:`PatchError`
with the library's message, which callers map to their own errors (the API answers
422; admission fails the webhook call and lets ``failurePolicy`` decide).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer


class PatchError(ValueError):
    """A patch that is malformed or does not apply to the document (the message says why)."""


def apply_json_patch(doc: Any, operations: Any) -> Any:
    """Apply the operations, in order, to a copy of ``doc``; ``doc`` is left as it was."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    for op in operations:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {str(op)[:200]}")
    try:
        return jsonpatch.JsonPatch(operations).apply(doc, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(str(exc)[:300]) from None
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:
        # a value of the wrong shape where the library expected a container or a string
        raise PatchError(f"the patch does not apply: {str(exc)[:200]}") from None
