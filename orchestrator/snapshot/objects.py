"""Kubernetes objects (decoded JSON/YAML dicts) -> snapshot values, validated.

Owns the translation of the API's camelCase shape (what the API server returns and
what ``kubectl get -o yaml`` prints) into :mod:`orchestrator.snapshot.types`, one
builder per kind (Namespace, Node, Pod, Service, NetworkPolicy) plus
:func:`pod_from_template` for the pod templates of workloads, and the typed accessors
the builders share. Server-populated fields (``status`` besides the pod IPs and phase,
``managedFields``, ``ownerReferences``, ...) are tolerated. Anything the model relies
on is type-checked, so a bad manifest becomes a :class:`ManifestError` naming the
file, the document, the object and the field path, never a traceback. Assembling a
whole snapshot (Lists, kinds, workloads, namespaces) is :mod:`orchestrator.snapshot.build`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Literal, overload

from orchestrator.errors import ManifestError
from orchestrator.model.names import PORT_NAME as _PORT_NAME
from orchestrator.model.policy import compile_policy
from orchestrator.model.selectors import InvalidSpec
from orchestrator.snapshot.types import (
    NAMESPACE_NAME_LABEL,
    Container,
    ContainerPort,
    Namespace,
    NamespaceName,
    NetworkPolicyObject,
    Node,
    Origin,
    Pod,
    PodName,
    Service,
    ServicePort,
    Taint,
)
from probe.schema import Protocol

_PROTOCOLS = {p.value: p for p in Protocol}


class _Where:
    """Error context for one object: origin + ``Kind namespace/name``."""

    def __init__(self, origin: Origin, item: str | None = None) -> None:
        self.origin, self.item, self.obj = origin, item, item

    def named(self, label: str) -> None:
        """``Pod ns/name``, plus ``(items[3])`` when the object came from a List."""
        self.obj = f"{label} ({self.item})" if self.item else label

    def error(self, field: str | None, message: str) -> ManifestError:
        return ManifestError(message, file=self.origin.source, document=self.origin.document, obj=self.obj, field=field)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any, where: _Where, field: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise where.error(field, "required")
        return {}
    if not isinstance(value, Mapping):
        raise where.error(field, f"expected a mapping, got {_type(value)}")
    return value


def _list(value: Any, where: _Where, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(field, f"expected a list, got {_type(value)}")
    return value


@overload
def _str(value: Any, where: _Where, field: str, *, required: Literal[True]) -> str: ...
@overload
def _str(value: Any, where: _Where, field: str, *, required: bool = False) -> str | None: ...


def _str(value: Any, where: _Where, field: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise where.error(field, "required, a non-empty string")
        return None
    if not isinstance(value, str):
        raise where.error(field, f"expected a string, got {value!r}")
    return value


@overload
def _int(value: Any, where: _Where, field: str, *, lo: int, hi: int, required: Literal[True]) -> int: ...
@overload
def _int(value: Any, where: _Where, field: str, *, lo: int, hi: int, required: bool = False) -> int | None: ...


def _int(value: Any, where: _Where, field: str, *, lo: int, hi: int, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise where.error(field, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(field, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise where.error(field, f"{value} is out of range {lo}-{hi}")
    return value


def _string_map(value: Any, where: _Where, field: str) -> dict[str, str]:
    out = {}
    for k, v in _mapping(value, where, field).items():
        if not isinstance(k, str) or not k:
            raise where.error(field, f"key {k!r} must be a non-empty string")
        if not isinstance(v, str):
            raise where.error(f"{field}.{k}", f"value must be a string, got {v!r} (quote it in YAML)")
        out[k] = v
    return out


def _protocol(value: Any, where: _Where, field: str) -> Protocol:
    if value is None:
        return Protocol.TCP
    if not isinstance(value, str) or value not in _PROTOCOLS:
        raise where.error(field, f"unsupported protocol {value!r} (expected TCP, UDP or SCTP)")
    return _PROTOCOLS[value]


@overload
def _metadata(
    obj: Mapping[str, Any], where: _Where, *, namespaced: Literal[True]
) -> tuple[str, str, Mapping[str, Any]]: ...
@overload
def _metadata(
    obj: Mapping[str, Any], where: _Where, *, namespaced: Literal[False]
) -> tuple[str, None, Mapping[str, Any]]: ...


def _metadata(obj: Mapping[str, Any], where: _Where, *, namespaced: bool) -> tuple[str, str | None, Mapping[str, Any]]:
    meta = _mapping(obj.get("metadata"), where, "metadata", required=True)
    name = _str(meta.get("name"), where, "metadata.name", required=True)
    namespace = None
    if namespaced:
        namespace = _str(meta.get("namespace"), where, "metadata.namespace") or "default"
    return name, namespace, meta


# -- objects ----------------------------------------------------------------------------


def _namespace(obj: Mapping[str, Any], where: _Where) -> Namespace:
    name, _, meta = _metadata(obj, where, namespaced=False)
    where.named(f"Namespace {name}")
    labels = _string_map(meta.get("labels"), where, "metadata.labels")
    labels[NAMESPACE_NAME_LABEL] = name
    return Namespace(NamespaceName(name), labels, where.origin)


def _container(raw: Any, where: _Where, field: str, pod_uid: int | None, kind: str) -> Container:
    c = _mapping(raw, where, field, required=True)
    name = _str(c.get("name"), where, f"{field}.name", required=True)
    ports = []
    for i, p in enumerate(_list(c.get("ports"), where, f"{field}.ports")):
        pf = f"{field}.ports[{i}]"
        p = _mapping(p, where, pf, required=True)
        number = _int(p.get("containerPort"), where, f"{pf}.containerPort", lo=1, hi=65535, required=True)
        pname = _str(p.get("name"), where, f"{pf}.name")
        if pname is not None and not _PORT_NAME.match(pname):
            raise where.error(
                f"{pf}.name",
                f"{pname[:60]!r} is not a valid port name (IANA_SVC_NAME: 1-15 "
                "lowercase letters, digits and '-', at least one letter)",
            )
        ports.append(ContainerPort(number, _protocol(p.get("protocol"), where, f"{pf}.protocol"), pname))
    scf = f"{field}.securityContext"
    sc = _mapping(c.get("securityContext"), where, scf)
    uid = _int(sc.get("runAsUser"), where, f"{scf}.runAsUser", lo=0, hi=2**31 - 1)
    caps = _mapping(sc.get("capabilities"), where, f"{scf}.capabilities")
    add, drop = (
        tuple(
            _str(x, where, f"{scf}.capabilities.{key}[{i}]", required=True)
            for i, x in enumerate(_list(caps.get(key), where, f"{scf}.capabilities.{key}"))
        )
        for key in ("add", "drop")
    )
    privileged = sc.get("privileged")
    if privileged is not None and not isinstance(privileged, bool):
        raise where.error(f"{scf}.privileged", f"expected true or false, got {_type(privileged)}")
    image = _str(c.get("image"), where, f"{field}.image")
    restart_policy = None
    if kind == "init":
        restart_policy = _str(c.get("restartPolicy"), where, f"{field}.restartPolicy")
        if restart_policy is not None and restart_policy != "Always":
            # As the API server: only "Always" (a native sidecar) is allowed on an init container.
            raise where.error(
                f"{field}.restartPolicy",
                f"{restart_policy[:60]!r} is not supported: only 'Always' is allowed on an init container",
            )
    return Container(
        name,
        image,
        tuple(ports),
        uid if uid is not None else pod_uid,
        add,
        kind,
        restart_policy,
        capabilities_drop=drop,
        privileged=bool(privileged),
    )


def _pod(obj: Mapping[str, Any], where: _Where) -> Pod:
    name, namespace, meta = _metadata(obj, where, namespaced=True)
    where.named(f"Pod {namespace}/{name}")
    labels = _string_map(meta.get("labels"), where, "metadata.labels")
    annotations = _string_map(meta.get("annotations"), where, "metadata.annotations")
    spec = _mapping(obj.get("spec"), where, "spec", required=True)
    host_network = spec.get("hostNetwork", False)
    if host_network is None:
        host_network = False
    if not isinstance(host_network, bool):
        raise where.error("spec.hostNetwork", f"expected true or false, got {host_network!r}")
    psc = _mapping(spec.get("securityContext"), where, "spec.securityContext")
    pod_uid = _int(psc.get("runAsUser"), where, "spec.securityContext.runAsUser", lo=0, hi=2**31 - 1)
    raw_containers = spec.get("containers")
    if raw_containers is None or raw_containers == []:
        raise where.error("spec.containers", "required, a list with at least one container")
    groups = {}
    for key, kind in (("containers", "container"), ("initContainers", "init"), ("ephemeralContainers", "ephemeral")):
        groups[kind] = tuple(
            _container(c, where, f"spec.{key}[{i}]", pod_uid, kind)
            for i, c in enumerate(_list(spec.get(key), where, f"spec.{key}"))
        )
    seen: set[str] = set()
    for c in groups["container"] + groups["init"] + groups["ephemeral"]:
        if c.name in seen:
            raise where.error("spec.containers", f"duplicate container name {c.name!r}")
        seen.add(c.name)
    status = _mapping(obj.get("status"), where, "status")
    ips: list[str] = []
    primary = _str(status.get("podIP"), where, "status.podIP")
    candidates = [(primary, "status.podIP")] if primary else []
    for i, entry in enumerate(_list(status.get("podIPs"), where, "status.podIPs")):
        entry = _mapping(entry, where, f"status.podIPs[{i}]", required=True)
        candidates.append(
            (_str(entry.get("ip"), where, f"status.podIPs[{i}].ip", required=True), f"status.podIPs[{i}].ip")
        )
    for ip, field in candidates:
        try:
            text = str(ipaddress.ip_address(ip))
        except ValueError:
            raise where.error(field, f"{ip!r} is not an IP address") from None
        if text not in ips:
            ips.append(text)
    owners = tuple(
        owner_kind
        for o in _list(meta.get("ownerReferences"), where, "metadata.ownerReferences")
        if isinstance(o, Mapping) and isinstance(owner_kind := o.get("kind"), str)
    )
    return Pod(
        NamespaceName(namespace),
        PodName(name),
        labels,
        annotations,
        tuple(ips),
        host_network,
        groups["container"],
        groups["init"],
        groups["ephemeral"],
        uid=_str(meta.get("uid"), where, "metadata.uid"),
        phase=_str(status.get("phase"), where, "status.phase"),
        owner_kinds=owners,
        origin=where.origin,
    )


def _service(obj: Mapping[str, Any], where: _Where) -> Service:
    name, namespace, meta = _metadata(obj, where, namespaced=True)
    where.named(f"Service {namespace}/{name}")
    spec = _mapping(obj.get("spec"), where, "spec")
    selector = _string_map(spec.get("selector"), where, "spec.selector") if spec.get("selector") is not None else None
    ips = []
    for ip in [spec.get("clusterIP")] + list(_list(spec.get("clusterIPs"), where, "spec.clusterIPs")):
        if isinstance(ip, str) and ip not in ("", "None") and ip not in ips:
            ips.append(ip)
    ports = []
    for i, p in enumerate(_list(spec.get("ports"), where, "spec.ports")):
        pf = f"spec.ports[{i}]"
        p = _mapping(p, where, pf, required=True)
        number = _int(p.get("port"), where, f"{pf}.port", lo=1, hi=65535, required=True)
        target = p.get("targetPort")
        if isinstance(target, bool) or not (target is None or isinstance(target, (int, str))):
            raise where.error(f"{pf}.targetPort", f"expected a port number or name, got {target!r}")
        ports.append(
            ServicePort(
                number,
                target,
                _protocol(p.get("protocol"), where, f"{pf}.protocol"),
                _str(p.get("name"), where, f"{pf}.name"),
            )
        )
    stype = _str(spec.get("type"), where, "spec.type") or "ClusterIP"
    return Service(NamespaceName(namespace), name, selector, tuple(ips), tuple(ports), stype, where.origin)


def _policy(obj: Mapping[str, Any], where: _Where) -> NetworkPolicyObject:
    name, namespace, _ = _metadata(obj, where, namespaced=True)
    where.named(f"NetworkPolicy {namespace}/{name}")
    spec = obj.get("spec")
    try:
        compile_policy(namespace, name, spec)
    except InvalidSpec as exc:
        raise where.error(exc.field, exc.message) from None
    return NetworkPolicyObject(NamespaceName(namespace), name, _plain(spec or {}), where.origin)


def _plain(value: Any) -> Any:
    """A detached plain copy (the snapshot must not share mutable state with the caller)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _node(obj: Mapping[str, Any], where: _Where) -> Node:
    name, _, meta = _metadata(obj, where, namespaced=False)
    where.named(f"Node {name}")
    labels = _string_map(meta.get("labels"), where, "metadata.labels")
    spec = _mapping(obj.get("spec"), where, "spec")
    taints = []
    for i, t in enumerate(_list(spec.get("taints"), where, "spec.taints")):
        tf = f"spec.taints[{i}]"
        t = _mapping(t, where, tf, required=True)
        effect = _str(t.get("effect"), where, f"{tf}.effect", required=True)
        if effect not in _TAINT_EFFECTS:
            raise where.error(
                f"{tf}.effect", f"unsupported value {effect!r}: supported values: {', '.join(_TAINT_EFFECTS)}"
            )
        key = _str(t.get("key"), where, f"{tf}.key", required=True)
        taints.append(Taint(key, _str(t.get("value"), where, f"{tf}.value") or "", effect))
    status = _mapping(obj.get("status"), where, "status")
    ips, addresses = [], []  # InternalIPs (host-network pods); every IP (nodes peers of cluster policies)
    for i, a in enumerate(_list(status.get("addresses"), where, "status.addresses")):
        a = _mapping(a, where, f"status.addresses[{i}]", required=True)
        if a.get("type") in ("InternalIP", "ExternalIP"):
            address = _str(a.get("address"), where, f"status.addresses[{i}].address", required=True)
            try:
                text = str(ipaddress.ip_address(address))
            except ValueError:
                raise where.error(f"status.addresses[{i}].address", f"{address!r} is not an IP address") from None
            if a.get("type") == "InternalIP":
                ips.append(text)
            addresses.append(text)
    return Node(name, labels, tuple(taints), tuple(ips), where.origin, tuple(dict.fromkeys(addresses)))


class _Within(_Where):
    """Errors inside an object embedded in another (a workload's pod template) name the
    outer object and the whole field path: ``spec.template.spec.containers[0].name``."""

    def __init__(self, outer: _Where, prefix: str) -> None:
        super().__init__(outer.origin, outer.item)
        self.obj, self.prefix = outer.obj, prefix

    def named(self, label: str) -> None:
        """The outer object keeps its name in messages."""

    def error(self, field: str | None, message: str) -> ManifestError:
        return super().error(f"{self.prefix}.{field}" if field else self.prefix, message)


def pod_from_template(template: Any, where: _Where, field: str, *, namespace: str, name: str) -> Pod:
    """A workload's ``spec.template`` (at ``field``) as the Pod it describes, named ``name``.

    Goes through the same builder as a bare Pod, so containers, ports, security
    contexts, annotations and host networking are read and checked the same way; a
    template's own ``metadata.name`` is ignored, as the controllers ignore it."""
    t = _mapping(template, where, field, required=True)
    meta = _mapping(t.get("metadata"), where, f"{field}.metadata")
    obj = {"metadata": {**meta, "name": name, "namespace": namespace}, "spec": t.get("spec")}
    return _pod(obj, _Within(where, field))


BUILDERS: dict[str, Callable[[Mapping[str, Any], _Where], Namespace | Node | Pod | Service | NetworkPolicyObject]] = {
    "Namespace": _namespace,
    "Node": _node,
    "Pod": _pod,
    "Service": _service,
    "NetworkPolicy": _policy,
}
