"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decisions (pure).

``/mutate`` injects the ``kubereach-intrapod`` init container (first in
``initContainers``) for pods carrying ``intrapod.kubereach.io/rules`` whose rules can be
enforced, denies them with every problem listed otherwise, and answers every other pod
with no patch. The patch is computed from the difference between the pod and its
desired state, so re-admitting an already-mutated pod yields an empty patch.

``/validate`` re-checks the final pod, after every mutating webhook ran: rules present
means the init container is present and carries exactly the config the rules give
today (a pod that bypassed the mutation, or was edited after it, is denied). On UPDATE
it only refuses changes to the rules annotation, which cannot take effect on a running
pod.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probe.intrapod_rules import ANNOTATION as RULES_ANNOTATION
from probe.schema import DEFAULT_AGENT_IMAGE, is_agent_image
from webhook.plan import (
    ASSIGNED_UIDS_ANNOTATION,
    INIT_CONTAINER_NAME,
    INJECTED_ANNOTATION,
    EnforcementPlan,
    annotations_of,
    plan_pod,
)

ADMISSION_API_VERSION = "admission.k8s.io/v1"


class Mode(enum.StrEnum):
    MUTATE = "mutate"
    VALIDATE = "validate"


class BadReview(ValueError):
    """The request body is not an AdmissionReview v1 with a request (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How the webhook mutates: the image of the init container it injects."""

    agent_image: str = DEFAULT_AGENT_IMAGE


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    patch: tuple[dict[str, Any], ...] = ()
    message: str = ""
    code: int = 200
    warnings: tuple[str, ...] = field(default=())


# -- the init container ---------------------------------------------------------------


def init_container(plan: EnforcementPlan, settings: Settings) -> dict[str, Any]:
    """The init container that installs the rules with iptables before any container starts.

    iptables needs UID 0 with NET_ADMIN (and NET_RAW for the raw socket it opens);
    everything else is dropped, the root filesystem is read-only, and it cannot gain
    privileges. ``runAsNonRoot: false`` overrides a pod-level ``runAsNonRoot: true``.
    """
    return {
        "name": INIT_CONTAINER_NAME,
        "image": settings.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": init_command(plan.config_json),
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # A Python interpreter plus one iptables-restore: well under these; the limits
        # stop a runaway from hurting the node.
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def init_command(config_json: str) -> list[str]:
    return ["kubereach-probe", "intrapod", "apply", "--config", config_json]


# -- mutate ----------------------------------------------------------------------------


def mutate(pod: Mapping[str, Any], settings: Settings, *, namespace: str | None = None) -> Decision:
    plan = plan_pod(pod, namespace=namespace)
    if plan is None:
        return Decision(True)
    if not plan.ok:
        return deny_for(plan)
    patch: list[dict[str, Any]] = []
    warnings: list[str] = []
    spec = pod.get("spec") or {}
    assigned = dict(plan.assigned)
    for i, c in enumerate(spec.get("containers") or []):
        uid = assigned.get(str((c or {}).get("name")))
        if uid is None:
            continue
        base = f"/spec/containers/{i}/securityContext"
        if not isinstance(c.get("securityContext"), Mapping):
            patch.append(_add(base, {"runAsUser": uid, "runAsNonRoot": True}))
        else:
            patch.append(_add(f"{base}/runAsUser", uid))
            patch.append(_add(f"{base}/runAsNonRoot", True))
    annotations: dict[str, str] = {INJECTED_ANNOTATION: plan.config_hash}
    if plan.assigned:
        annotations[ASSIGNED_UIDS_ANNOTATION] = plan.assigned_annotation
        warnings.append(f"kubereach assigned UIDs: {plan.assigned_annotation}")
    patch.extend(_annotation_patch(pod, annotations))
    patch.extend(_init_container_patch(spec, init_container(plan, settings)))
    return Decision(True, tuple(patch), warnings=tuple(warnings))


def deny_for(plan: EnforcementPlan) -> Decision:
    lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(plan.problems, 1))
    n = len(plan.problems)
    return Decision(
        False,
        message=(
            f"intra-pod rules of pod {plan.pod_ref} cannot be enforced ({n} problem{'s' if n != 1 else ''}):\n{lines}"
        ),
        code=403,
    )


def _annotation_patch(pod: Mapping[str, Any], wanted: Mapping[str, str]) -> list[dict[str, Any]]:
    meta = pod.get("metadata") or {}
    current = meta.get("annotations")
    if not isinstance(current, Mapping):
        return [_add("/metadata/annotations", dict(wanted))]
    return [_add(f"/metadata/annotations/{escape(k)}", v) for k, v in wanted.items() if current.get(k) != v]


def _init_container_patch(spec: Mapping[str, Any], wanted: dict[str, Any]) -> list[dict[str, Any]]:
    inits = spec.get("initContainers")
    if not isinstance(inits, list) or not inits:
        return [_add("/spec/initContainers", [wanted])]
    for i, c in enumerate(inits):
        if isinstance(c, Mapping) and c.get("name") == INIT_CONTAINER_NAME:
            # Already injected (a re-admission, or a copy of a mutated pod): keep its
            # position (another injector may have put its own first on purpose) and
            # replace it only if it differs from what the rules give today.
            return (
                []
                if _same_container(c, wanted)
                else [{"op": "replace", "path": f"/spec/initContainers/{i}", "value": wanted}]
            )
    return [_add("/spec/initContainers/0", wanted)]


# Container fields the API server fills in when they are absent (the v1 defaults), with
# the value it fills in: a stored copy of our init container differs from what we
# inject by these alone.
_API_DEFAULTS = {"terminationMessagePath": "/dev/termination-log"}
_MISSING = object()


def _same_container(have: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """``have`` is ``wanted`` as the API server stores it (defaults filled in)."""
    stripped = {k: v for k, v in have.items() if not (k not in wanted and _API_DEFAULTS.get(k, _MISSING) == v)}
    return stripped == wanted


def _add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def escape(key: str) -> str:
    """RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1`` (annotation keys contain slashes)."""
    return key.replace("~", "~0").replace("/", "~1")


# -- validate --------------------------------------------------------------------------


def validate(
    pod: Mapping[str, Any],
    settings: Settings | None = None,
    *,
    operation: str = "CREATE",
    old_pod: Mapping[str, Any] | None = None,
    namespace: str | None = None,
) -> Decision:
    settings = settings or Settings()
    if operation == "UPDATE":
        old = annotations_of(old_pod or {}).get(RULES_ANNOTATION)
        new = annotations_of(pod).get(RULES_ANNOTATION)
        if old != new:
            return Decision(
                False,
                code=403,
                message=(
                    f"{RULES_ANNOTATION} cannot change on a running pod: the rules are installed "
                    "by an init container at pod start; delete and recreate the pod instead"
                ),
            )
        return Decision(True)
    if operation != "CREATE":
        return Decision(True)
    plan = plan_pod(pod, namespace=namespace)
    if plan is None:
        return Decision(True)
    if not plan.ok:
        return deny_for(plan)
    problems: list[str] = []
    inits = [
        c
        for c in (pod.get("spec") or {}).get("initContainers") or []
        if isinstance(c, Mapping) and c.get("name") == INIT_CONTAINER_NAME
    ]
    if not inits:
        problems.append(
            f"init container {INIT_CONTAINER_NAME!r} is missing: the pod was not "
            "mutated (is the namespace opted in, and the mutating webhook registered?)"
        )
    else:
        c = inits[0]
        if c.get("command") != init_command(plan.config_json) or c.get("args"):
            problems.append(
                f"init container {INIT_CONTAINER_NAME!r} does not carry the config "
                "the rules give: the pod was changed after mutation"
            )
        if c.get("image") != settings.agent_image and not is_agent_image(c.get("image")):
            problems.append(
                f"init container {INIT_CONTAINER_NAME!r} does not run the kubereach "
                f"agent image (image: {c.get('image')!r})"
            )
    if annotations_of(pod).get(INJECTED_ANNOTATION) != plan.config_hash:
        problems.append(f"annotation {INJECTED_ANNOTATION} does not match the rules' config (want {plan.config_hash})")
    if problems:
        return deny_for(EnforcementPlan(plan.pod_ref, tuple(problems)))
    return Decision(True)


# -- AdmissionReview -------------------------------------------------------------------


def review(body: Any, mode: Mode, settings: Settings) -> dict[str, Any]:
    """Answer one AdmissionReview v1; raises :class:`BadReview` for a malformed body."""
    if not isinstance(body, Mapping) or body.get("kind") != "AdmissionReview":
        raise BadReview("expected an AdmissionReview")
    if body.get("apiVersion") != ADMISSION_API_VERSION:
        raise BadReview(f"unsupported apiVersion {body.get('apiVersion')!r}; set admissionReviewVersions: [v1]")
    req = body.get("request")
    if not isinstance(req, Mapping) or not req.get("uid"):
        raise BadReview("AdmissionReview has no request.uid")
    for key in ("kind", "object", "oldObject"):
        if req.get(key) is not None and not isinstance(req[key], Mapping):
            raise BadReview(f"request.{key}: expected an object, got {type(req[key]).__name__}")
    try:
        decision = decide(req, mode, settings)
    except (AttributeError, TypeError) as exc:
        # The API server only sends objects it decoded into their Go types; a field of
        # the wrong type comes from a hand-made request: the caller's error, not ours.
        raise BadReview(f"request.object is not a well-formed Pod: {exc}") from exc
    return response(str(req["uid"]), decision)


def decide(req: Mapping[str, Any], mode: Mode, settings: Settings) -> Decision:
    kind = (req.get("kind") or {}).get("kind")
    obj = req.get("object")
    if kind != "Pod" or not isinstance(obj, Mapping) or req.get("subResource"):
        return Decision(True)
    operation = str(req.get("operation") or "CREATE")
    namespace = req.get("namespace")
    if mode is Mode.MUTATE:
        if operation != "CREATE":
            return Decision(True)
        return mutate(obj, settings, namespace=namespace)
    return validate(obj, settings, operation=operation, old_pod=req.get("oldObject"), namespace=namespace)


def response(uid: str, decision: Decision) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if decision.patch:
        resp["patchType"] = "JSONPatch"
        resp["patch"] = base64.b64encode(json.dumps(list(decision.patch)).encode()).decode()
    if not decision.allowed:
        resp["status"] = {
            "code": decision.code,
            "message": decision.message,
            "reason": "Forbidden" if decision.code == 403 else "BadRequest",
        }
    if decision.warnings:
        resp["warnings"] = list(decision.warnings)
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": resp}
