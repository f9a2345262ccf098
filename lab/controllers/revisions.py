"""ControllerRevisions: the template history of StatefulSets and DaemonSets (pure helpers).

Each distinct pod template gets a ControllerRevision named ``<owner>-<hash>`` holding the
template (as the real controllers store it: a strategic merge patch that replaces
``spec.template``) and a revision number; pods carry ``controller-revision-hash``.
``kubectl rollout history sts/x`` and ``ds/x`` list them; ``status.updateRevision``
and ``currentRevision`` name them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lab.api.resources import ResourceType
from lab.controllers import common as C

REVISION_LABEL = "controller-revision-hash"


def revision_name(owner: Mapping[str, Any]) -> str:
    """The name of the revision for the owner's current template."""
    template = (owner.get("spec") or {}).get("template") or {}
    return f"{owner['metadata']['name']}-{C.template_hash(template)}"


def revision_template(revision: Mapping[str, Any]) -> dict[str, Any]:
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def make_revision(owner: Mapping[str, Any], rt: ResourceType, number: int) -> dict[str, Any]:
    template = (owner.get("spec") or {}).get("template") or {}
    name = revision_name(owner)
    labels = {**(((template.get("metadata") or {}).get("labels")) or {}), REVISION_LABEL: name.rsplit("-", 1)[1]}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [C.controller_ref(owner, rt)]},
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        "revision": number,
    }


def stale_revisions(revisions: Sequence[Mapping[str, Any]], keep: set[str], limit: int) -> Sequence[Mapping[str, Any]]:
    """The oldest revisions beyond ``limit``, never one named in ``keep`` (current, update)."""
    old = sorted((r for r in revisions if r["metadata"]["name"] not in keep), key=lambda r: int(r.get("revision") or 0))
    return old[: max(len(old) - limit, 0)]
