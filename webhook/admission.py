"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decisions (pure).

``/mutate`` injects the ``kubereach-intrapod`` init container (first in
``initContainers``) for pods carrying ``intrapod.kubereach.io/rules`` whose rules can be
enforced, denies them with every blocking problem listed otherwise, and answers every
other pod with no patch. Non-blocking findings come back as AdmissionReview
``warnings`` (kubectl prints them). The patch is computed from the difference between
the pod and its desired state, so re-admitting an already-mutated pod yields an empty
patch.

How the rules reach the init container: the canonical config (rules with named ports
resolved, every container's name, UID and ports) goes into the
``intrapod.kubereach.io/config`` annotation (compact JSON, or ``z:`` + base64 of its
zlib form when shorter), a downward-API volume projects that annotation into a file,
and the init container reads it with ``--config-file``: no command-line size limit
(Linux refuses a single argument over 128 KiB), whatever the size of the rules. The
API server caps an object's annotations at 256 KiB in total; a pod whose annotations
would exceed that once the config is added is denied here, with the sizes, rather
than refused later with a less helpful message.

The init container's ``resources`` keep the pod's QoS class (:mod:`webhook.qos`).

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

from probe.intrapod import IntrapodError as ConfigError
from probe.intrapod import decode_config_text, encode_config_text
from probe.intrapod_rules import ANNOTATION as RULES_ANNOTATION
from probe.schema import DEFAULT_AGENT_IMAGE, is_agent_image
from webhook.plan import (
    ASSIGNED_UIDS_ANNOTATION,
    INIT_CONTAINER_NAME,
    INJECTED_ANNOTATION,
    EnforcementPlan,
    annotations_of,
    canonical_json,
    plan_pod,
)
from webhook.qos import QuantityError, init_resources

ADMISSION_API_VERSION = "admission.k8s.io/v1"
CONFIG_ANNOTATION = "intrapod.kubereach.io/config"
CONFIG_VOLUME = "kubereach-intrapod-config"
CONFIG_DIR = "/etc/kubereach/intrapod"
CONFIG_FILE = f"{CONFIG_DIR}/config"
# The API server's limit on all annotations of one object, keys and values together
# (TotalAnnotationSizeLimitB in k8s.io/apimachinery's ValidateAnnotations).
MAX_ANNOTATIONS_BYTES = 256 << 10
# The API server truncates warnings over 256 characters, and long lists of them; a
# denial message is shown whole, so it is bounded too (it lists every problem, each of
# which quotes at most a few dozen characters of what the pod's author wrote).
MAX_WARNING_CHARS = 256
MAX_WARNINGS = 10
MAX_MESSAGE_CHARS = 4000


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


def init_container(settings: Settings, resources: Mapping[str, Any]) -> dict[str, Any]:
    """The init container that installs the rules with iptables before any container starts.

    iptables needs UID 0 with NET_ADMIN (and NET_RAW for the raw socket it opens);
    everything else is dropped, the root filesystem is read-only, and it cannot gain
    privileges. ``runAsNonRoot: false`` overrides a pod-level ``runAsNonRoot: true``.
    It reads its config from the downward-API volume (:func:`config_volume`).
    """
    return {
        "name": INIT_CONTAINER_NAME,
        "image": settings.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": init_command(),
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": dict(resources),
        "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def init_command() -> list[str]:
    return ["kubereach-probe", "intrapod", "apply", "--config-file", CONFIG_FILE]


def config_volume() -> dict[str, Any]:
    """A downward-API volume with one file, ``config``: the config annotation's value.

    Written with the fields the API server would default (``apiVersion``,
    ``defaultMode``) so the stored pod equals what was injected."""
    return {
        "name": CONFIG_VOLUME,
        "downwardAPI": {
            "defaultMode": 0o444,
            "items": [
                {
                    "path": CONFIG_FILE.rsplit("/", 1)[1],
                    "fieldRef": {"apiVersion": "v1", "fieldPath": f"metadata.annotations['{CONFIG_ANNOTATION}']"},
                }
            ],
        },
    }


def annotations_bytes(annotations: Mapping[str, Any]) -> int:
    """Size of annotations as the API server counts it: every key and value, in bytes."""
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())


def _without_our_init_container(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers")
    if not isinstance(inits, list):
        return pod
    kept = [c for c in inits if not (isinstance(c, Mapping) and c.get("name") == INIT_CONTAINER_NAME)]
    return {**pod, "spec": {**spec, "initContainers": kept}}


# -- mutate ----------------------------------------------------------------------------


def mutate(pod: Mapping[str, Any], settings: Settings, *, namespace: str | None = None) -> Decision:
    plan = plan_pod(pod, namespace=namespace)
    if plan is None:
        return Decision(True)
    if not plan.ok:
        return deny_for(plan)
    assert plan.config is not None
    try:
        resources = init_resources(_without_our_init_container(pod))
    except QuantityError as exc:
        return deny_for(EnforcementPlan(plan.pod_ref, (f"resources: {exc}",)))
    patch: list[dict[str, Any]] = []
    warnings = list(plan.warnings)
    spec = pod.get("spec") or {}
    assigned = dict(plan.assigned)
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            uid = assigned.get(str((c or {}).get("name"))) if isinstance(c, Mapping) else None
            if uid is None:
                continue
            base = f"/spec/{key}/{i}/securityContext"
            if not isinstance(c.get("securityContext"), Mapping):
                patch.append(_add(base, {"runAsUser": uid, "runAsNonRoot": True}))
            else:
                patch.append(_add(f"{base}/runAsUser", uid))
                patch.append(_add(f"{base}/runAsNonRoot", True))
    annotations: dict[str, str] = {
        INJECTED_ANNOTATION: plan.config_hash,
        CONFIG_ANNOTATION: encode_config_text(plan.config),
    }
    if plan.assigned:
        annotations[ASSIGNED_UIDS_ANNOTATION] = plan.assigned_annotation
        warnings.append(f"kubereach assigned UIDs: {plan.assigned_annotation}")
    total = annotations_bytes({**annotations_of(pod), **annotations})
    if total > MAX_ANNOTATIONS_BYTES:
        return deny_for(
            EnforcementPlan(
                plan.pod_ref,
                (
                    f"annotations: with the init container's config ({len(annotations[CONFIG_ANNOTATION]):,} bytes "
                    f"in {CONFIG_ANNOTATION}) the pod's annotations would take {total:,} bytes, over the API "
                    f"server's limit of {MAX_ANNOTATIONS_BYTES:,}: shorten the rules (a rule without ports covers "
                    "every declared port of its target) or other annotations",
                ),
            )
        )
    patch.extend(_annotation_patch(pod, annotations))
    patch.extend(_volume_patch(spec, config_volume()))
    patch.extend(_init_container_patch(spec, init_container(settings, resources)))
    return Decision(True, tuple(patch), warnings=_bounded_warnings(warnings))


def _bounded_warnings(warnings: list[str]) -> tuple[str, ...]:
    out = [w if len(w) <= MAX_WARNING_CHARS else w[: MAX_WARNING_CHARS - 1] + "…" for w in warnings]
    if len(out) > MAX_WARNINGS:
        out = out[: MAX_WARNINGS - 1] + [f"... and {len(out) - MAX_WARNINGS + 1} more kubereach warnings"]
    return tuple(out)


def deny_for(plan: EnforcementPlan) -> Decision:
    lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(plan.problems, 1))
    n = len(plan.problems)
    message = f"intra-pod rules of pod {plan.pod_ref} cannot be enforced ({n} problem{'s' if n != 1 else ''}):\n{lines}"
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return Decision(False, message=message, code=403, warnings=_bounded_warnings(list(plan.warnings)))


def _volume_patch(spec: Mapping[str, Any], wanted: dict[str, Any]) -> list[dict[str, Any]]:
    volumes = spec.get("volumes")
    if not isinstance(volumes, list) or not volumes:
        return [_add("/spec/volumes", [wanted])]
    for i, v in enumerate(volumes):
        if isinstance(v, Mapping) and v.get("name") == wanted["name"]:
            return [] if v == wanted else [{"op": "replace", "path": f"/spec/volumes/{i}", "value": wanted}]
    return [_add("/spec/volumes/-", wanted)]


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
_API_DEFAULTS: dict[str, Any] = {"terminationMessagePath": "/dev/termination-log"}
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
        # The init container reads the config annotation through a downward-API volume,
        # which the kubelet keeps up to date: a changed annotation would be installed by
        # the next restart of the pod's sandbox. So none of them may change.
        old, new = annotations_of(old_pod or {}), annotations_of(pod)
        for key in (RULES_ANNOTATION, CONFIG_ANNOTATION, INJECTED_ANNOTATION):
            if old.get(key) != new.get(key):
                return Decision(
                    False,
                    code=403,
                    message=(
                        f"{key} cannot change on a running pod: the rules are installed "
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
        if c.get("image") != settings.agent_image and not is_agent_image(c.get("image")):
            problems.append(
                f"init container {INIT_CONTAINER_NAME!r} does not run the kubereach "
                f"agent image (image: {str(c.get('image'))[:100]!r})"
            )
        try:
            wanted = init_container(settings, init_resources(_without_our_init_container(pod)))
        except QuantityError as exc:
            problems.append(f"resources: {exc}")
        else:
            # any agent image will do (a rollout may run two webhook versions); the rest must be ours
            if not _same_container({**c, "image": wanted["image"]}, wanted):
                problems.append(
                    f"init container {INIT_CONTAINER_NAME!r} is not the one kubereach injects "
                    f"(it must run {' '.join(init_command())!r} with the config volume, as injected)"
                )
    volumes = [v for v in (pod.get("spec") or {}).get("volumes") or [] if isinstance(v, Mapping)]
    if config_volume() not in volumes:
        problems.append(f"volume {CONFIG_VOLUME} does not project {CONFIG_ANNOTATION} as the config file")
    if _stored_config(pod) != plan.config_json:
        problems.append(
            f"annotation {CONFIG_ANNOTATION} does not carry the config the rules give: "
            "the pod was changed after mutation"
        )
    if annotations_of(pod).get(INJECTED_ANNOTATION) != plan.config_hash:
        problems.append(f"annotation {INJECTED_ANNOTATION} does not match the rules' config (want {plan.config_hash})")
    if problems:
        return deny_for(EnforcementPlan(plan.pod_ref, tuple(problems)))
    return Decision(True, warnings=_bounded_warnings(list(plan.warnings)))


def _stored_config(pod: Mapping[str, Any]) -> str | None:
    """The config annotation in canonical JSON (whatever its encoding), None if unreadable."""
    text = annotations_of(pod).get(CONFIG_ANNOTATION)
    if not isinstance(text, str):
        return None
    try:
        return canonical_json(decode_config_text(text))
    except ConfigError:
        return None


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


_REASONS = {403: "Forbidden", 400: "BadRequest", 503: "ServiceUnavailable"}


def response(uid: str, decision: Decision) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if decision.patch:
        resp["patchType"] = "JSONPatch"
        resp["patch"] = base64.b64encode(json.dumps(list(decision.patch)).encode()).decode()
    if not decision.allowed:
        resp["status"] = {
            "code": decision.code,
            "message": decision.message,
            "reason": _REASONS.get(decision.code, "BadRequest"),
        }
    if decision.warnings:
        resp["warnings"] = list(decision.warnings)
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": resp}
