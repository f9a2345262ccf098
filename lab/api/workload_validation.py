"""Validation of the workload kinds, Nodes and endpoints, with the real API server's paths.

Deployments, ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets, Jobs and
CronJobs carry a pod template, checked with the pod rules of :mod:`lab.api.validation`
under ``spec.template.spec``; on top of that: the selector exists and matches the
template's labels, the template's ``restartPolicy`` suits the kind, counts are not
negative, strategies are known, schedules parse (:mod:`lab.cron`). On update, what the
real API server keeps immutable stays so (selectors; a Job's template).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lab import cron
from lab.api import validation as v
from lab.api.errors import Cause
from lab.api.selectors import match_label_selector

_PERCENT = re.compile(r"^[0-9]+%$")
# A workload asking for more pods than this is refused: the lab's nodes hold a few
# thousand pods each, and a manifest someone else wrote must not make the lab create a
# million pod objects (the real API server has no such limit; its cluster has more room).
MAX_WORKLOAD_PODS = 10_000


def _template_causes(
    spec: Mapping[str, Any], path: str, restart_policies: tuple[str, ...], *, claims: tuple[str, ...] = ()
) -> list[Cause]:
    """The pod template; ``claims`` are volumes the controller adds to each pod (a
    StatefulSet's volumeClaimTemplates), so the containers may mount them."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [v._required(f"{path}.template")]
    tmeta = template.get("metadata") or {}
    causes = v.labels_causes(tmeta.get("labels"), f"{path}.template.metadata.labels")
    pod_spec = template.get("spec")
    if claims and isinstance(pod_spec, dict):
        volumes = list(pod_spec.get("volumes") or [])
        volumes += [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
        pod_spec = {**pod_spec, "volumes": volumes}
    causes += v.pod_spec_causes(pod_spec, f"{path}.template.spec")
    policy = (pod_spec or {}).get("restartPolicy") if isinstance(pod_spec, dict) else None
    if policy not in restart_policies:
        if restart_policies == ("Always",):
            causes.append(v._unsupported(f"{path}.template.spec.restartPolicy", policy, restart_policies))
        else:
            valid = ", ".join(f'"{p}"' for p in restart_policies)
            causes.append(v._required(f"{path}.template.spec.restartPolicy", f"valid values: {valid}"))
    deadline = pod_spec.get("activeDeadlineSeconds") if isinstance(pod_spec, dict) else None
    if deadline is not None and restart_policies == ("Always",):
        causes.append(
            v._forbidden(
                f"{path}.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"
            )
        )
    return causes


def _selector_causes(spec: Mapping[str, Any], path: str, kind: str, *, required: bool = True) -> list[Cause]:
    selector = spec.get("selector")
    if selector is None:
        return [v._required(f"{path}.selector")] if required else []
    causes = v.selector_causes(selector, f"{path}.selector")
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(v._invalid(f"{path}.selector", selector, f"empty selector is invalid for {kind}"))
        return causes
    labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
    if not causes and not match_label_selector(selector, labels):
        causes.append(
            v._invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    return causes


def _non_negative(spec: Mapping[str, Any], key: str, path: str) -> list[Cause]:
    value = spec.get(key)
    if value is not None and value < 0:
        return [v._invalid(f"{path}.{key}", value, "must be greater than or equal to 0")]
    if value is not None and key in ("replicas", "parallelism", "completions") and value > MAX_WORKLOAD_PODS:
        return [
            v._invalid(f"{path}.{key}", value, f"the kubereach lab runs at most {MAX_WORKLOAD_PODS} pods a workload")
        ]
    return []


def _int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [] if value >= 0 else [v._invalid(path, value, "must be greater than or equal to 0")]
    if isinstance(value, str) and _PERCENT.match(value):
        return []
    return [v._invalid(path, value, "a valid percent string must be a numeric string followed by an ending '%'")]


def _is_zero(value: Any) -> bool:
    return value in (0, "0%")


def _meta(obj: Mapping[str, Any]) -> list[Cause]:
    return v.metadata_causes(obj.get("metadata"), namespaced=True, name_style="subdomain")


def _spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else None


def deployment_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    causes += _non_negative(spec, "replicas", "spec") + _non_negative(spec, "revisionHistoryLimit", "spec")
    causes += _selector_causes(spec, "spec", "deployment") + _template_causes(spec, "spec", ("Always",))
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "Recreate"):
        causes.append(v._unsupported("spec.strategy.type", kind, ("Recreate", "RollingUpdate")))
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        causes.append(
            v._forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        )
    if kind == "RollingUpdate" and isinstance(rolling, dict):
        surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
        causes += _int_or_percent(surge, "spec.strategy.rollingUpdate.maxSurge")
        causes += _int_or_percent(unavailable, "spec.strategy.rollingUpdate.maxUnavailable")
        if _is_zero(surge) and _is_zero(unavailable):
            causes.append(
                v._invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"
                )
            )
    return causes


def replicaset_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    causes += _non_negative(spec, "replicas", "spec")
    return causes + _selector_causes(spec, "spec", "replicaset") + _template_causes(spec, "spec", ("Always",))


def replicationcontroller_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    causes += _non_negative(spec, "replicas", "spec")
    selector = spec.get("selector") or {}
    causes += v.labels_causes(selector, "spec.selector")
    if not selector:
        causes.append(v._required("spec.selector"))
    labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
    if selector and any(labels.get(k) != val for k, val in selector.items()):
        causes.append(
            v._invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    return causes + _template_causes(spec, "spec", ("Always",))


def statefulset_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    causes += _non_negative(spec, "replicas", "spec")
    claims = tuple(str((c.get("metadata") or {}).get("name") or "") for c in spec.get("volumeClaimTemplates") or ())
    for i, name in enumerate(claims):
        causes += v.name_causes(name, f"spec.volumeClaimTemplates[{i}].metadata.name", "label")
    causes += _selector_causes(spec, "spec", "statefulset")
    causes += _template_causes(spec, "spec", ("Always",), claims=claims)
    policy = spec.get("podManagementPolicy", "OrderedReady")
    if policy not in ("OrderedReady", "Parallel"):
        causes.append(v._unsupported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel")))
    kind = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "OnDelete"):
        causes.append(v._unsupported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")))
    partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
    if partition is not None and partition < 0:
        causes.append(
            v._invalid("spec.updateStrategy.rollingUpdate.partition", partition, "must be greater than or equal to 0")
        )
    return causes


def daemonset_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    causes += _selector_causes(spec, "spec", "daemonset") + _template_causes(spec, "spec", ("Always",))
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "OnDelete"):
        causes.append(v._unsupported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")))
    rolling = strategy.get("rollingUpdate") or {}
    for key in ("maxUnavailable", "maxSurge"):
        if key in rolling:
            causes += _int_or_percent(rolling[key], f"spec.updateStrategy.rollingUpdate.{key}")
    return causes


def _job_spec_causes(spec: Mapping[str, Any], path: str, *, selector_required: bool) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        causes += _non_negative(spec, key, path)
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        causes.append(v._unsupported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    if mode == "Indexed" and spec.get("completions") is None:
        causes.append(v._required(f"{path}.completions", "when completion mode is Indexed"))
    if selector_required:
        causes += _selector_causes(spec, path, "job")
    return causes + _template_causes(spec, path, ("OnFailure", "Never"))


def job_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    # the generated selector is added once the Job has a uid (after this check)
    return causes + _job_spec_causes(spec, "spec", selector_required=bool(spec.get("manualSelector")))


def cronjob_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    name = (obj.get("metadata") or {}).get("name") or ""
    if isinstance(name, str) and len(name) > 52:
        causes.append(v._invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = _spec_of(obj)
    if spec is None:
        return causes + [v._required("spec")]
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(v._required("spec.schedule"))
    else:
        try:
            cron.parse(schedule)
        except cron.CronError as exc:
            causes.append(v._invalid("spec.schedule", schedule[:100], str(exc)))
    if spec.get("timeZone") is not None:
        try:
            cron.zone(spec["timeZone"])
        except cron.CronError as exc:
            causes.append(v._invalid("spec.timeZone", spec["timeZone"][:100], str(exc)))
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ("Allow", "Forbid", "Replace"):
        causes.append(v._unsupported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace")))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += _non_negative(spec, key, "spec")
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if not isinstance(job_spec, dict):
        return causes + [v._required("spec.jobTemplate.spec")]
    return causes + _job_spec_causes(job_spec, "spec.jobTemplate.spec", selector_required=False)


def node_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return v.metadata_causes(obj.get("metadata"), namespaced=False, name_style="subdomain")


def endpointslice_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    kind = obj.get("addressType")
    if kind not in ("IPv4", "IPv6", "FQDN"):
        causes.append(v._unsupported("addressType", kind, ("FQDN", "IPv4", "IPv6")))
    for i, endpoint in enumerate(obj.get("endpoints") or ()):
        if not endpoint.get("addresses"):
            causes.append(v._required(f"endpoints[{i}].addresses"))
    for i, port in enumerate(obj.get("ports") or ()):
        if port.get("protocol", "TCP") not in v.PROTOCOLS:
            causes.append(v._unsupported(f"ports[{i}].protocol", port.get("protocol"), v.PROTOCOLS))
    return causes


def secret_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = v.configmap_causes({"metadata": obj.get("metadata"), "data": obj.get("data")})
    for key in obj.get("stringData") or {}:
        if not v.CONFIG_KEY.match(key):
            causes.append(v._invalid(f"stringData[{key}]", key, "a valid config key must consist of alphanumerics"))
    return causes


def controllerrevision_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _meta(obj)
    if obj.get("revision") is None:
        causes.append(v._required("revision"))
    return causes


# -- updates ------------------------------------------------------------------------------
def _immutable(path: str, value: Any) -> Cause:
    return v._invalid(path, value, "field is immutable")


def update_causes(resource: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Cause]:
    """What the real API server refuses to change on an update of a workload."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    causes: list[Cause] = []
    keeps_selector = ("deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch")
    if resource in keeps_selector and old_spec.get("selector") != new_spec.get("selector"):
        causes.append(_immutable("spec.selector", new_spec.get("selector")))
    if (
        resource == "jobs.batch"
        and old_spec.get("template") != new_spec.get("template")
        and not old_spec.get("suspend")
    ):
        causes.append(_immutable("spec.template", "..."))
    if resource == "jobs.batch" and old_spec.get("completions") != new_spec.get("completions"):
        causes.append(_immutable("spec.completions", new_spec.get("completions")))
    if resource == "statefulsets.apps":
        mutable = (
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        )
        if {k: val for k, val in old_spec.items() if k not in mutable} != {
            k: val for k, val in new_spec.items() if k not in mutable
        }:
            causes.append(
                v._forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                )
            )
    return causes


VALIDATORS = {
    "secrets": secret_causes,
    "nodes": node_causes,
    "endpoints": v.plain_namespaced_causes,
    "replicationcontrollers": replicationcontroller_causes,
    "deployments.apps": deployment_causes,
    "replicasets.apps": replicaset_causes,
    "statefulsets.apps": statefulset_causes,
    "daemonsets.apps": daemonset_causes,
    "controllerrevisions.apps": controllerrevision_causes,
    "jobs.batch": job_causes,
    "cronjobs.batch": cronjob_causes,
    "endpointslices.discovery.k8s.io": endpointslice_causes,
}
