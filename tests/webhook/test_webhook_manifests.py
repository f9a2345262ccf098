"""manifests/webhook/: what a reviewer checks by eye, checked by a test; and the demo's annotated pods."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from webhook_helpers import init_config, make_review, patched

from lab.admission import rule_matches, selector_matches
from webhook.admission import Mode, Settings, review

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_DIR = REPO / "manifests" / "webhook"


def objects(directory: Path) -> list[dict]:
    out = []
    for f in sorted(directory.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return out


def by_kind(kind: str) -> list[dict]:
    return [o for o in objects(WEBHOOK_DIR) if o["kind"] == kind]


def strict_round_trip(doc: dict) -> dict:
    """The document through the kubernetes client's typed model and back.

    Deserializing checks types and required fields; a misspelt or misplaced field does
    not survive the trip, so comparing with the original catches it too.
    """
    import inspect
    import json
    import types

    from kubernetes import client

    api = client.ApiClient()
    text, model_name = json.dumps(doc), f"V1{doc['kind']}"
    if "content_type" in inspect.signature(api.deserialize).parameters:  # newer clients: the text
        model = api.deserialize(text, model_name, "application/json")
    else:  # older ones: a response
        model = api.deserialize(types.SimpleNamespace(data=text), model_name)
    return api.sanitize_for_serialization(model)


@pytest.mark.parametrize("doc", objects(WEBHOOK_DIR), ids=lambda d: d["kind"])
def test_every_manifest_is_a_valid_object_of_the_real_api(doc):
    assert doc["apiVersion"] in {"v1", "apps/v1", "policy/v1", "admissionregistration.k8s.io/v1"}
    assert strict_round_trip(doc) == doc


def test_the_round_trip_check_catches_a_misspelt_field():
    (svc,) = by_kind("Service")
    svc["spec"]["selectr"] = svc["spec"].pop("selector")
    assert strict_round_trip(svc) != svc


@pytest.mark.parametrize("kind", ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"])
def test_webhook_fields_hold_values_the_api_server_accepts(kind):
    (cfg,) = by_kind(kind)
    for hook in cfg["webhooks"]:
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["sideEffects"] == "None"
        assert hook["failurePolicy"] in ("Fail", "Ignore")
        assert hook["matchPolicy"] in ("Exact", "Equivalent")
        assert 1 <= hook["timeoutSeconds"] <= 30
        assert hook["clientConfig"]["service"]["port"] == 443
        for rule in hook["rules"]:
            assert rule["resources"] == ["pods"] and rule["apiGroups"] == [""]


def test_mutating_webhook_is_reinvoked_after_a_later_injector_adds_containers():
    # The injected config lists every container: a sidecar added by a later mutating
    # webhook (a mesh) makes it stale, and only a reinvocation brings it up to date
    # (see test_a_container_added_by_a_later_mutating_webhook_is_taken_in_on_reinvocation).
    (cfg,) = by_kind("MutatingWebhookConfiguration")
    assert [h["reinvocationPolicy"] for h in cfg["webhooks"]] == ["IfNeeded"]
    (val,) = by_kind("ValidatingWebhookConfiguration")
    assert [r["operations"] for h in val["webhooks"] for r in h["rules"]] == [["CREATE", "UPDATE"]]


def test_deployment_runs_two_restricted_replicas_with_probes_and_resources():
    (dep,) = by_kind("Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["command"][:3] == ["kubereach", "webhook", "serve"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"scheme": "HTTPS", "path": "/healthz", "port": "https"}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}


def test_service_routes_to_the_deployment_and_configurations_call_it():
    (svc,) = by_kind("Service")
    (dep,) = by_kind("Deployment")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    paths = {}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (cfg,) = by_kind(kind)
        for hook in cfg["webhooks"]:
            ref = hook["clientConfig"]["service"]
            assert (ref["name"], ref["namespace"]) == (svc["metadata"]["name"], svc["metadata"]["namespace"])
            assert "caBundle" in hook["clientConfig"]
            assert hook["admissionReviewVersions"] == ["v1"] and hook["sideEffects"] == "None"
            assert hook["failurePolicy"] in ("Fail", "Ignore")
            paths[kind] = ref["path"]
    assert paths == {"MutatingWebhookConfiguration": "/mutate", "ValidatingWebhookConfiguration": "/validate"}


def test_failure_policy_trade_off_is_explained_next_to_it():
    for name in ("mutating-webhook.yaml", "validating-webhook.yaml"):
        text = (WEBHOOK_DIR / name).read_text()
        comments = " ".join(line for line in text.splitlines() if line.strip().startswith("#"))
        assert "Fail" in comments and "Ignore" in comments and "outage" in comments


@pytest.mark.parametrize("kind", ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"])
@pytest.mark.parametrize(
    "namespace, labels, pod_labels, called",
    [
        ("shop", {"intrapod.kubereach.io/enforce": "true"}, {"app": "web"}, True),
        ("shop", {}, {"app": "web"}, False),  # not opted in
        ("kubereach-system", {"intrapod.kubereach.io/enforce": "true"}, {}, False),  # its own namespace
        (
            "shop",
            {"intrapod.kubereach.io/enforce": "true"},
            {"app.kubernetes.io/name": "kubereach-webhook"},
            False,
        ),  # its own pods
    ],
)
def test_configurations_select_only_opted_in_namespaces_never_the_webhook_itself(
    kind, namespace, labels, pod_labels, called
):
    (cfg,) = by_kind(kind)
    ns_labels = {"kubernetes.io/metadata.name": namespace, **labels}
    for hook in cfg["webhooks"]:
        assert any(rule_matches(r, "CREATE") for r in hook["rules"])
        hit = selector_matches(hook["namespaceSelector"], ns_labels) and selector_matches(
            hook["objectSelector"], pod_labels
        )
        assert hit is called


def test_the_demos_annotated_pods_are_admitted_with_their_rules():
    demo = [
        o
        for o in objects(REPO / "manifests" / "demo")
        if o.get("kind") == "Pod"
        and "intrapod.kubereach.io/rules" in ((o.get("metadata") or {}).get("annotations") or {})
    ]
    if not demo:
        pytest.skip("no annotated pod in manifests/demo yet")
    for pod in demo:
        out = review(make_review(pod), Mode.MUTATE, Settings())
        assert out["response"]["allowed"], out["response"].get("status")
        config = init_config(patched(pod, out))
        assert {c["name"] for c in config["containers"]} == {c["name"] for c in pod["spec"]["containers"]}


def _flags(container: dict) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in container["command"] if a.startswith("--") and "=" in a)


def _mib(quantity: str) -> float:
    from webhook.qos import parse_quantity

    return float(parse_quantity(quantity)) / (1 << 20)


# Measured by tests/benchmarks/bench_webhook.py on this shared 2-core machine (the figures
# the deployment's comment quotes): server peak under the burst of 200 reviews (20 hostile),
# a worker at rest, the server at rest.
SERVER_PEAK_MIB, WORKER_IDLE_MIB, SERVER_IDLE_MIB = 160, 30, 40


def test_the_budget_is_well_under_the_api_servers_timeout():
    (dep,) = by_kind("Deployment")
    budget = float(_flags(dep["spec"]["template"]["spec"]["containers"][0])["budget"])
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (cfg,) = by_kind(kind)
        for hook in cfg["webhooks"]:
            assert budget <= hook["timeoutSeconds"] / 2, (kind, budget, hook["timeoutSeconds"])


def test_resources_hold_the_measured_worst_case():
    (dep,) = by_kind("Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    flags = _flags(c)
    workers = int(flags["workers"]) + int(flags["large-workers"])
    worst = SERVER_PEAK_MIB + workers * WORKER_IDLE_MIB + int(flags["worker-memory"])
    assert _mib(c["resources"]["limits"]["memory"]) >= worst
    assert _mib(c["resources"]["requests"]["memory"]) >= SERVER_IDLE_MIB + workers * 25
    # two replicas and a budget that keeps one: a drain never leaves the API server without a webhook
    (pdb,) = by_kind("PodDisruptionBudget")
    assert dep["spec"]["replicas"] >= 2 and pdb["spec"]["minAvailable"] == dep["spec"]["replicas"] - 1


def test_the_serve_flags_in_the_deployment_are_real_flags():
    from click.testing import CliRunner

    from orchestrator.cli import cli

    (dep,) = by_kind("Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    help_text = CliRunner().invoke(cli, ["webhook", "serve", "--help"]).output
    for flag in _flags(c):
        assert f"--{flag}" in help_text
