"""Reading manifests for ``lab up -f``: files or directories of YAML, in dependency order.

What the files say goes through :mod:`safeyaml` (bounded size, depth and aliases;
duplicate keys refused) like every other reader of others' YAML. Nothing vanishes
quietly: every document is applied or refused with its file and number, and kinds the
lab does not serve are an error naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safeyaml
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
    """Every object in ``paths`` (``kind: List`` expanded), sorted into apply order.

    Refused, naming the file and document: a file over :data:`safeyaml.MAX_BYTES`, YAML
    that :mod:`safeyaml` refuses, something that is not an object, a kind the lab does
    not serve, and the same object defined twice (applying both would quietly keep the
    second, merged into the first).
    """
    found: list[Manifest] = []
    first: dict[tuple[str, str, str, str], str] = {}
    for file in _files(paths):
        try:
            if file.stat().st_size > safeyaml.MAX_BYTES:
                raise ManifestError(f"{file}: larger than {safeyaml.MAX_BYTES:,} bytes: not read")
            docs = list(safeyaml.load_all(file.read_bytes()))
        except OSError as exc:
            raise ManifestError(f"{file}: cannot read: {exc.strerror or exc}") from None
        except safeyaml.YamlError as exc:
            where = f"#{exc.document}" if exc.document is not None else ""
            raise ManifestError(f"{file}{where}: invalid YAML: {exc}") from None
        for i, doc in docs:
            source = f"{file}#{i}"
            items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            if not isinstance(items, list):
                raise ManifestError(f"{source}: items of a List must be a list of objects")
            for obj in items:
                if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or not obj.get("kind"):
                    raise ManifestError(f"{source}: not a Kubernetes object (apiVersion and kind are required)")
                if not isinstance(obj.get("apiVersion"), str):
                    raise ManifestError(f"{source}: not a Kubernetes object (apiVersion and kind are required)")
                rt = BY_KIND.get((obj["apiVersion"], obj["kind"]))
                if rt is None:
                    raise ManifestError(
                        f"{source}: the lab does not serve {safeyaml.quote(obj['apiVersion'], 60)} "
                        f"{safeyaml.quote(obj['kind'], 60)}"
                    )
                meta = obj.get("metadata")
                if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
                    raise ManifestError(f"{source}: metadata.name is required")
                namespace = str(meta.get("namespace") or "default") if rt.namespaced else ""
                key = (rt.group, rt.kind, namespace, meta["name"])
                if key in first:
                    label = f"{rt.kind} {namespace + '/' if namespace else ''}{meta['name']}"
                    raise ManifestError(f"{source}: {safeyaml.quote(label, 200)} is also defined in {first[key]}")
                first[key] = source
                found.append(Manifest(source, rt, obj))
    order = {kind: n for n, kind in enumerate(KIND_ORDER)}
    return sorted(found, key=lambda m: order.get(m.resource.kind, len(order)))
