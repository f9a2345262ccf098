"""Applying manifests to a running lab through its API, and waiting until it has settled.

:func:`apply` creates each object (or merge-patches one that exists), recording it the
way ``kubectl apply`` does so a later ``kubectl apply -f`` of the same files says
"unchanged". :func:`wait_settled` polls the daemon's ``/lab/v1/status`` until every pod
runs, every workload has rolled out and the controllers and CNI have caught up
(:mod:`lab.api.settled`); a pod that cannot start stops the wait at once, naming it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from lab.control.client import EXIT_USAGE, LabClient, LabError, message_of
from lab.manifests import Manifest

Progress = Callable[[str], None]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
POLL_SECONDS = 0.2
REPORT_EVERY_SECONDS = 2.0


def _collection_path(m: Manifest) -> str:
    rt = m.resource
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced:
        ns = m.obj["metadata"].get("namespace") or "default"
        return f"{prefix}/namespaces/{ns}/{rt.plural}"
    return f"{prefix}/{rt.plural}"


def _with_last_applied(body: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Record the manifest the way ``kubectl apply`` does, so a later ``kubectl apply -f``
    of the same files finds its annotation (no warning per object) and says "unchanged".

    The value is what kubectl writes: the object as given minus this annotation, JSON with
    sorted keys, compact, HTML characters escaped, one trailing newline.
    """
    meta = dict(manifest.get("metadata") or {})
    # kubectl keeps an emptied annotations map in the value: {"annotations":{}, ...}
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    text = json.dumps({**manifest, "metadata": meta}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"
    body_meta = dict(body.get("metadata") or {})
    body_meta["annotations"] = {**(body_meta.get("annotations") or {}), LAST_APPLIED: text}
    return {**body, "metadata": body_meta}


def apply(client: LabClient, objects: list[Manifest], *, progress: Progress = lambda s: None) -> list[str]:
    """Create each object (or merge-patch it if it exists), in the given order."""
    applied = []
    for m in objects:
        path = _collection_path(m)
        name = m.obj["metadata"]["name"]
        body = _with_last_applied({k: v for k, v in m.obj.items() if k != "status"}, m.obj)
        status, answer = client.request("POST", path + "?fieldValidation=Strict", body)
        if status == 409:
            status, answer = client.request(
                "PATCH", f"{path}/{name}?fieldValidation=Strict", body, content_type="application/merge-patch+json"
            )
        if status >= 300:
            raise LabError(f"{m.source}: {m.resource.kind} {name}: {message_of(answer)}", EXIT_USAGE)
        applied.append(f"{m.resource.plural}/{name}")
    progress(f"applied {len(applied)} objects")
    return applied


def apply_objects(
    client: LabClient, objects: list[dict[str, Any]], *, source: str, progress: Progress = lambda s: None
) -> list[str]:
    """:func:`apply` for objects built in code rather than read from files."""
    from lab.api.resources import BY_KIND

    manifests = []
    for i, obj in enumerate(objects, 1):
        rt = BY_KIND.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if rt is None:
            raise LabError(
                f"{source}#{i}: the lab does not serve {obj.get('apiVersion')} {obj.get('kind')}", EXIT_USAGE
            )
        manifests.append(Manifest(f"{source}#{i}", rt, obj))
    return apply(client, manifests, progress=progress)


def wait_settled(client: LabClient, *, timeout: float, progress: Progress = lambda s: None) -> int:
    """Wait until the lab has settled (see the module docstring); returns the pods running."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        status, summary = client.request("GET", "/lab/v1/status")
        if status != 200 or not isinstance(summary, dict):
            raise LabError(f"the lab's status failed: {message_of(summary)}")
        stuck = summary.get("stuck") or []
        if stuck:
            more = summary.get("stuckCount", len(stuck)) - len(stuck[:10])
            raise LabError(
                "pods cannot start:\n  "
                + "\n  ".join(stuck[:10])
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\n(see `kubectl describe pod`)"
            )
        coming = summary.get("waiting") or []
        running = int(summary.get("podsRunning") or 0)
        if not coming and summary.get("networkSynced"):
            progress(f"pods running: {running}")
            return running
        now = time.monotonic()
        if now - last_report >= REPORT_EVERY_SECONDS:
            progress(f"pods running: {running}, waiting for {summary.get('waitingCount', len(coming))} more")
            last_report = now
        if now > deadline:
            more = summary.get("waitingCount", len(coming)) - len(coming[:10])
            raise LabError(
                f"not settled after {timeout:.0f}s:\n  "
                + "\n  ".join(coming[:10])
                + (f"\n  ... and {more} more" if more > 0 else "")
            )
        time.sleep(POLL_SECONDS)
