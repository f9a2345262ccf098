"""From a pod object to its intra-pod enforcement plan (pure: plain dicts in, values out).

The plan is what the init container needs (the rules, each container's UID and declared
ports) plus every reason the rules cannot be enforced as declared. The webhook denies a
pod with any problem: a rule that silently does nothing is worse than a pod that does
not start. No I/O, no clocks, no Kubernetes client.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from probe.intrapod_rules import (
    ANNOTATION as RULES_ANNOTATION,
)
from probe.intrapod_rules import (
    ContainerInfo,
    IntraPodRules,
    RulesError,
    enforceability_findings,
    parse_rules,
)
from probe.schema import PortRef, Protocol

ASSIGN_UIDS_ANNOTATION = "intrapod.kubereach.io/assign-uids"
ASSIGNED_UIDS_ANNOTATION = "intrapod.kubereach.io/assigned-uids"
INJECTED_ANNOTATION = "intrapod.kubereach.io/injected"
INIT_CONTAINER_NAME = "kubereach-intrapod"

# First UID handed out by assign-uids: above the 1000-range that base images use for
# their default users, below the 65534 "nobody", and easy to spot in `ps` output.
FIRST_ASSIGNED_UID = 10000


@dataclass(frozen=True, slots=True)
class EnforcementPlan:
    """What enforcing one pod's rules needs, or why it cannot be done.

    ``assigned`` lists the UIDs assign-uids chose (container, uid), in container order;
    ``config`` is the init container's ``--config`` document (None when there are
    problems).
    """

    pod_ref: str
    problems: tuple[str, ...]
    config: Mapping[str, Any] | None = None
    assigned: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def config_json(self) -> str:
        """The config as canonical JSON (sorted keys, no spaces): the same rules give the same text."""
        if self.config is None:
            raise ValueError("a plan with problems has no config")
        return canonical_json(self.config)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config_json)

    @property
    def assigned_annotation(self) -> str:
        """``app=10000,sidecar=10001``."""
        return ",".join(f"{name}={uid}" for name, uid in self.assigned)


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(text: str) -> str:
    """Short content hash of the init container's config, recorded in the injected annotation."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def pod_ref(pod: Mapping[str, Any], namespace: str | None = None) -> str:
    meta = pod.get("metadata") or {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<unnamed>")
    ns = namespace or meta.get("namespace") or "<namespace>"
    return f"{ns}/{name}"


def annotations_of(pod: Mapping[str, Any]) -> Mapping[str, str]:
    meta = pod.get("metadata") or {}
    return meta.get("annotations") or {}


def wants_enforcement(pod: Mapping[str, Any]) -> bool:
    return RULES_ANNOTATION in annotations_of(pod)


def wants_assigned_uids(pod: Mapping[str, Any]) -> bool:
    value = annotations_of(pod).get(ASSIGN_UIDS_ANNOTATION, "")
    return str(value).strip().lower() == "true"


def plan_uid_assignment(pod: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """Distinct UIDs from 10000 up for every container without its own ``runAsUser``.

    A pod-level ``runAsUser`` is shared by every container that does not override it,
    so it cannot tell containers apart: assign-uids gives each such container its own.
    UIDs already used anywhere in the pod (pod level, containers, init containers) are
    skipped.
    """
    spec = pod.get("spec") or {}
    used: set[int] = set()
    pod_uid = _int_or_none((spec.get("securityContext") or {}).get("runAsUser"))
    if pod_uid is not None:
        used.add(pod_uid)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            uid = _int_or_none(((c or {}).get("securityContext") or {}).get("runAsUser"))
            if uid is not None:
                used.add(uid)
    out: list[tuple[str, int]] = []
    candidate = FIRST_ASSIGNED_UID
    for c in spec.get("containers") or []:
        if not isinstance(c, Mapping):
            continue
        if (c.get("securityContext") or {}).get("runAsUser") is not None:
            continue
        while candidate in used:
            candidate += 1
        out.append((str(c.get("name")), candidate))
        used.add(candidate)
    return tuple(out)


def container_infos(
    pod: Mapping[str, Any], *, assigned: Mapping[str, int] | None = None, problems: list[str]
) -> dict[str, ContainerInfo]:
    """ContainerInfo for each regular container: effective UID, declared ports, NET_ADMIN."""
    spec = pod.get("spec") or {}
    pod_uid = _int_or_none((spec.get("securityContext") or {}).get("runAsUser"))
    infos: dict[str, ContainerInfo] = {}
    for i, c in enumerate(spec.get("containers") or []):
        where = f"spec.containers[{i}]"
        if not isinstance(c, Mapping) or not c.get("name"):
            problems.append(f"{where}: a container needs a name")
            continue
        name = str(c["name"])
        sc = c.get("securityContext") or {}
        uid = _int_or_none(sc.get("runAsUser"))
        if uid is None and assigned and name in assigned:
            uid = assigned[name]
        if uid is None:
            uid = pod_uid
        ports: list[PortRef] = []
        names: dict[str, PortRef] = {}
        for j, p in enumerate(c.get("ports") or []):
            ref = _port_ref(p, f"{where}.ports[{j}]", problems)
            if ref is None:
                continue
            if ref not in ports:
                ports.append(ref)
            if isinstance(p, Mapping) and p.get("name"):
                names[str(p["name"])] = ref
        capabilities = sc.get("capabilities")
        added = capabilities.get("add") if isinstance(capabilities, Mapping) else None
        if isinstance(added, str):  # `add: NET_ADMIN` (not a list): count it, the safe reading
            added = [added]
        caps = [str(x).upper().removeprefix("CAP_") for x in (added if isinstance(added, list) else [])]
        net_admin = "NET_ADMIN" in caps or "ALL" in caps or bool(sc.get("privileged"))
        infos[name] = ContainerInfo(name=name, uid=uid, ports=tuple(ports), port_names=names, net_admin=net_admin)
    return infos


def plan_pod(pod: Mapping[str, Any], *, namespace: str | None = None) -> EnforcementPlan | None:
    """The plan for a pod carrying the rules annotation; None for a pod without it.

    Every problem is collected (YAML, rule fields, unknown containers or ports, missing,
    root or shared UIDs, NET_ADMIN holders, host network), not just the first.
    """
    if not wants_enforcement(pod):
        return None
    ref = pod_ref(pod, namespace)
    problems: list[str] = []
    annotations = annotations_of(pod)
    data = _decode_rules(annotations[RULES_ANNOTATION], problems)
    assigned = plan_uid_assignment(pod) if wants_assigned_uids(pod) else ()
    infos = container_infos(pod, assigned=dict(assigned), problems=problems)
    if (pod.get("spec") or {}).get("hostNetwork"):
        problems.append(
            "spec.hostNetwork: the pod shares the node's network namespace; "
            "intra-pod rules would apply to the whole node"
        )
    rules: IntraPodRules | None = None
    if data is not _UNDECODABLE:
        try:
            rules = parse_rules(data, infos)
        except RulesError as exc:
            problems.extend(f"{RULES_ANNOTATION}: {p}" for p in exc.problems)
    for finding in enforceability_findings(infos.values()):
        problems.append(f"{finding.code}: {finding.message}")
    problems.extend(shared_port_problems(infos.values()))
    if problems or rules is None:
        return EnforcementPlan(ref, tuple(problems) or ("rules could not be read",), None, assigned)
    config = {
        "rules": rules_document(rules),
        "containers": [{"name": c.name, "uid": c.uid, "ports": [str(p) for p in c.ports]} for c in infos.values()],
    }
    return EnforcementPlan(ref, (), config, assigned)


def shared_port_problems(infos: Iterable[ContainerInfo]) -> list[str]:
    """A port declared by two containers: the chain sees only (UID, port), so a rule about
    one of them would also hit the other (and only one can listen anyway). The agent
    refuses such a config too, so the pod would never start."""
    owners: dict[PortRef, list[str]] = {}
    for c in infos:
        for port in c.ports:
            owners.setdefault(port, []).append(c.name)
    return [
        f"shared-port: port {port} is declared by containers {', '.join(map(repr, names))}: "
        "rules cannot tell them apart"
        for port, names in sorted(owners.items())
        if len(names) > 1
    ]


def rules_document(rules: IntraPodRules) -> dict[str, Any]:
    """The rules in canonical annotation form: named ports resolved to ``8080/TCP``.

    The init container then needs no port names, and two spellings of the same rules
    give the same config (and the same hash).
    """
    out: list[dict[str, Any]] = []
    for r in rules.rules:
        item: dict[str, Any] = {"from": r.source, "to": r.target, "action": str(r.action)}
        if r.ports is not None:
            item["ports"] = [str(p) for p in r.ports]
        out.append(item)
    return {"default": str(rules.default), "rules": out}


_UNDECODABLE = object()
# libyaml's safe loader when PyYAML was built with it: the same documents, ~10x faster
# (YAML decoding is most of an admission decision's cost).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _decode_rules(text: Any, problems: list[str]) -> Any:
    if not isinstance(text, str):
        problems.append(f"{RULES_ANNOTATION}: annotation values are strings, got {type(text).__name__}")
        return _UNDECODABLE
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        problems.append(f"{RULES_ANNOTATION}: not valid YAML: {detail}")
        return _UNDECODABLE
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        problems.append(f"{RULES_ANNOTATION}: contains values JSON cannot carry (dates, binary)")
        return _UNDECODABLE
    return data


def _port_ref(p: Any, where: str, problems: list[str]) -> PortRef | None:
    if not isinstance(p, Mapping):
        problems.append(f"{where}: expected a mapping with containerPort")
        return None
    number = p.get("containerPort")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        problems.append(f"{where}.containerPort: expected a port number 1-65535, got {number!r}")
        return None
    proto_text = str(p.get("protocol") or "TCP").upper()
    try:
        proto = Protocol(proto_text)
    except ValueError:
        problems.append(f"{where}.protocol: expected TCP, UDP or SCTP, got {proto_text!r}")
        return None
    return PortRef(number, proto)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None
