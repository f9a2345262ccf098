"""lab.admission.admit_pod: real HTTPS calls to the real webhook app, as the API server makes them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from typing import Any

import pytest
from aiohttp import web
from webhook_helpers import init_config, make_pod

from lab.admission import (
    SERVICE_ADDRESS_ANNOTATION,
    PatchError,
    admit_pod,
    apply_json_patch,
    rule_matches,
    selector_matches,
)
from webhook.admission import Settings
from webhook.server import make_app

OPT_IN = {"intrapod.kubereach.io/enforce": "true"}


@contextlib.asynccontextmanager
async def serving(cert_dir, app: web.Application | None = None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    runner = web.AppRunner(app or make_app(Settings()))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def bundle(cert_dir) -> str:
    return base64.b64encode((cert_dir / "ca.crt").read_bytes()).decode()


def hook(
    name: str,
    url: str | None,
    ca: str,
    *,
    failure: str = "Fail",
    timeout: int = 5,
    ops=("CREATE",),
    object_selector=None,
    service=None,
) -> dict[str, Any]:
    cc: dict[str, Any] = {"caBundle": ca}
    if url:
        cc["url"] = url
    if service:
        cc["service"] = service
    h = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": timeout,
        "failurePolicy": failure,
        "clientConfig": cc,
        "rules": [{"operations": list(ops), "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "namespaceSelector": {"matchLabels": OPT_IN},
    }
    if object_selector:
        h["objectSelector"] = object_selector
    return h


def config(kind: str, *hooks, annotations=None) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": f"kubereach-{kind.lower()}", "annotations": annotations or {}},
        "webhooks": list(hooks),
    }


def mutating(port, ca, **kw):
    return config(
        "MutatingWebhookConfiguration",
        hook("inject.intrapod.kubereach.io", f"https://127.0.0.1:{port}/mutate", ca, **kw),
    )


def validating(port, ca, **kw):
    return config(
        "ValidatingWebhookConfiguration",
        hook("validate.intrapod.kubereach.io", f"https://127.0.0.1:{port}/validate", ca, **kw),
    )


def run(coro):
    return asyncio.run(coro)


def test_opted_in_namespace_gets_the_pod_mutated_then_validated(cert_dir):
    async def go():
        async with serving(cert_dir) as port:
            ca = bundle(cert_dir)
            return await admit_pod(
                make_pod(), namespace_labels=OPT_IN, mutating=[mutating(port, ca)], validating=[validating(port, ca)]
            )

    out = run(go())
    assert out.allowed, out.message
    assert [c["name"] for c in out.pod["spec"]["initContainers"]] == ["kubereach-intrapod"]
    assert init_config(out.pod)["containers"][0] == {"name": "app", "uid": 1000, "ports": ["8080/TCP", "9090/UDP"]}


def test_namespace_not_opted_in_is_not_called(cert_dir):
    # the URL points nowhere: calling it would fail with failurePolicy Fail
    ca = bundle(cert_dir)
    pod = make_pod()
    out = run(
        admit_pod(pod, namespace_labels={"team": "a"}, mutating=[mutating(1, ca)], validating=[validating(1, ca)])
    )
    assert out.allowed and out.pod is pod


def test_object_selector_and_rule_operations_filter_the_webhooks(cert_dir):
    ca = bundle(cert_dir)
    skip_me = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}
    out = run(
        admit_pod(
            make_pod(),
            namespace_labels=OPT_IN,
            mutating=[mutating(1, ca, object_selector=skip_me), mutating(1, ca, ops=("UPDATE",))],
            validating=[],
        )
    )
    assert out.allowed and out.pod == make_pod()


def test_invalid_rules_are_denied_with_the_webhooks_message(cert_dir):
    async def go():
        async with serving(cert_dir) as port:
            return await admit_pod(
                make_pod(app_uid=1001),
                namespace_labels=OPT_IN,
                mutating=[mutating(port, bundle(cert_dir))],
                validating=[],
            )

    out = run(go())
    assert not out.allowed and out.code == 403
    assert out.message.startswith('admission webhook "inject.intrapod.kubereach.io" denied the request')
    assert "share UID 1001" in out.message


def test_validating_webhook_alone_denies_a_pod_that_was_not_mutated(cert_dir):
    async def go():
        async with serving(cert_dir) as port:
            return await admit_pod(
                make_pod(), namespace_labels=OPT_IN, mutating=[], validating=[validating(port, bundle(cert_dir))]
            )

    out = run(go())
    assert not out.allowed and "is missing" in out.message


@pytest.mark.parametrize("policy, allowed", [("Fail", False), ("Ignore", True)])
def test_unreachable_webhook_follows_failure_policy(cert_dir, policy, allowed):
    out = run(
        admit_pod(
            make_pod(), namespace_labels=OPT_IN, mutating=[mutating(1, bundle(cert_dir), failure=policy)], validating=[]
        )
    )
    assert out.allowed is allowed
    text = out.message if not allowed else " ".join(out.warnings)
    assert 'failed calling webhook "inject.intrapod.kubereach.io"' in text
    if allowed:
        assert out.pod == make_pod()


@pytest.mark.parametrize("policy, allowed", [("Fail", False), ("Ignore", True)])
def test_slow_webhook_times_out_after_timeout_seconds(cert_dir, policy, allowed):
    async def go():
        release = asyncio.Event()

        async def slow(_request):
            await release.wait()  # answers only after the caller gave up
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/mutate", slow)
        async with serving(cert_dir, app) as port:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            out = await admit_pod(
                make_pod(),
                namespace_labels=OPT_IN,
                validating=[],
                mutating=[mutating(port, bundle(cert_dir), failure=policy, timeout=1)],
            )
            release.set()
            return out, loop.time() - t0

    out, elapsed = run(go())
    assert out.allowed is allowed
    assert elapsed < 3
    assert "timed out after 1s" in (out.message or " ".join(out.warnings))


def test_certificate_not_signed_by_the_ca_bundle_is_a_call_failure(cert_dir, tmp_path):
    from orchestrator.cli import main

    assert main(["webhook", "certs", "--service", "x", "-n", "y", "--out", str(tmp_path)]) == 0
    other = base64.b64encode((tmp_path / "ca.crt").read_bytes()).decode()

    async def go():
        async with serving(cert_dir) as port:
            return await admit_pod(make_pod(), namespace_labels=OPT_IN, validating=[], mutating=[mutating(port, other)])

    out = run(go())
    assert not out.allowed and "certificate verify failed" in out.message


def test_service_reference_is_dialled_through_the_lab_annotation_and_verified_by_service_name(cert_dir):
    async def go():
        async with serving(cert_dir) as port:
            svc = {"name": "kubereach-webhook", "namespace": "kubereach-system", "path": "/mutate"}
            cfg = config(
                "MutatingWebhookConfiguration",
                hook("inject.intrapod.kubereach.io", None, bundle(cert_dir), service=svc),
                annotations={SERVICE_ADDRESS_ANNOTATION: f"127.0.0.1:{port}"},
            )
            ok = await admit_pod(make_pod(), namespace_labels=OPT_IN, mutating=[cfg], validating=[])
            wrong = json.loads(json.dumps(cfg))
            wrong["webhooks"][0]["clientConfig"]["service"]["name"] = "not-in-the-cert"
            bad = await admit_pod(make_pod(), namespace_labels=OPT_IN, mutating=[wrong], validating=[])
            cfg["metadata"]["annotations"] = {}
            unroutable = await admit_pod(make_pod(), namespace_labels=OPT_IN, mutating=[cfg], validating=[])
            return ok, bad, unroutable

    ok, bad, unroutable = run(go())
    assert ok.allowed and ok.pod["spec"]["initContainers"][0]["name"] == "kubereach-intrapod"
    assert not bad.allowed and "not-in-the-cert" in bad.message
    assert not unroutable.allowed and SERVICE_ADDRESS_ANNOTATION in unroutable.message


def test_response_with_a_foreign_uid_is_a_call_failure(cert_dir):
    async def liar(request):
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": "someone-else", "allowed": True},
            }
        )

    app = web.Application()
    app.router.add_post("/mutate", liar)

    async def go():
        async with serving(cert_dir, app) as port:
            return await admit_pod(
                make_pod(), namespace_labels=OPT_IN, validating=[], mutating=[mutating(port, bundle(cert_dir))]
            )

    out = run(go())
    assert not out.allowed and "does not match the request" in out.message


def test_dry_run_skips_nothing_for_side_effect_free_webhooks(cert_dir):
    async def go():
        async with serving(cert_dir) as port:
            return await admit_pod(
                make_pod(),
                namespace_labels=OPT_IN,
                validating=[],
                mutating=[mutating(port, bundle(cert_dir))],
                dry_run=True,
            )

    assert run(go()).allowed


# -- the lab's own label selector and JSONPatch ---------------------------------------------


@pytest.mark.parametrize(
    "selector, labels, matches",
    [
        (None, {}, True),
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ],
)
def test_label_selector(selector, labels, matches):
    assert selector_matches(selector, labels) is matches


@pytest.mark.parametrize(
    "resources, operation, subresource, matches",
    [
        (["pods"], "CREATE", "", True),
        (["*"], "CREATE", "", True),
        (["*"], "CREATE", "ephemeralcontainers", False),
        (["pods/*"], "CREATE", "ephemeralcontainers", True),
        (["*/*"], "CREATE", "", True),
        (["deployments"], "CREATE", "", False),
        (["pods"], "DELETE", "", False),
    ],
)
def test_rule_matching(resources, operation, subresource, matches):
    rule = {"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["*"], "resources": resources}
    assert rule_matches(rule, operation, subresource=subresource) is matches


def test_json_patch_rfc6902_operations():
    doc = {"a": {"b": [1, 2]}, "c~d": 1, "e/f": 2}
    out = apply_json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c~0d", "value": 5},
            {"op": "remove", "path": "/e~1f"},
            {"op": "copy", "from": "/a/b", "path": "/g"},
            {"op": "move", "from": "/g/0", "path": "/h"},
            {"op": "test", "path": "/h", "value": 1},
        ],
    )
    assert out == {"a": {"b": [1, 9, 2, 3]}, "c~d": 5, "g": [9, 2, 3], "h": 1}
    assert doc == {"a": {"b": [1, 2]}, "c~d": 1, "e/f": 2}  # the input is not modified


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/x/0", "value": 1}],
        [{"op": "add", "path": "/a/5", "value": 1}],
        [{"op": "test", "path": "/a/0", "value": 2}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
    ],
)
def test_json_patch_that_does_not_apply_is_an_error(ops):
    with pytest.raises(PatchError):
        apply_json_patch({"a": [1], "x": {}}, ops)
