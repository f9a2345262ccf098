"""Reading manifests for ``lab up -f``: files or directories of YAML, in dependency order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.api.resources import BY_KIND, ResourceType

# apply order: what other objects need first (namespaces), policies before pods so a pod
# is never reachable before its policies are compiled, webhooks last so the webhook's own
# pod can start before pod creation starts calling it
KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "NetworkPolicy",
    "Service",
    "Pod",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)


class ManifestError(ValueError):
    """A manifest the lab cannot apply; the message names the file and document."""


@dataclass(frozen=True, slots=True)
class Manifest:
    source: str  # "file.yaml#2" (document index, 1-based)
    resource: ResourceType
    obj: dict[str, Any]


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return out


def load(paths: list[Path]) -> list[Manifest]:
    """Every object in ``paths`` (``kind: List`` expanded), sorted into apply order."""
    found: list[Manifest] = []
    for file in _files(paths):
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"{file}: {exc}") from None
        for i, doc in enumerate(docs, 1):
            if doc is None:
                continue
            items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            for obj in items:
                source = f"{file}#{i}"
                if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
                    raise ManifestError(f"{source}: not a Kubernetes object (apiVersion and kind are required)")
                rt = BY_KIND.get((obj["apiVersion"], obj["kind"]))
                if rt is None:
                    raise ManifestError(f"{source}: the lab does not serve {obj['apiVersion']} {obj['kind']}")
                if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
                    raise ManifestError(f"{source}: metadata.name is required")
                found.append(Manifest(source, rt, obj))
    order = {kind: n for n, kind in enumerate(KIND_ORDER)}
    return sorted(found, key=lambda m: order.get(m.resource.kind, len(order)))
