"""Object validation the API server does, so a manifest a cluster would refuse is refused here.

Owns the per-kind rules on top of the syntax checks of :mod:`orchestrator.model.names`:
which name rule each kind's ``metadata.name`` follows (``ValidateObjectMeta`` with the
kind's name function), label and annotation keys and values, container names and
``restartPolicy`` of pod specs (bare Pods and workload templates alike), Service ports
and selectors, and CronJob schedules. Label selectors are validated where they are
compiled (:func:`orchestrator.model.selectors.compile_selector`), so there is one check
per rule.

Every function returns ``None`` or a :data:`Problem`: the field path (relative to the
object, e.g. ``spec.containers[1].name``) and the message. The snapshot builder turns
it into a ManifestError naming the file, document and object. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.model.names import (
    dns1035_label_error,
    dns1123_label_error,
    dns1123_subdomain_error,
    label_value_error,
    port_name_error,
    qualified_name_error,
)

Problem = tuple[str, str]  # (field path, message)

# metadata.name rule per kind, as the API server's ValidateObjectMeta calls it
# (core/validation, apps/validation, batch/validation).
NAME_RULES: dict[str, Callable[[str], str | None]] = {
    "Namespace": dns1123_label_error,
    "Node": dns1123_subdomain_error,
    "Pod": dns1123_subdomain_error,
    "Service": dns1035_label_error,  # a Service name becomes a DNS label of the cluster domain
    "NetworkPolicy": dns1123_subdomain_error,
    "Deployment": dns1123_subdomain_error,
    "ReplicaSet": dns1123_subdomain_error,
    "DaemonSet": dns1123_subdomain_error,
    "StatefulSet": dns1123_label_error,  # its pods' names and hostnames are NAME-ORDINAL
    "ReplicationController": dns1123_subdomain_error,
    "Job": dns1123_subdomain_error,
    "CronJob": dns1123_subdomain_error,
    # custom resources (policy.networking.k8s.io): the CRD default, a DNS-1123 subdomain
    "ClusterNetworkPolicy": dns1123_subdomain_error,
    "AdminNetworkPolicy": dns1123_subdomain_error,
    "BaselineAdminNetworkPolicy": dns1123_subdomain_error,
}
# The CronJob controller names each Job NAME-<minutes since the epoch> (11 more
# characters), and a Job name must fit a 63-character label value (job-name).
CRONJOB_NAME_MAX = 52
ANNOTATIONS_MAX_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB upstream
RESTART_POLICIES = ("Always", "OnFailure", "Never")


def name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` is not a valid ``metadata.name`` for ``kind`` (None: valid or a kind without a rule)."""
    rule = NAME_RULES.get(kind)
    problem = rule(name) if rule is not None else None
    if problem is None and kind == "CronJob" and len(name) > CRONJOB_NAME_MAX:
        problem = (
            f"must be no more than {CRONJOB_NAME_MAX} characters (the CronJob controller appends "
            "11 characters to name each Job)"
        )
    return problem


def metadata_problem(kind: str, meta: Mapping[str, Any]) -> Problem | None:
    """``metadata``: the kind's name rule, the namespace (a DNS-1123 label), labels, annotations."""
    name = meta.get("name")
    if isinstance(name, str) and (problem := name_problem(kind, name)) is not None:
        return "metadata.name", problem
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace and (problem := dns1123_label_error(namespace)) is not None:
        return "metadata.namespace", problem
    return labels_problem(meta.get("labels"), "metadata.labels") or annotations_problem(
        meta.get("annotations"), "metadata.annotations"
    )


def labels_problem(labels: Any, field: str) -> Problem | None:
    """Label keys are qualified names, values valid label values (also a Service's selector map)."""
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        return field, f"expected a mapping of strings, got {type(labels).__name__}"
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            return field, f"label key {key!r} must be a non-empty string"
        if (problem := qualified_name_error(key)) is not None:
            return field, f"invalid label key {problem}"
        if not isinstance(value, str):
            return f"{field}.{key}", f"value must be a string, got {value!r} (quote it in YAML)"
        if (problem := label_value_error(value)) is not None:
            return f"{field}.{key}", f"invalid label value {problem}"
    return None


def annotations_problem(annotations: Any, field: str) -> Problem | None:
    """Annotation keys are qualified names (checked lower-cased, as upstream); at most 256 KiB in all."""
    if annotations is None:
        return None
    if not isinstance(annotations, Mapping):
        return field, f"expected a mapping of strings, got {type(annotations).__name__}"
    size = 0
    for key, value in annotations.items():
        if not isinstance(key, str) or not key:
            return field, f"annotation key {key!r} must be a non-empty string"
        if (problem := qualified_name_error(key.lower())) is not None:
            return field, f"invalid annotation key {problem}"
        if not isinstance(value, str):
            return f"{field}.{key}", f"value must be a string, got {type(value).__name__} (quote it in YAML)"
        size += len(key) + len(value)
    if size > ANNOTATIONS_MAX_BYTES:
        return field, f"may not be more than {ANNOTATIONS_MAX_BYTES} bytes in total"
    return None


def pod_spec_problem(
    spec: Mapping[str, Any], field: str, *, restart_policies: tuple[str, ...] = RESTART_POLICIES
) -> Problem | None:
    """Container names (DNS-1123 labels) and ``restartPolicy`` (one of ``restart_policies``;
    absent means ``Always``, as the API server defaults it). Types were checked by the builder."""
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(key) or ()):
            name = c.get("name") if isinstance(c, Mapping) else None
            if isinstance(name, str) and (problem := dns1123_label_error(name)) is not None:
                return f"{field}.{key}[{i}].name", problem
    policy = spec.get("restartPolicy")
    if policy is None and "Always" not in restart_policies:
        return f"{field}.restartPolicy", f"required: one of {', '.join(restart_policies)}"
    if policy is not None and policy not in restart_policies:
        return (
            f"{field}.restartPolicy",
            f"unsupported value {policy!r}: supported values: {', '.join(restart_policies)}",
        )
    return None


def service_problem(spec: Mapping[str, Any]) -> Problem | None:
    """Port names (DNS-1123 labels, unique, required when there are several), target ports
    (a number 1-65535 or an IANA_SVC_NAME), and the selector's labels."""
    ports = spec.get("ports") or []
    seen: set[str] = set()
    for i, p in enumerate(ports):
        if not isinstance(p, Mapping):
            continue  # the builder reported it
        name = p.get("name")
        if name in (None, ""):
            if len(ports) > 1:
                return f"spec.ports[{i}].name", "required when a Service has more than one port"
        elif isinstance(name, str):
            if (problem := dns1123_label_error(name)) is not None:
                return f"spec.ports[{i}].name", problem
            if name in seen:
                return f"spec.ports[{i}].name", f"duplicate port name {name!r}"
            seen.add(name)
        target = p.get("targetPort")
        if isinstance(target, str) and not target.isdigit() and (problem := port_name_error(target)) is not None:
            return f"spec.ports[{i}].targetPort", problem
        number = int(target) if isinstance(target, str) and target.isdigit() else target
        if isinstance(number, int) and not isinstance(number, bool) and not 1 <= number <= 65535:
            return f"spec.ports[{i}].targetPort", f"{number} is out of range 1-65535"
    return labels_problem(spec.get("selector"), "spec.selector")


# -- CronJob schedules (the standard five fields of robfig/cron, which the API server parses) --

_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_EVERY = re.compile(r"@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


def schedule_problem(schedule: str) -> str | None:
    """Why a CronJob ``spec.schedule`` would be refused: five fields (minute hour
    day-of-month month day-of-week), or ``@hourly`` and its kin, or ``@every 1h30m``."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "cannot use TZ or CRON_TZ in schedule: use the spec.timeZone field instead"
    if text.startswith("@"):
        if text in _DESCRIPTORS or _EVERY.fullmatch(text):
            return None
        return f"unrecognized descriptor {text[:40]!r} (expected {', '.join(_DESCRIPTORS)} or @every DURATION)"
    parts = text.split()
    if len(parts) != 5:
        return f"expected exactly 5 fields (minute hour day-of-month month day-of-week), found {len(parts)}"
    for part, (what, lo, hi, names) in zip(parts, _FIELDS, strict=True):
        if (problem := _cron_field_problem(part, lo, hi, names)) is not None:
            return f"{what} field {part[:40]!r}: {problem}"
    return None


def _cron_field_problem(part: str, lo: int, hi: int, names: Mapping[str, int]) -> str | None:
    def value(text: str) -> int | None:
        if text.isdigit():
            return int(text)
        return names.get(text.lower())

    for item in part.split(","):
        body, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            return f"step {step!r} must be a positive number"
        if body in ("*", "?"):
            continue
        start_text, dash, end_text = body.partition("-")
        start = value(start_text)
        end = value(end_text) if dash else start
        if start is None or end is None:
            return f"{body!r} is not a number{' or name' if names else ''}"
        for v in (start, end):
            if not lo <= v <= hi:
                return f"{v} is out of range {lo}-{hi}"
        if start > end:
            return f"beginning of range ({start}) beyond end of range ({end})"
    return None
