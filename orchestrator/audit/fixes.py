"""NetworkPolicy manifests kubereach writes: mechanical audit fixes and ``suggest`` output.

Every policy kubereach writes is built here, so they all look alike: named
``kubereach-...``, labelled ``kubereach.io/suggested: "true"``, and annotated with why
it exists (``kubereach.io/why``), which a reviewer sees in the YAML and in
``kubectl describe``. :func:`to_yaml` renders them with a comment header.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from orchestrator.audit.dns import dns_egress_rule
from orchestrator.audit.selection import LabelSel
from orchestrator.model.policy import Direction

WHY = "kubereach.io/why"
SUGGESTED_LABEL = "kubereach.io/suggested"
MAX_NAME = 63  # DNS-1123 label length: also fits the file names written from it


def policy_name(*parts: str) -> str:
    """A valid, readable policy name from words and label values."""
    text = "-".join(p for p in parts if p)
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    return text[:MAX_NAME].rstrip("-") or "kubereach"


def policy(
    namespace: str,
    name: str,
    pod_selector: LabelSel,
    why: str,
    *,
    ingress: Sequence[Mapping[str, Any]] | None = None,
    egress: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy; ``ingress``/``egress`` None: that direction is not isolated by it,
    an empty list: isolated with no rule (deny)."""
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    spec: dict[str, Any] = {"podSelector": pod_selector.to_dict()}
    spec["policyTypes"] = types
    if ingress:
        spec["ingress"] = [dict(r) for r in ingress]
    if egress:
        spec["egress"] = [dict(r) for r in egress]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {SUGGESTED_LABEL: "true"},
            "annotations": {WHY: why},
        },
        "spec": spec,
    }


def default_deny(namespace: str, directions: Sequence[Direction]) -> dict[str, Any]:
    words = " and ".join(str(d) for d in directions)
    return policy(
        namespace,
        policy_name("kubereach-default-deny", *(str(d) for d in directions)),
        LabelSel(),
        f"default deny for {words} in {namespace}: a pod no other policy allows anything stays closed",
        ingress=[] if Direction.INGRESS in directions else None,
        egress=[] if Direction.EGRESS in directions else None,
    )


def allow_dns(namespace: str, pod_selector: LabelSel, why: str) -> dict[str, Any]:
    name = policy_name("kubereach-allow-dns", *(pod_selector.words() or ["all-pods"]))
    return policy(namespace, name, pod_selector, why, egress=[dns_egress_rule()])


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # C or Python dumper, chosen at import
    """Block style, keys in the order written, long annotation text kept on one line."""


def to_yaml(obj: Mapping[str, Any], comment: str = "") -> str:
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    body = yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    return head + body
