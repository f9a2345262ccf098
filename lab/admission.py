"""Admission for pod CREATE in the lab: call the configured webhooks, like the real API server.

The API server calls :func:`admit_pod` before it stores a new pod, with every stored
MutatingWebhookConfiguration and ValidatingWebhookConfiguration and the labels of the
pod's namespace. With no configuration that matches, the pod passes unchanged.

What it does, following the Kubernetes dynamic admission contract:

1. Configurations are taken in name order, webhooks in their listed order; a webhook
   is called only when one of its ``rules`` matches (operation, apiGroup, apiVersion,
   resource, scope) and its ``namespaceSelector`` / ``objectSelector`` match.
2. Mutating webhooks run one after another; each gets the pod as the previous one
   left it and may answer a base64 RFC 6902 JSONPatch, applied here.
3. Validating webhooks then run concurrently on the final pod; any denial denies.
4. A call that fails (connection, TLS verification against ``caBundle``, timeout after
   ``timeoutSeconds``, non-200, a malformed or mismatched AdmissionReview, a patch that
   does not apply) denies the pod under ``failurePolicy: Fail`` (the default) and is
   skipped with a warning under ``Ignore``.

Reaching the webhook: ``clientConfig.url`` is dialled as given (in the lab, e.g.
``https://127.0.0.1:8443/mutate`` where ``kubereach webhook serve`` listens). The lab
has no Service routing to host processes, so a ``clientConfig.service`` reference
needs the configuration annotated with ``lab.kubereach.io/service-address:
"127.0.0.1:8443"``: the lab dials that address and still verifies the certificate
for the Service's DNS name ``NAME.NAMESPACE.svc``, exactly as the real API server does.
Without the annotation the call fails (and ``failurePolicy`` decides). ``matchConditions``
(CEL) and ``reinvocationPolicy`` are not evaluated.

The lab must not import the orchestrator. The JSONPatch code is the lab's one
implementation in :mod:`lab.jsonpatch` (the API's ``PATCH`` uses it too) and label
selectors are matched by :func:`lab.api.selectors.match_label_selector`; both are pure
modules, so this one still imports no HTTP handler code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from lab.api.selectors import match_label_selector as selector_matches
from lab.jsonpatch import PatchError, apply_json_patch

# PatchError, apply_json_patch and selector_matches are re-exported: callers and tests
# use them from here.
__all__ = [
    "AdmissionOutcome",
    "PatchError",
    "WebhookCallError",
    "admit_pod",
    "apply_json_patch",
    "review_request",
    "rule_matches",
    "selector_matches",
    "SERVICE_ADDRESS_ANNOTATION",
    "NAMESPACE_NAME_LABEL",
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "LAB_USER",
]

SERVICE_ADDRESS_ANNOTATION = "lab.kubereach.io/service-address"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_TIMEOUT_S = 10  # admissionregistration/v1 default timeoutSeconds
MAX_TIMEOUT_S = 30  # and its maximum
LAB_USER = {"username": "kubernetes-admin", "uid": "lab-admin", "groups": ["system:masters", "system:authenticated"]}


@dataclass(frozen=True, slots=True)
class AdmissionOutcome:
    allowed: bool
    pod: dict[str, Any]  # the pod after every mutating patch
    message: str = ""  # why it was denied (the webhook's status.message)
    code: int = 403
    warnings: tuple[str, ...] = ()


class WebhookCallError(Exception):
    """One webhook could not give a usable answer (failurePolicy decides what follows)."""


async def admit_pod(
    pod: dict[str, Any],
    *,
    namespace_labels: Mapping[str, str],
    mutating: Sequence[Mapping[str, Any]],
    validating: Sequence[Mapping[str, Any]],
    operation: str = "CREATE",
    dry_run: bool = False,
) -> AdmissionOutcome:
    """Run mutating webhooks (in order, applying each JSONPatch), then validating ones."""
    if not mutating and not validating:
        return AdmissionOutcome(True, pod)
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    ns_labels = {NAMESPACE_NAME_LABEL: namespace, **dict(namespace_labels or {})}
    warnings: list[str] = []
    current = pod  # replaced by a patched copy, never modified in place

    for config, hook in _matching(mutating, current, ns_labels, operation):
        try:
            resp = await _call(config, hook, current, namespace, operation, dry_run)
        except WebhookCallError as exc:
            denied = _failure(hook, exc, warnings)
            if denied:
                return AdmissionOutcome(False, current, denied, 500, tuple(warnings))
            continue
        warnings.extend(str(w) for w in resp.get("warnings") or [])
        if not resp.get("allowed"):
            return _denial(hook, resp, current, warnings)
        if resp.get("patch"):
            try:
                current = _apply_response_patch(current, resp)
            except (PatchError, ValueError) as exc:
                denied = _failure(hook, WebhookCallError(f"invalid patch: {exc}"), warnings)
                if denied:
                    return AdmissionOutcome(False, pod, denied, 500, tuple(warnings))

    hooks = list(_matching(validating, current, ns_labels, operation))
    results = await asyncio.gather(
        *(_call(c, h, current, namespace, operation, dry_run) for c, h in hooks), return_exceptions=True
    )
    for (_config, hook), result in zip(hooks, results, strict=True):
        if isinstance(result, WebhookCallError):
            denied = _failure(hook, result, warnings)
            if denied:
                return AdmissionOutcome(False, current, denied, 500, tuple(warnings))
            continue
        if isinstance(result, BaseException):
            raise result
        warnings.extend(str(w) for w in result.get("warnings") or [])
        if not result.get("allowed"):
            return _denial(hook, result, current, warnings)
    # ``current is pod`` when no webhook patched it, so the caller can tell.
    return AdmissionOutcome(True, current, warnings=tuple(warnings))


def _denial(
    hook: Mapping[str, Any], resp: Mapping[str, Any], pod: dict[str, Any], warnings: list[str]
) -> AdmissionOutcome:
    status = resp.get("status") or {}
    reason = status.get("message") or status.get("reason") or "denied"
    code = status.get("code") or 403
    return AdmissionOutcome(
        False, pod, f'admission webhook "{hook.get("name")}" denied the request: {reason}', int(code), tuple(warnings)
    )


def _failure(hook: Mapping[str, Any], exc: Exception, warnings: list[str]) -> str | None:
    """Apply failurePolicy: the denial message under Fail, None (and a warning) under Ignore."""
    message = f'failed calling webhook "{hook.get("name")}": {exc}'
    if str(hook.get("failurePolicy") or "Fail") == "Ignore":
        warnings.append(f"{message} (failurePolicy Ignore: admitted without it)")
        return None
    return message


# -- which webhooks apply ---------------------------------------------------------------


def _matching(
    configs: Sequence[Mapping[str, Any]], pod: Mapping[str, Any], ns_labels: Mapping[str, str], operation: str
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for config in sorted(configs, key=lambda c: str((c.get("metadata") or {}).get("name", ""))):
        for hook in config.get("webhooks") or []:
            if not any(rule_matches(r, operation) for r in hook.get("rules") or []):
                continue
            if not selector_matches(hook.get("namespaceSelector"), ns_labels):
                continue
            if not selector_matches(hook.get("objectSelector"), labels):
                continue
            yield config, hook


def rule_matches(
    rule: Mapping[str, Any],
    operation: str,
    *,
    group: str = "",
    version: str = "v1",
    resource: str = "pods",
    subresource: str = "",
    scope: str = "Namespaced",
) -> bool:
    """One RuleWithOperations against a request (``*`` wildcards, ``pods/*`` subresources)."""
    ops = rule.get("operations") or []
    if "*" not in ops and operation not in ops:
        return False
    if not _in(group, rule.get("apiGroups")) or not _in(version, rule.get("apiVersions")):
        return False
    wanted = f"{resource}/{subresource}" if subresource else resource
    ok = False
    for r in rule.get("resources") or []:
        if r in ("*/*", wanted) or (r == "*" and not subresource):
            ok = True
        elif "/" in r:
            res, sub = r.split("/", 1)
            if (res in ("*", resource)) and sub in ("*", subresource) and subresource:
                ok = True
    if not ok:
        return False
    rule_scope = rule.get("scope") or "*"
    return rule_scope in ("*", scope)


def _in(value: str, allowed: Any) -> bool:
    allowed = allowed or []
    return "*" in allowed or value in allowed


# -- calling one webhook -----------------------------------------------------------------


def review_request(pod: Mapping[str, Any], namespace: str, operation: str, dry_run: bool) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": meta.get("name", ""),
            "namespace": namespace,
            "operation": operation,
            "userInfo": LAB_USER,
            "object": pod,
            "oldObject": None,
            "dryRun": dry_run,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "CreateOptions" if operation == "CREATE" else "UpdateOptions",
            },
        },
    }


def _endpoint(config: Mapping[str, Any], hook: Mapping[str, Any]) -> tuple[str, str | None]:
    """The URL to dial and the TLS server name to verify (None: the URL's host)."""
    cc = hook.get("clientConfig") or {}
    if cc.get("url"):
        return str(cc["url"]), None
    svc = cc.get("service")
    if not svc:
        raise WebhookCallError("clientConfig has neither url nor service")
    address = ((config.get("metadata") or {}).get("annotations") or {}).get(SERVICE_ADDRESS_ANNOTATION)
    server_name = f"{svc.get('name')}.{svc.get('namespace')}.svc"
    if not address:
        raise WebhookCallError(
            f"the lab cannot route to service {server_name}; set clientConfig.url "
            f"or annotate the configuration with {SERVICE_ADDRESS_ANNOTATION}"
        )
    path = svc.get("path") or "/"
    return f"https://{address}{path if path.startswith('/') else '/' + path}", server_name


def _ssl_context(hook: Mapping[str, Any]) -> ssl.SSLContext:
    bundle = (hook.get("clientConfig") or {}).get("caBundle")
    if not bundle:
        return ssl.create_default_context()
    try:
        pem = base64.b64decode(bundle, validate=True).decode()
        return ssl.create_default_context(cadata=pem)
    except (ValueError, ssl.SSLError) as exc:
        raise WebhookCallError(f"clientConfig.caBundle is not a base64 PEM certificate: {exc}") from exc


async def _call(
    config: Mapping[str, Any],
    hook: Mapping[str, Any],
    pod: Mapping[str, Any],
    namespace: str,
    operation: str,
    dry_run: bool,
) -> Mapping[str, Any]:
    versions = hook.get("admissionReviewVersions") or []
    if "v1" not in versions:
        raise WebhookCallError(f"admissionReviewVersions {versions} does not include v1")
    if dry_run and str(hook.get("sideEffects") or "Unknown") not in ("None", "NoneOnDryRun"):
        raise WebhookCallError("webhook may have side effects and the request is a dry run")
    url, server_name = _endpoint(config, hook)
    ctx = _ssl_context(hook)
    timeout = min(max(int(hook.get("timeoutSeconds") or DEFAULT_TIMEOUT_S), 1), MAX_TIMEOUT_S)
    body = review_request(pod, namespace, operation, dry_run)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, json=body, ssl=ctx, server_hostname=server_name) as r,
        ):
            text = await r.text()
            if r.status != 200:
                raise WebhookCallError(f"HTTP {r.status}: {text[:256]}")
    except TimeoutError as exc:
        raise WebhookCallError(f"Post {url}: timed out after {timeout}s") from exc
    except aiohttp.ClientError as exc:
        raise WebhookCallError(f"Post {url}: {exc}") from exc
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise WebhookCallError(f"response is not JSON: {text[:256]}") from exc
    resp = answer.get("response") if isinstance(answer, dict) else None
    if (
        not isinstance(resp, dict)
        or answer.get("kind") != "AdmissionReview"
        or answer.get("apiVersion") != "admission.k8s.io/v1"
    ):
        raise WebhookCallError("response is not an AdmissionReview v1 with a response")
    if resp.get("uid") != body["request"]["uid"]:
        raise WebhookCallError(f"response uid {resp.get('uid')!r} does not match the request's")
    return resp


# -- the webhook's JSONPatch: decoded here, applied by lab.jsonpatch ----------------------


def _apply_response_patch(pod: dict[str, Any], resp: Mapping[str, Any]) -> dict[str, Any]:
    if resp.get("patchType") != "JSONPatch":
        raise PatchError(f"patchType {resp.get('patchType')!r} (only JSONPatch is supported)")
    try:
        ops = json.loads(base64.b64decode(resp["patch"], validate=True))
    except ValueError as exc:
        raise PatchError(f"patch is not base64 JSON: {exc}") from exc
    patched: dict[str, Any] = apply_json_patch(pod, ops)  # a patched pod object; the API decodes it again
    return patched
