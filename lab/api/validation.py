"""Validation of what the lab stores, with the real API server's field paths and wording.

Runs after :func:`lab.api.schema.decode`, so types are already right; this checks
values: names, labels, ports, protocols, uniqueness, policy structure, and what the lab
refuses because it cannot emulate it (hostNetwork, hostPort, volumes other than
emptyDir and downwardAPI). Every function returns a list of :class:`Cause` (empty = valid).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from lab.api.errors import Cause

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
PROTOCOLS = ("TCP", "UDP", "SCTP")
ANNOTATIONS_MAX = 256 * 1024

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
    "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
    "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _invalid(path: str, value: Any, msg: str) -> Cause:
    return Cause(path, f"Invalid value: {_quote(value)}: {msg}", "FieldValueInvalid")


def _required(path: str, msg: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {msg}" if msg else ""), "FieldValueRequired")


def _forbidden(path: str, msg: str) -> Cause:
    return Cause(path, f"Forbidden: {msg}", "FieldValueForbidden")


def _unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    choices = ", ".join(f'"{a}"' for a in allowed)
    return Cause(path, f"Unsupported value: {_quote(value)}: supported values: {choices}", "FieldValueNotSupported")


def _duplicate(path: str, value: Any) -> Cause:
    return Cause(path, f"Duplicate value: {_quote(value)}", "FieldValueDuplicate")


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


# -- names, labels, annotations -------------------------------------------------------------
def name_causes(name: Any, path: str, style: str) -> list[Cause]:
    if not isinstance(name, str) or not name:
        return [_required(path, "name or generateName is required")]
    if style == "label":
        if len(name) > 63:
            return [_invalid(path, name, "must be no more than 63 characters")]
        if not DNS1123_LABEL.match(name):
            return [_invalid(path, name, DNS1123_LABEL_MSG)]
    elif style == "dns1035":
        if len(name) > 63:
            return [_invalid(path, name, "must be no more than 63 characters")]
        if not DNS1035_LABEL.match(name):
            return [_invalid(path, name, DNS1035_LABEL_MSG)]
    else:
        if len(name) > 253:
            return [_invalid(path, name, "must be no more than 253 characters")]
        if not DNS1123_SUBDOMAIN.match(name):
            return [_invalid(path, name, DNS1123_SUBDOMAIN_MSG)]
    return []


def qualified_name_causes(key: str, path: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    causes = []
    if "/" in key and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        causes.append(_invalid(path, key, "prefix part " + DNS1123_SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        causes.append(
            _invalid(
                path,
                key,
                "name part must consist of alphanumeric characters, '-', '_' "
                "or '.', and must start and end with an alphanumeric character "
                "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), "
                "and be no more than 63 characters",
            )
        )
    return causes


def labels_causes(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (labels or {}).items():
        causes += qualified_name_causes(key, path)
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append(
                _invalid(
                    f"{path}",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    "'12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), "
                    "and be no more than 63 characters",
                )
            )
    return causes


def metadata_causes(meta: Any, *, namespaced: bool, name_style: str) -> list[Cause]:
    if not isinstance(meta, dict):
        return [_required("metadata")]
    causes = name_causes(meta.get("name"), "metadata.name", name_style)
    causes += labels_causes(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += qualified_name_causes(key, "metadata.annotations")
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > ANNOTATIONS_MAX:
        causes.append(Cause("metadata.annotations", "Too long: must have at most 262144 bytes", "FieldValueTooLong"))
    for i, ref in enumerate(meta.get("ownerReferences") or ()):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                causes.append(_required(f"metadata.ownerReferences[{i}].{key}"))
    if not namespaced and meta.get("namespace"):
        causes.append(_invalid("metadata.namespace", meta["namespace"], "not allowed on this type"))
    return causes


def selector_causes(selector: Any, path: str) -> list[Cause]:
    """A metav1.LabelSelector (matchLabels + matchExpressions)."""
    if selector is None:
        return []
    causes = labels_causes(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or ()):
        p = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator"), expr.get("values") or []
        if not expr.get("key"):
            causes.append(_required(f"{p}.key"))
        else:
            causes += qualified_name_causes(expr["key"], f"{p}.key")
        if op in ("In", "NotIn"):
            if not values:
                causes.append(_required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                causes.append(
                    _forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            causes.append(_unsupported(f"{p}.operator", op, ("In", "NotIn", "Exists", "DoesNotExist")))
    return causes


# -- pods ----------------------------------------------------------------------------------
# Volumes the lab accepts: it mounts nothing (a listener container reads no files), but
# real applications declare these everywhere and must apply unchanged. Volumes that
# would reach into the machine (hostPath) or need storage the lab does not have stay
# refused, with the field named.
ALLOWED_VOLUMES = ("emptyDir", "configMap", "secret", "projected", "downwardAPI", "persistentVolumeClaim")
# What a downwardAPI volume may project (the API server's list for volumes; status.* and
# spec.* are for environment variables only).
DOWNWARD_FIELDS = ("metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations")
DOWNWARD_KEYED = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def downward_api_causes(source: Any, path: str) -> list[Cause]:
    """``downwardAPI.items``: relative paths without ``..``, and field paths a volume may project."""
    if not isinstance(source, Mapping):
        return [_required(path)]
    causes: list[Cause] = []
    mode = source.get("defaultMode")
    if mode is not None and not 0 <= mode <= 0o777:
        causes.append(
            _invalid(f"{path}.defaultMode", mode, "must be a number between 0 and 0777 (octal), both inclusive")
        )
    seen: set[str] = set()
    for i, item in enumerate(source.get("items") or ()):
        ipath = f"{path}.items[{i}]"
        rel = item.get("path") if isinstance(item, Mapping) else None
        if not rel:
            causes.append(_required(f"{ipath}.path"))
        elif rel.startswith("/") or ".." in rel.split("/"):
            causes.append(_invalid(f"{ipath}.path", rel, "must be a relative path without '..'"))
        elif rel in seen:
            causes.append(_duplicate(f"{ipath}.path", rel))
        else:
            seen.add(rel)
        field = (item.get("fieldRef") or {}).get("fieldPath") if isinstance(item, Mapping) else None
        if isinstance(item, Mapping) and item.get("resourceFieldRef"):
            causes.append(_forbidden(f"{ipath}.resourceFieldRef", "the kubereach lab cannot project resource fields"))
        elif not field:
            causes.append(_required(f"{ipath}.fieldRef.fieldPath"))
        elif field not in DOWNWARD_FIELDS and not DOWNWARD_KEYED.match(field):
            causes.append(_unsupported(f"{ipath}.fieldRef.fieldPath", field, DOWNWARD_FIELDS))
    return causes


def _port_causes(port: Mapping[str, Any], path: str, seen: set[str]) -> list[Cause]:
    causes = []
    number = port.get("containerPort")
    if number is None:
        causes.append(_required(f"{path}.containerPort"))
    elif not 1 <= number <= 65535:
        causes.append(_invalid(f"{path}.containerPort", number, "must be between 1 and 65535, inclusive"))
    protocol = port.get("protocol", "TCP")
    if protocol not in PROTOCOLS:
        causes.append(_unsupported(f"{path}.protocol", protocol, PROTOCOLS))
    if port.get("hostPort"):
        causes.append(_forbidden(f"{path}.hostPort", "the kubereach lab cannot emulate host ports"))
    if port.get("hostIP"):
        causes.append(_forbidden(f"{path}.hostIP", "the kubereach lab cannot emulate host ports"))
    if (name := port.get("name")) is not None:
        if len(name) > 15 or not IANA_SVC_NAME.match(name) or "--" in name or not re.search("[a-z]", name):
            causes.append(
                _invalid(
                    f"{path}.name",
                    name,
                    "must be no more than 15 characters, contain only "
                    "lowercase alphanumeric characters or '-', contain at least one letter, "
                    "and not start or end with '-' or contain '--'",
                )
            )
        elif name in seen:
            causes.append(_duplicate(f"{path}.name", name))
        seen.add(name)
    return causes


def container_causes(
    container: Mapping[str, Any],
    path: str,
    names: set[str],
    *,
    ephemeral: bool = False,
    volume_names: AbstractSet[str] = frozenset(),
) -> list[Cause]:
    causes = []
    name = container.get("name")
    if not name:
        causes.append(_required(f"{path}.name"))
    else:
        causes += name_causes(name, f"{path}.name", "label")
        if name in names:
            causes.append(_duplicate(f"{path}.name", name))
        names.add(name)
    if not container.get("image"):
        causes.append(_required(f"{path}.image"))
    if ephemeral:
        for forbidden in ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if container.get(forbidden):
                causes.append(_forbidden(f"{path}.{forbidden}", "cannot be set for an Ephemeral Container"))
    else:
        seen: set[str] = set()
        for i, port in enumerate(container.get("ports") or ()):
            causes += _port_causes(port, f"{path}.ports[{i}]", seen)
    for i, mount in enumerate(container.get("volumeMounts") or ()):
        if mount.get("name") not in volume_names:
            causes.append(
                Cause(f"{path}.volumeMounts[{i}].name", f'Not found: "{mount.get("name")}"', "FieldValueNotFound")
            )
        if not mount.get("mountPath"):
            causes.append(_required(f"{path}.volumeMounts[{i}].mountPath"))
    sc = container.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup"):
        if key in sc and sc[key] < 0:
            causes.append(
                _invalid(f"{path}.securityContext.{key}", sc[key], "must be between 0 and 2147483647, inclusive")
            )
    if sc.get("privileged"):
        causes.append(
            _forbidden(f"{path}.securityContext.privileged", "the kubereach lab does not run privileged containers")
        )
    return causes


def pod_spec_causes(spec: Any, path: str = "spec") -> list[Cause]:
    if not isinstance(spec, dict):
        return [_required(path)]
    causes: list[Cause] = []
    if spec.get("hostNetwork"):
        causes.append(_forbidden(f"{path}.hostNetwork", "the kubereach lab cannot emulate host-network pods"))
    for key in ("hostPID", "hostIPC"):
        if spec.get(key):
            causes.append(_forbidden(f"{path}.{key}", "the kubereach lab cannot emulate host namespaces"))
    volume_names: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or ()):
        vpath = f"{path}.volumes[{i}]"
        vname = volume.get("name")
        causes += name_causes(vname, f"{vpath}.name", "label")
        if vname in volume_names:
            causes.append(_duplicate(f"{vpath}.name", vname))
        volume_names.add(vname)
        sources = [k for k in volume if k != "name"]
        for source in sources:
            if source not in ALLOWED_VOLUMES:
                causes.append(
                    _forbidden(
                        f"{vpath}.{source}",
                        f"the kubereach lab does not provide {source} volumes "
                        f"(it accepts {', '.join(ALLOWED_VOLUMES)})",
                    )
                )
            elif source == "downwardAPI":
                causes += downward_api_causes(volume[source], f"{vpath}.downwardAPI")
    containers = spec.get("containers")
    if not containers:
        causes.append(_required(f"{path}.containers"))
    names: set[str] = set()
    for field_name in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field_name) or ()):
            causes += container_causes(c, f"{path}.{field_name}[{i}]", names, volume_names=volume_names)
            # only a native sidecar (an init container) may carry a restartPolicy, and only Always
            if "restartPolicy" in c and c["restartPolicy"] is not None:
                where = f"{path}.{field_name}[{i}].restartPolicy"
                if field_name == "containers":
                    causes.append(_forbidden(where, "may not be set for non-init containers"))
                elif c["restartPolicy"] != "Always":
                    causes.append(_unsupported(where, c["restartPolicy"], ("Always",)))
    for i, c in enumerate(spec.get("ephemeralContainers") or ()):
        causes += container_causes(
            c, f"{path}.ephemeralContainers[{i}]", names, ephemeral=True, volume_names=volume_names
        )
    policy = spec.get("restartPolicy", "Always")
    if policy not in ("Always", "OnFailure", "Never"):
        causes.append(_unsupported(f"{path}.restartPolicy", policy, ("Always", "OnFailure", "Never")))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline <= 0:
        causes.append(
            _invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
        )
    sc = spec.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if key in sc and sc[key] < 0:
            causes.append(
                _invalid(f"{path}.securityContext.{key}", sc[key], "must be between 0 and 2147483647, inclusive")
            )
    return causes


def pod_causes(pod: Mapping[str, Any]) -> list[Cause]:
    return metadata_causes(pod.get("metadata"), namespaced=True, name_style="subdomain") + pod_spec_causes(
        pod.get("spec")
    )


POD_UPDATE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def pod_update_causes(old_spec: Mapping[str, Any], new_spec: Mapping[str, Any]) -> list[Cause]:
    """The real API's pod update rule: only images, activeDeadlineSeconds, tolerations may change."""
    causes = []
    old_deadline, new_deadline = old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds")
    if old_deadline is not None and (new_deadline is None or new_deadline > old_deadline):
        causes.append(
            _invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value")
        )

    def masked(spec: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations")}
        for field_name in ("containers", "initContainers"):
            out[field_name] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(field_name) or ()]
        return out

    old_tol = old_spec.get("tolerations") or []
    new_tol = new_spec.get("tolerations") or []
    if masked(old_spec) != masked(new_spec) or any(t not in new_tol for t in old_tol):
        causes.append(_forbidden("spec", POD_UPDATE_MSG))
    return causes


def ephemeral_update_causes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Cause]:
    """Ephemeral containers can be added, never changed or removed."""
    causes = []
    new_by_name = {c.get("name"): c for c in new}
    for i, container in enumerate(old):
        name = container.get("name")
        if name not in new_by_name:
            causes.append(
                _forbidden("spec.ephemeralContainers", f'existing ephemeral containers "{name}" may not be removed')
            )
        elif new_by_name[name] != container:
            causes.append(
                _forbidden(f"spec.ephemeralContainers[{i}]", "existing ephemeral containers may not be changed")
            )
    return causes


# -- other kinds -----------------------------------------------------------------------------
def namespace_causes(ns: Mapping[str, Any]) -> list[Cause]:
    return metadata_causes(ns.get("metadata"), namespaced=False, name_style="label")


def configmap_causes(cm: Mapping[str, Any]) -> list[Cause]:
    causes = metadata_causes(cm.get("metadata"), namespaced=True, name_style="subdomain")
    for field_name in ("data", "binaryData"):
        for key in cm.get(field_name) or {}:
            if not CONFIG_KEY.match(key) or len(key) > 253:
                causes.append(
                    _invalid(
                        f"{field_name}[{key}]",
                        key,
                        "a valid config key must consist of "
                        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                        "'KEY_NAME',  or 'key-name', regex used for validation is "
                        "'[-._a-zA-Z0-9]+')",
                    )
                )
    return causes


def plain_namespaced_causes(sa: Mapping[str, Any]) -> list[Cause]:
    return metadata_causes(sa.get("metadata"), namespaced=True, name_style="subdomain")


def _int_or_name(value: Any, path: str) -> list[Cause]:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return [_invalid(path, value, "must be an integer or a port name")]
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            return [_invalid(path, value, "must be between 1 and 65535, inclusive")]
    elif not value or len(value) > 15 or not IANA_SVC_NAME.match(value) or not re.search("[a-z]", value):
        return [
            _invalid(
                path,
                value,
                "must contain only lowercase alphanumeric characters or '-', "
                "at least one letter, and be no more than 15 characters",
            )
        ]
    return []


def service_causes(svc: Mapping[str, Any]) -> list[Cause]:
    causes = metadata_causes(svc.get("metadata"), namespaced=True, name_style="dns1035")
    spec = svc.get("spec") or {}
    svc_type = spec.get("type", "ClusterIP")
    types = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
    if svc_type not in types:
        causes.append(_unsupported("spec.type", svc_type, types))
    ports = spec.get("ports") or []
    if not ports and svc_type != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(_required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        if len(ports) > 1 and not port.get("name"):
            causes.append(_required(f"{p}.name"))
        if port.get("name"):
            if port["name"] in names:
                causes.append(_duplicate(f"{p}.name", port["name"]))
            names.add(port["name"])
        if port.get("port") is None:
            causes.append(_required(f"{p}.port"))
        elif not 1 <= port["port"] <= 65535:
            causes.append(_invalid(f"{p}.port", port["port"], "must be between 1 and 65535, inclusive"))
        if port.get("protocol", "TCP") not in PROTOCOLS:
            causes.append(_unsupported(f"{p}.protocol", port.get("protocol"), PROTOCOLS))
        if port.get("targetPort") is not None:
            causes += _int_or_name(port["targetPort"], f"{p}.targetPort")
    causes += labels_causes(spec.get("selector"), "spec.selector")
    return causes


def _cidr_causes(block: Mapping[str, Any], path: str) -> list[Cause]:
    cidr = block.get("cidr")
    if not cidr:
        return [_required(f"{path}.cidr")]
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return [_invalid(f"{path}.cidr", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    causes = []
    for i, exc in enumerate(block.get("except") or ()):
        try:
            sub = ipaddress.ip_network(exc, strict=False)
        except ValueError:
            causes.append(_invalid(f"{path}.except[{i}]", exc, "must be a valid CIDR value"))
            continue
        if sub.version != net.version or not sub.subnet_of(net):  # type: ignore[arg-type]
            causes.append(_invalid(f"{path}.except[{i}]", exc, "must be a strict subset of `cidr`"))
    return causes


def networkpolicy_causes(np_: Mapping[str, Any]) -> list[Cause]:
    causes = metadata_causes(np_.get("metadata"), namespaced=True, name_style="subdomain")
    spec = np_.get("spec")
    if not isinstance(spec, dict):
        return causes + [_required("spec")]
    if "podSelector" not in spec:
        causes.append(_required("spec.podSelector"))
    causes += selector_causes(spec.get("podSelector"), "spec.podSelector")
    for i, t in enumerate(spec.get("policyTypes") or ()):
        if t not in ("Ingress", "Egress"):
            causes.append(_unsupported(f"spec.policyTypes[{i}]", t, ("Ingress", "Egress")))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or ()):
            rpath = f"spec.{direction}[{i}]"
            for j, port in enumerate(rule.get("ports") or ()):
                ppath = f"{rpath}.ports[{j}]"
                if port.get("protocol", "TCP") not in PROTOCOLS:
                    causes.append(_unsupported(f"{ppath}.protocol", port.get("protocol"), PROTOCOLS))
                if port.get("port") is not None:
                    causes += _int_or_name(port["port"], f"{ppath}.port")
                end = port.get("endPort")
                if end is not None:
                    if not isinstance(port.get("port"), int):
                        causes.append(_required(f"{ppath}.port", "must be a numeric port when endPort is set"))
                    elif not port["port"] <= end <= 65535:
                        causes.append(_invalid(f"{ppath}.endPort", end, "must be greater than or equal to `port`"))
            for j, peer in enumerate(rule.get(peers_key) or ()):
                ppath = f"{rpath}.{peers_key}[{j}]"
                present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
                if not present:
                    causes.append(_required(ppath, "must specify a peer"))
                if "ipBlock" in present and len(present) > 1:
                    causes.append(_forbidden(ppath, "may not specify both ipBlock and another peer"))
                causes += selector_causes(peer.get("podSelector"), f"{ppath}.podSelector")
                causes += selector_causes(peer.get("namespaceSelector"), f"{ppath}.namespaceSelector")
                if peer.get("ipBlock") is not None:
                    causes += _cidr_causes(peer["ipBlock"], f"{ppath}.ipBlock")
    return causes


def webhook_configuration_causes(cfg: Mapping[str, Any]) -> list[Cause]:
    causes = metadata_causes(cfg.get("metadata"), namespaced=False, name_style="subdomain")
    names: set[str] = set()
    for i, hook in enumerate(cfg.get("webhooks") or ()):
        p = f"webhooks[{i}]"
        name = hook.get("name")
        if not name:
            causes.append(_required(f"{p}.name"))
        elif name in names:
            causes.append(_duplicate(f"{p}.name", name))
        else:
            names.add(name)
            if "." not in name or not DNS1123_SUBDOMAIN.match(name):
                causes.append(
                    _invalid(f"{p}.name", name, "should be a domain with at least three segments separated by dots")
                )
        client = hook.get("clientConfig") or {}
        if bool(client.get("url")) == bool(client.get("service")):
            causes.append(_required(f"{p}.clientConfig", "exactly one of url or service is required"))
        if not hook.get("admissionReviewVersions"):
            causes.append(_required(f"{p}.admissionReviewVersions"))
        if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            causes.append(_unsupported(f"{p}.sideEffects", hook.get("sideEffects"), ("None", "NoneOnDryRun")))
        if hook.get("failurePolicy", "Fail") not in ("Ignore", "Fail"):
            causes.append(_unsupported(f"{p}.failurePolicy", hook.get("failurePolicy"), ("Ignore", "Fail")))
        causes += selector_causes(hook.get("namespaceSelector"), f"{p}.namespaceSelector")
        causes += selector_causes(hook.get("objectSelector"), f"{p}.objectSelector")
    return causes


VALIDATORS = {
    "namespaces": namespace_causes,
    "pods": pod_causes,
    "services": service_causes,
    "configmaps": configmap_causes,
    "serviceaccounts": plain_namespaced_causes,
    "events": plain_namespaced_causes,
    "networkpolicies.networking.k8s.io": networkpolicy_causes,
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": webhook_configuration_causes,
    "validatingwebhookconfigurations.admissionregistration.k8s.io": webhook_configuration_causes,
}
