"""Fuzz targets run in the sandbox: each takes what someone else wrote and returns a small summary.

A target returns normally or raises the clean error its entry point documents; the
tests check which. Anything else (another exception, running out of CPU or memory)
is a bug the fuzzing found.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def safeyaml_load_all(text: str | bytes) -> int:
    """``safeyaml.load_all`` with the manifest bounds: YamlError is the clean error."""
    import safeyaml

    return sum(1 for _ in safeyaml.load_all(text))


def safeyaml_annotation(text: str | bytes) -> str:
    """One annotation's value: YamlError is the clean error."""
    import safeyaml

    return type(safeyaml.load(text, safeyaml.ANNOTATIONS)).__name__


def manifest_file(text: str | bytes, suffix: str = ".yaml") -> int:
    """``predict -f FILE``'s loader, rules included: ManifestError is the clean error."""
    from orchestrator.intrapod import analyze_intrapod
    from orchestrator.snapshot import load_manifests

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        snapshot = load_manifests([str(path)])
    analyze_intrapod(snapshot)
    return len(snapshot.pods)


def manifest_json_file(text: str | bytes) -> int:
    """The same loader on a ``.json`` file (the json module's path, with the same bounds)."""
    return manifest_file(text, ".json")


def rules_annotation(text: str) -> list[str]:
    """The rules annotation of a valid pod through the one path predict, sweep and webhook share."""
    from orchestrator.intrapod import pod_intrapod
    from orchestrator.snapshot.build import snapshot_from_objects
    from orchestrator.snapshot.types import Origin

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "n", "annotations": {"intrapod.kubereach.io/rules": text}},
        "spec": {
            "containers": [
                {"name": "app", "securityContext": {"runAsUser": 1}, "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "side", "securityContext": {"runAsUser": 2}},
            ]
        },
    }
    found = pod_intrapod(snapshot_from_objects([(pod, Origin("fuzz"))]).pods[0])
    assert found is not None
    for problem in found.problems:
        assert len(problem) < 1000, problem[:200]  # quotes little of what was written
    return list(found.problems)


def admission_review(body: bytes) -> dict[str, Any]:
    """Exactly what a webhook worker does with a request body: never raises."""
    from webhook.admission import Settings
    from webhook.worker import answer

    result = answer("mutate", body, Settings())
    assert result["status"] in (200, 400), result
    if result["status"] == 200:
        resp = json.loads(result["body"])["response"]
        assert len((resp.get("status") or {}).get("message", "")) <= 4000
        assert all(len(w) <= 256 for w in resp.get("warnings", ()))
        return {"allowed": resp["allowed"]}
    assert len(result["error"]) <= 500
    return {"error": True}


def probe_spec(text: str) -> int:
    """``kubereach-probe run``'s spec decoder: SpecError is the clean error."""
    from probe.spec import decode_spec_text, parse_spec

    return len(parse_spec(decode_spec_text(text)).targets)


def intrapod_config(text: str) -> int:
    """The init container's config reader: IntrapodError is the clean error."""
    from probe.intrapod import compile_rules, decode_config_text, parse_config

    return len(compile_rules(parse_config(decode_config_text(text))))


def explode(n: int) -> int:
    """Allocates ``n`` bytes: the sandbox's own test (a memory explosion must fail, not swap)."""
    return len(bytearray(n))


def old_webhook_decoding(text: str) -> int:
    """How the webhook decoded a rules annotation before safeyaml: plain PyYAML, then a walk
    of the result (json.dumps). Kept to show the hostile inputs were expensive for it."""
    import yaml

    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return len(json.dumps(data))
