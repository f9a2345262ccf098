"""Cluster-scoped policy tiers: objects -> snapshot values.

Owns which API groups and versions kubereach understands for the Admin and Baseline tiers,
chosen by group and version, never by kind or short name (Amazon EKS serves an unrelated
``networking.k8s.aws`` ClusterNetworkPolicy, short name ``cnp`` too):

- ``ClusterNetworkPolicy`` of ``policy.networking.k8s.io/v1alpha2`` and ``v1beta1`` (one spec);
- ``AdminNetworkPolicy`` and ``BaselineAdminNetworkPolicy`` of ``policy.networking.k8s.io/v1alpha1``.

(The Nodes their ``nodes`` peers select are read with the other core kinds, in ``objects.py``.)

Each is validated as its CRD validates it (enums, minimum/maximum, min/max items, exactly one
field of a union, list-type sets, the CEL rules): a problem raises
:class:`~orchestrator.model.selectors.InvalidSpec` with the field path, which the caller turns
into a ManifestError naming file, document and object. The v1alpha1 pair is rewritten into
the v1alpha2 shape (``Allow`` -> ``Accept``, ``ports`` -> ``protocols``) so the model knows one
form; rule indexes stay the declared ones. Other versions of these kinds are counted and
reported as not understood (:class:`Collector`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.model.selectors import InvalidSpec, compile_selector, reject_unknown_fields
from orchestrator.snapshot.types import ClusterPolicyObject, Origin, Tier
from orchestrator.snapshot.validation import metadata_problem

GROUP = "policy.networking.k8s.io"
CNP_VERSIONS = (f"{GROUP}/v1alpha2", f"{GROUP}/v1beta1")
ANP_VERSION = f"{GROUP}/v1alpha1"
# the kinds this module owns, whatever their apiVersion (the others of these names are counted)
KINDS = ("ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
SUPPORTED = {
    "ClusterNetworkPolicy": CNP_VERSIONS,
    "AdminNetworkPolicy": (ANP_VERSION,),
    "BaselineAdminNetworkPolicy": (ANP_VERSION,),
}

# CRD limits (kubebuilder markers of the API types), per API version.
CNP_MAX_RULES = 25  # spec.ingress / spec.egress, and from/to/protocols of one rule
ANP_MAX_RULES = 100  # v1alpha1: rules, peers and ports
MAX_NETWORKS = 25  # networks CIDRs of one peer (both versions)
MAX_DOMAINS = 25  # domainNames of one peer
MAX_RULE_NAME = 100
MAX_CIDR = 43  # the CRD's maxLength for one CIDR string
PRIORITY_MAX = 1000
_LABEL = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_]*[A-Za-z0-9])?")
_PROTOCOL_KEYS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any, field: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise InvalidSpec(field, "required")
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpec(field, f"expected a mapping, got {_type(value)}")
    return value


def _list(value: Any, field: str, *, lo: int = 0, hi: int | None, required: bool = False) -> list[Any]:
    if value is None:
        if required:
            raise InvalidSpec(field, f"required, a list of at least {lo} item{'s' * (lo != 1)}")
        return []
    if not isinstance(value, list):
        raise InvalidSpec(field, f"expected a list, got {_type(value)}")
    if len(value) < lo:
        raise InvalidSpec(field, f"must have at least {lo} item{'s' * (lo != 1)}")
    if hi is not None and len(value) > hi:
        raise InvalidSpec(field, f"too many: {len(value)} items, at most {hi} are allowed")
    return value


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if value is None:
        raise InvalidSpec(field, "required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(field, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidSpec(field, f"{value} is out of range {lo}-{hi}")
    return value


def _enum(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if value is None:
        raise InvalidSpec(field, f"required, one of {', '.join(allowed)}")
    if not isinstance(value, str) or value not in allowed:
        raise InvalidSpec(field, f"unsupported value {value!r} (expected {', '.join(allowed)})")
    return value


def _one_of(obj: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    """The one field set of a union (``minProperties: 1``, ``maxProperties: 1``)."""
    reject_unknown_fields(obj, field, allowed)
    present = [k for k in allowed if obj.get(k) is not None]
    if len(present) != 1:
        got = f", got {' and '.join(present)}" if present else ""
        raise InvalidSpec(field, f"must set exactly one of {', '.join(allowed)}{got}")
    return present[0]


def _selector(raw: Any, field: str) -> dict[str, Any]:
    """A validated LabelSelector, as a plain copy (the model compiles it again)."""
    compile_selector(raw, field)
    sel = _mapping(raw, field)
    return {k: _plain(v) for k, v in sel.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _set_of_strings(raw: Any, field: str, hi: int, check: Callable[[Any, str], str]) -> list[str]:
    """A ``listType=set`` of 1..hi strings: each checked, duplicates refused like the API server."""
    items = _list(raw, field, lo=1, hi=hi, required=True)
    out: list[str] = []
    for i, item in enumerate(items):
        value = check(item, f"{field}[{i}]")
        if value in out:
            raise InvalidSpec(f"{field}[{i}]", f"duplicate value {value!r}")
        out.append(value)
    return out


def _cidr(raw: Any, field: str) -> str:
    """``isCIDR(self)``: an IPv4 or IPv6 prefix such as 10.0.0.0/8 or fd00::/8 (host bits allowed)."""
    if not isinstance(raw, str):
        raise InvalidSpec(field, f"expected a CIDR such as 10.0.0.0/8, got {raw!r}")
    if len(raw) > MAX_CIDR:
        raise InvalidSpec(field, f"longer than {MAX_CIDR} characters")
    if "/" not in raw:
        raise InvalidSpec(field, f"{raw!r} is not a CIDR (expected address/prefix, e.g. 10.0.0.0/8)")
    try:
        ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise InvalidSpec(field, f"invalid CIDR {raw!r}") from None
    return raw


def _v1alpha1_cidr(raw: Any, field: str) -> str:
    """v1alpha1 adds ``self.contains(':') != self.contains('.')``: no IPv4 inside IPv6."""
    text = _cidr(raw, field)
    if (":" in text) == ("." in text):
        raise InvalidSpec(field, "CIDR must be either an IPv4 or IPv6 address (IPv4 embedded in IPv6 is not supported)")
    return text


def _domain(raw: Any, field: str) -> str:
    """The CRD's DomainName pattern, checked label by label (no backtracking regex on the whole
    string): an optional ``*.`` prefix, at least two labels, an optional trailing dot."""
    if not isinstance(raw, str):
        raise InvalidSpec(field, f"expected a domain name such as *.example.com, got {raw!r}")
    name = raw[2:] if raw.startswith("*.") else raw
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        shown = raw if len(raw) <= 80 else raw[:77] + "..."
        raise InvalidSpec(
            field,
            f"{shown!r} is not a domain name (labels of letters, digits, '-' and '_', at least two, "
            "an optional '*.' prefix for subdomains)",
        )
    return raw


def _string(raw: Any, field: str, *, max_len: int | None = None) -> str:
    if not isinstance(raw, str):
        raise InvalidSpec(field, f"expected a string, got {raw!r}")
    if max_len is not None and len(raw) > max_len:
        raise InvalidSpec(field, f"may not be longer than {max_len} characters")
    return raw


def _name(obj: Mapping[str, Any], named: Callable[[str], None], kind: str) -> str:
    """``metadata.name``, after the API server's metadata checks (name, labels, annotations)."""
    meta = _mapping(obj.get("metadata"), "metadata", required=True)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidSpec("metadata.name", "required, a non-empty string")
    named(f"{kind} {name}")
    # cluster-scoped: metadata.namespace, if any, is dropped as the API server drops it
    problem = metadata_problem(kind, {k: v for k, v in meta.items() if k != "namespace"})
    if problem is not None:
        raise InvalidSpec(*problem)
    return name


# -- shared by both versions ---------------------------------------------------------------------


def _namespaced_pod(raw: Any, field: str, *, namespace_selector_required: bool) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    reject_unknown_fields(obj, field, ("namespaceSelector", "podSelector"))
    if obj.get("podSelector") is None:
        raise InvalidSpec(f"{field}.podSelector", "required ({} selects every pod)")
    if namespace_selector_required and obj.get("namespaceSelector") is None:
        raise InvalidSpec(f"{field}.namespaceSelector", "required ({} selects every namespace)")
    return {
        "namespaceSelector": _selector(obj.get("namespaceSelector"), f"{field}.namespaceSelector"),
        "podSelector": _selector(obj.get("podSelector"), f"{field}.podSelector"),
    }


def _subject(raw: Any, field: str, *, v1alpha1: bool) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    which = _one_of(obj, field, ("namespaces", "pods"))
    if which == "namespaces":
        return {"namespaces": _selector(obj["namespaces"], f"{field}.namespaces")}
    return {"pods": _namespaced_pod(obj["pods"], f"{field}.pods", namespace_selector_required=v1alpha1)}


def _peer(raw: Any, field: str, kinds: tuple[str, ...], *, v1alpha1: bool) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    which = _one_of(obj, field, kinds)
    value, where = obj[which], f"{field}.{which}"
    if which in ("namespaces", "nodes"):
        return {which: _selector(value, where)}
    if which == "pods":
        return {"pods": _namespaced_pod(value, where, namespace_selector_required=v1alpha1)}
    if which == "networks":
        return {"networks": _set_of_strings(value, where, MAX_NETWORKS, _v1alpha1_cidr if v1alpha1 else _cidr)}
    return {"domainNames": _set_of_strings(value, where, MAX_DOMAINS, _domain)}


def _check_rule(rule: Mapping[str, Any], field: str, peer_key: str, accept: str) -> None:
    """The rule-level rules: the CEL one (no named port towards networks/nodes/domainNames) and
    ``domainNames`` only on the accepting action (the API documents it as Accept-only)."""
    kinds = {k for peer in rule[peer_key] for k in peer}
    named = any("destinationNamedPort" in p for p in rule.get("protocols") or ())
    if named and kinds & {"networks", "nodes", "domainNames"}:
        raise InvalidSpec(
            field,
            "networks/nodes/domainNames peer cannot be set with named ports since there are no named "
            "ports for networks/nodes/domainNames",
        )
    if "domainNames" in kinds and rule["action"] != "Accept":
        raise InvalidSpec(f"{field}.action", f"domainNames peers are only supported with action {accept}")


# -- ClusterNetworkPolicy: policy.networking.k8s.io/v1alpha2 and v1beta1 -------------------------


def _port_v1alpha2(raw: Any, field: str) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    which = _one_of(obj, field, ("number", "range"))
    if which == "number":
        return {"number": _int(obj["number"], f"{field}.number", 1, 65535)}
    rng = _mapping(obj["range"], f"{field}.range", required=True)
    reject_unknown_fields(rng, f"{field}.range", ("start", "end"))
    start = _int(rng.get("start"), f"{field}.range.start", 1, 65535)
    end = _int(rng.get("end"), f"{field}.range.end", 1, 65535)
    if not start < end:
        raise InvalidSpec(f"{field}.range", f"start port {start} must be less than end port {end}")
    return {"range": {"start": start, "end": end}}


def _protocol_v1alpha2(raw: Any, field: str) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    which = _one_of(obj, field, ("tcp", "udp", "sctp", "destinationNamedPort"))
    if which == "destinationNamedPort":
        return {which: _string(obj[which], f"{field}.{which}")}
    match = _mapping(obj[which], f"{field}.{which}", required=True)
    reject_unknown_fields(match, f"{field}.{which}", ("destinationPort",))
    if match.get("destinationPort") is None:  # minProperties: 1
        raise InvalidSpec(f"{field}.{which}.destinationPort", "required (a number or a range)")
    return {which: {"destinationPort": _port_v1alpha2(match["destinationPort"], f"{field}.{which}.destinationPort")}}


def _rule_v1alpha2(raw: Any, field: str, ingress: bool) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    peer_key = "from" if ingress else "to"
    reject_unknown_fields(obj, field, ("name", "action", peer_key, "protocols"))
    out: dict[str, Any] = {}
    if obj.get("name") is not None:
        out["name"] = _string(obj["name"], f"{field}.name", max_len=MAX_RULE_NAME)
    out["action"] = _enum(obj.get("action"), f"{field}.action", ("Accept", "Deny", "Pass"))
    kinds = ("namespaces", "pods") if ingress else ("namespaces", "pods", "nodes", "networks", "domainNames")
    peers = _list(obj.get(peer_key), f"{field}.{peer_key}", lo=1, hi=CNP_MAX_RULES, required=True)
    out[peer_key] = [_peer(p, f"{field}.{peer_key}[{j}]", kinds, v1alpha1=False) for j, p in enumerate(peers)]
    if obj.get("protocols") is not None:
        protos = _list(obj["protocols"], f"{field}.protocols", lo=1, hi=CNP_MAX_RULES)
        out["protocols"] = [_protocol_v1alpha2(p, f"{field}.protocols[{k}]") for k, p in enumerate(protos)]
    _check_rule(out, field, peer_key, "Accept")
    return out


def _cluster_network_policy(
    obj: Mapping[str, Any], api_version: str, named: Callable[[str], None], origin: Origin
) -> ClusterPolicyObject:
    name = _name(obj, named, "ClusterNetworkPolicy")
    spec = _mapping(obj.get("spec"), "spec", required=True)
    reject_unknown_fields(spec, "spec", ("tier", "priority", "subject", "ingress", "egress"))
    tier = Tier(_enum(spec.get("tier"), "spec.tier", ("Admin", "Baseline")))
    priority = _int(spec.get("priority"), "spec.priority", 0, PRIORITY_MAX)
    canonical: dict[str, Any] = {"subject": _subject(spec.get("subject"), "spec.subject", v1alpha1=False)}
    for key in ("ingress", "egress"):
        rules = _list(spec.get(key), f"spec.{key}", hi=CNP_MAX_RULES)
        canonical[key] = [_rule_v1alpha2(r, f"spec.{key}[{i}]", key == "ingress") for i, r in enumerate(rules)]
    return ClusterPolicyObject("ClusterNetworkPolicy", api_version, name, tier, priority, canonical, origin)


# -- AdminNetworkPolicy, BaselineAdminNetworkPolicy: policy.networking.k8s.io/v1alpha1 ------------


def _port_v1alpha1(raw: Any, field: str) -> dict[str, Any]:
    """One ``ports`` entry, rewritten as a v1alpha2 ``protocols`` entry."""
    obj = _mapping(raw, field, required=True)
    which = _one_of(obj, field, ("portNumber", "namedPort", "portRange"))
    where = f"{field}.{which}"
    if which == "namedPort":
        return {"destinationNamedPort": _string(obj[which], where)}
    spec = _mapping(obj[which], where, required=True)
    if which == "portNumber":
        reject_unknown_fields(spec, where, ("protocol", "port"))
        proto = _enum(spec.get("protocol") or "TCP", f"{where}.protocol", ("TCP", "UDP", "SCTP"))
        port: dict[str, Any] = {"number": _int(spec.get("port"), f"{where}.port", 1, 65535)}
    else:
        reject_unknown_fields(spec, where, ("protocol", "start", "end"))
        proto = _enum(spec.get("protocol") or "TCP", f"{where}.protocol", ("TCP", "UDP", "SCTP"))
        start = _int(spec.get("start"), f"{where}.start", 1, 65535)
        end = _int(spec.get("end"), f"{where}.end", 1, 65535)
        if not start < end:
            raise InvalidSpec(where, f"start port {start} must be less than end port {end}")
        port = {"range": {"start": start, "end": end}}
    return {_PROTOCOL_KEYS[proto]: {"destinationPort": port}}


def _rule_v1alpha1(raw: Any, field: str, ingress: bool, *, baseline: bool) -> dict[str, Any]:
    obj = _mapping(raw, field, required=True)
    peer_key = "from" if ingress else "to"
    reject_unknown_fields(obj, field, ("name", "action", peer_key, "ports"))
    out: dict[str, Any] = {}
    if obj.get("name") is not None:
        out["name"] = _string(obj["name"], f"{field}.name", max_len=MAX_RULE_NAME)
    actions = ("Allow", "Deny") if baseline else ("Allow", "Deny", "Pass")
    action = _enum(obj.get("action"), f"{field}.action", actions)
    out["action"] = "Accept" if action == "Allow" else action
    if ingress:
        kinds: tuple[str, ...] = ("namespaces", "pods")
    elif baseline:
        kinds = ("namespaces", "pods", "nodes", "networks")
    else:
        kinds = ("namespaces", "pods", "nodes", "networks", "domainNames")
    peers = _list(obj.get(peer_key), f"{field}.{peer_key}", lo=1, hi=ANP_MAX_RULES, required=True)
    out[peer_key] = [_peer(p, f"{field}.{peer_key}[{j}]", kinds, v1alpha1=True) for j, p in enumerate(peers)]
    if obj.get("ports") is not None:
        ports = _list(obj["ports"], f"{field}.ports", lo=1, hi=ANP_MAX_RULES)
        out["protocols"] = [_port_v1alpha1(p, f"{field}.ports[{k}]") for k, p in enumerate(ports)]
    _check_rule(out, field, peer_key, "Allow")
    return out


def _admin_network_policy(
    obj: Mapping[str, Any], api_version: str, named: Callable[[str], None], origin: Origin
) -> ClusterPolicyObject:
    kind = str(obj["kind"])
    baseline = kind == "BaselineAdminNetworkPolicy"
    name = _name(obj, named, kind)
    if baseline and name != "default":
        raise InvalidSpec(
            "metadata.name",
            'only one BaselineAdminNetworkPolicy, with metadata.name "default", can be created in a cluster',
        )
    spec = _mapping(obj.get("spec"), "spec", required=True)
    fields = ("subject", "ingress", "egress") if baseline else ("priority", "subject", "ingress", "egress")
    reject_unknown_fields(spec, "spec", fields)
    priority = None if baseline else _int(spec.get("priority"), "spec.priority", 0, PRIORITY_MAX)
    canonical: dict[str, Any] = {"subject": _subject(spec.get("subject"), "spec.subject", v1alpha1=True)}
    for key in ("ingress", "egress"):
        rules = _list(spec.get(key), f"spec.{key}", hi=ANP_MAX_RULES)
        canonical[key] = [
            _rule_v1alpha1(r, f"spec.{key}[{i}]", key == "ingress", baseline=baseline) for i, r in enumerate(rules)
        ]
    tier = Tier.BASELINE if baseline else Tier.ADMIN
    return ClusterPolicyObject(kind, api_version, name, tier, priority, canonical, origin)


# -- collecting them --------------------------------------------------------------------------------


class Collector:
    """Cluster policies of one snapshot, and the ones of other APIs, counted.

    ``add`` validates and keeps an object of :data:`KINDS`; one of another apiVersion is
    counted (``skipped``) and reported in words (``notes``).
    """

    def __init__(self) -> None:
        self.policies: dict[tuple[str, str], ClusterPolicyObject] = {}
        self.skipped: dict[str, int] = {}
        self._other: dict[tuple[str, str], int] = {}

    def add(
        self, obj: Mapping[str, Any], api_version: str, origin: Origin, named: Callable[[str], None]
    ) -> ClusterPolicyObject | None:
        """The value for ``obj`` (None when its apiVersion is not understood: counted instead).

        Raises InvalidSpec for an invalid object, and for a second one of the same kind and name
        (``duplicate`` in the message)."""
        kind = str(obj["kind"])
        if api_version not in SUPPORTED[kind]:
            label = f"{kind} ({api_version})"
            self.skipped[label] = self.skipped.get(label, 0) + 1
            self._other[(kind, api_version)] = self._other.get((kind, api_version), 0) + 1
            return None
        if kind == "ClusterNetworkPolicy":
            value = _cluster_network_policy(obj, api_version, named, origin)
        else:
            value = _admin_network_policy(obj, api_version, named, origin)
        key = (kind, value.name)
        if key in self.policies:
            earlier = origin_of(self.policies[key])
            raise InvalidSpec("metadata.name", f"duplicate {kind} {value.name} (first defined in {earlier})")
        self.policies[key] = value
        return value

    def notes(self) -> tuple[str, ...]:
        """One sentence per kind and apiVersion left out, saying what kubereach models instead."""
        out = []
        for (kind, api_version), n in sorted(self._other.items()):
            objects = f"{n} {kind} object{'s' * (n != 1)} of {api_version}"
            known = " and ".join(SUPPORTED[kind])
            eks = ""
            if api_version.startswith("networking.k8s.aws/"):
                eks = " (Amazon EKS's own policy API, an unrelated kind of the same name)"
            left = "they are" if n != 1 else "it is"
            out.append(
                f"{objects}{eks} not understood: kubereach models {kind} of {known} only; "
                f"{left} left out of the prediction"
            )
        return tuple(out)


def origin_of(value: ClusterPolicyObject) -> str:
    return str(value.origin) if value.origin is not None else "an earlier object"
