"""Legacy discovery documents (/api, /apis, resource lists) and /version.

kubectl asks for aggregated discovery first (``application/json;g=apidiscovery.k8s.io;
v=v2;as=APIGroupDiscoveryList``) and falls back to these legacy documents when the
server answers plain ``application/json``, which is what the lab does.
"""

from __future__ import annotations

from typing import Any

from lab import __version__
from lab.api.resources import BY_GROUP_VERSION, RESOURCES, SUBRESOURCES

KUBERNETES_VERSION = ("1", "37", "v1.37.0")  # what the lab's API surface corresponds to


def version() -> dict[str, Any]:
    major, minor, git = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"{git}+kubereach-lab.{__version__}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _groups() -> list[str]:
    seen: list[str] = []
    for r in RESOURCES:
        if r.group and r.group not in seen:
            seen.append(r.group)
    return seen


def api_group(group: str) -> dict[str, Any] | None:
    versions = sorted({v for (g, v) in BY_GROUP_VERSION if g == group})
    if not versions:
        return None
    gv = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gv, "preferredVersion": gv[0]}


def api_group_list() -> dict[str, Any]:
    groups = [api_group(g) for g in _groups()]
    for g in groups:
        if g is not None:
            g.pop("kind")
            g.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    types = BY_GROUP_VERSION.get((group, version))
    if types is None:
        return None
    out = []
    for rt in types.values():
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        out.append(entry)
        for sub, (verbs, kind) in SUBRESOURCES.get(rt.key, {}).items():
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind or rt.kind,
                "verbs": list(verbs),
            }
            if kind:  # another group's kind (scale: autoscaling/v1 Scale), as the real server says
                group_, version_, kind_ = kind.split("/")
                sub_entry.update(group=group_, version=version_, kind=kind_)
            out.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
