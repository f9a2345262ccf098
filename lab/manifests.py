"""Reading manifests for ``lab up -f``: files, directories or stdin, in dependency order.

What is not a Kubernetes object the lab can apply is skipped and counted, never fatal,
the way ``predict`` treats it: a ``kustomization.yaml`` (or any ``Kustomization``) and a
Helm chart's ``Chart.yaml``/``values.yaml`` or unrendered templates (``{{ ... }}``) come
with a hint to render them first (``kubectl kustomize DIR``, ``helm template``); other
YAML without ``apiVersion`` and ``kind`` is counted as not Kubernetes; Kubernetes kinds
the lab does not serve (Ingress, RBAC, ...) are counted by kind. A document that claims
to be a served kind but lacks ``metadata.name``, a file that is not (safe) YAML, and the
same object defined twice (applying both would quietly keep the second, merged into the
first) are errors naming the file and document. What the files say goes through
:mod:`safeyaml` (bounded size, depth and aliases; duplicate keys refused) like every
other reader of others' YAML.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safeyaml
from lab.api.resources import BY_KIND, ResourceType

# apply order: what other objects need first (namespaces), policies before pods so a pod
# is never reachable before its policies are compiled, workloads after the Services and
# policies their pods meet, webhooks last so the webhook's own pod can start before pod
# creation starts calling it
KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "NetworkPolicy",
    "Service",
    "Endpoints",
    "EndpointSlice",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_FILES = ("Chart.yaml", "values.yaml", "values.yml")
KUSTOMIZE_HINT = "render it first: `kubectl kustomize DIR > app.yaml`, then `lab up -f app.yaml`"
HELM_HINT = "render the chart first: `helm template NAME CHART > app.yaml`, then `lab up -f app.yaml`"


class ManifestError(ValueError):
    """A manifest the lab cannot apply; the message names the file and document."""


@dataclass(frozen=True, slots=True)
class Manifest:
    source: str  # "file.yaml#2" (document index, 1-based)
    resource: ResourceType
    obj: dict[str, Any]


@dataclass
class Loaded:
    """What ``lab up -f`` will apply, and what it skipped (``what -> count``) with hints."""

    manifests: list[Manifest] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    hints: list[str] = field(default_factory=list)
    first: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # object -> where first defined

    def summary(self) -> str:
        """``skipped 3 documents: 2 networking.k8s.io/v1 Ingress, 1 Kustomization`` (or "")."""
        if not self.skipped:
            return ""
        total = sum(self.skipped.values())
        parts = ", ".join(f"{n} {what}" for what, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"skipped {total} document{'s' if total != 1 else ''} the lab does not apply: {parts}"

    def _hint(self, text: str) -> None:
        if text not in self.hints:
            self.hints.append(text)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if str(path) == "-":
            out.append(path)
        elif path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
            out += sorted(p for p in path.rglob("Kustomization") if p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return out


def _read(file: Path) -> str:
    limit = safeyaml.MAX_BYTES
    try:
        if str(file) == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        elif file.stat().st_size > limit:
            raise ManifestError(f"{file}: larger than {limit:,} bytes: not read")
        else:
            raw = file.read_bytes()
        if len(raw) > limit:
            raise ManifestError(f"stdin: larger than {limit:,} bytes: not read")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{file}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise ManifestError(f"{file}: cannot read: {exc.strerror or exc}") from None


def load_all(paths: list[Path]) -> Loaded:
    """Every object in ``paths`` (``kind: List`` expanded), sorted into apply order, and
    what was skipped."""
    loaded = Loaded()
    for file in _files(paths):
        name = "stdin" if str(file) == "-" else str(file)
        if file.name in KUSTOMIZE_FILES:
            loaded.skipped["Kustomization"] += 1
            loaded._hint(f"{name} is a kustomize file: {KUSTOMIZE_HINT}")
            continue
        if file.name in HELM_FILES:
            loaded.skipped["Helm chart file"] += 1
            loaded._hint(f"{name} belongs to a Helm chart: {HELM_HINT}")
            continue
        text = _read(file)
        if "{{" in text and "}}" in text:
            loaded.skipped["Helm template (not rendered)"] += 1
            loaded._hint(f"{name} is an unrendered template: {HELM_HINT}")
            continue
        try:
            docs = list(safeyaml.load_all(text))
        except safeyaml.YamlError as exc:
            where = f"#{exc.document}" if exc.document is not None else ""
            raise ManifestError(f"{name}{where}: invalid YAML: {exc}") from None
        for i, doc in docs:
            items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            if not isinstance(items, list):
                raise ManifestError(f"{name}#{i}: items of a List must be a list of objects")
            for obj in items:
                _one(loaded, f"{name}#{i}", obj)
    order = {kind: n for n, kind in enumerate(KIND_ORDER)}
    loaded.manifests.sort(key=lambda m: order.get(m.resource.kind, len(order)))
    return loaded


def _one(loaded: Loaded, source: str, obj: Any) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
        loaded.skipped["not Kubernetes (no apiVersion and kind)"] += 1
        return
    if obj["kind"] in ("Kustomization", "Component") and obj["apiVersion"].startswith("kustomize.config.k8s.io/"):
        loaded.skipped["Kustomization"] += 1
        loaded._hint(f"{source} is a kustomize file: {KUSTOMIZE_HINT}")
        return
    rt = BY_KIND.get((obj["apiVersion"], obj["kind"]))
    if rt is None or rt.kind == "Node":
        loaded.skipped[f"{obj['apiVersion']} {obj['kind']}"[:100]] += 1
        return
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ManifestError(f"{source}: {rt.kind}: metadata.name is required")
    namespace = str(meta.get("namespace") or "default") if rt.namespaced else ""
    key = (rt.group, rt.kind, namespace, meta["name"])
    if key in loaded.first:
        label = f"{rt.kind} {namespace + '/' if namespace else ''}{meta['name']}"
        raise ManifestError(f"{source}: {safeyaml.quote(label, 200)} is also defined in {loaded.first[key]}")
    loaded.first[key] = source
    loaded.manifests.append(Manifest(source, rt, obj))


def load(paths: list[Path]) -> list[Manifest]:
    """Every object in ``paths`` the lab applies (see :func:`load_all` for what it skips)."""
    return load_all(paths).manifests
