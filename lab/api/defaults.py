"""Defaulting: the fields the real API server fills in before it validates and stores.

Clients read these back (``kubectl apply`` diffs against them, ``kubectl rollout status``
reads ``updateStrategy``), so the lab fills in the same values: pod specs (also inside
every workload's pod template), Services, NetworkPolicies, Namespaces and the workload
kinds (replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, a Job's generated
selector...). Pure functions over plain dicts; each mutates the object it is given (a
fresh decoded request body, never a stored object) and returns nothing.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

# Labels the Job controller's API-side defaulting puts on a Job's pod template and selector.
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"


def default_container(c: dict[str, Any], *, ephemeral: bool = False) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
    if not ephemeral:
        c.setdefault("resources", {})
        for port in c.get("ports") or ():
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        for key in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = c.get(key)
            if isinstance(probe, dict):
                _default_probe(probe)


def _default_probe(probe: dict[str, Any]) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_pod_spec(spec: Any, *, restart_policy: str = "Always") -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        spec.setdefault("serviceAccountName", spec.get("serviceAccount"))
        spec.setdefault("serviceAccount", spec.get("serviceAccountName"))
    for field_name in ("initContainers", "containers"):
        for c in spec.get(field_name) or ():
            if isinstance(c, dict):
                default_container(c)
    for c in spec.get("ephemeralContainers") or ():
        if isinstance(c, dict):
            default_container(c, ephemeral=True)


def default_pod(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    if not (spec.get("serviceAccountName") or spec.get("serviceAccount")):
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"


def default_namespace(ns: Obj) -> None:
    ns.setdefault("spec", {"finalizers": ["kubernetes"]})
    ns["status"] = {"phase": "Active"}
    keep_namespace_label(ns)


def keep_namespace_label(ns: Obj) -> None:
    meta = ns["metadata"]
    if meta.get("labels") is None:
        meta["labels"] = {}
    name = meta.get("name")
    if isinstance(meta["labels"], dict) and isinstance(name, str) and name:
        meta["labels"]["kubernetes.io/metadata.name"] = name  # a missing name: validation says so


def default_service(svc: Obj) -> None:
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    svc.setdefault("status", {"loadBalancer": {}})


def default_network_policy(np_: Obj) -> None:
    spec = np_.setdefault("spec", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or ():
            for port in rule.get("ports") or ():
                port.setdefault("protocol", "TCP")


def _template(spec: dict[str, Any], *, restart_policy: str = "Always") -> None:
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        default_pod_spec(template.setdefault("spec", {}), restart_policy=restart_policy)


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    return spec if isinstance(spec, dict) else {}


def default_deployment(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
    _template(spec)


def default_replicaset(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    _template(spec)


def default_replicationcontroller(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    _template(spec)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if not spec.get("selector") and isinstance(labels, dict):
        spec["selector"] = dict(labels)  # an RC without a selector selects its template's labels
    meta = obj.setdefault("metadata", {})
    if not meta.get("labels") and isinstance(labels, dict):
        meta["labels"] = dict(labels)


def default_statefulset(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("partition", 0)
    _template(spec)


def default_daemonset(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
    _template(spec)


def default_job_spec(spec: dict[str, Any]) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", None)
    if spec.get("manualSelector") is None:
        spec.pop("manualSelector")
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(spec, restart_policy="Never")


def default_job(obj: Obj) -> None:
    """Defaults, and the generated selector that ties a Job to its pods (needs the uid, so
    the API calls :func:`job_selector` after the store assigned one)."""
    default_job_spec(_spec(obj))


def job_selector(job: Obj) -> Obj:
    """A Job with its generated selector and template labels (what the API server adds at
    creation unless ``manualSelector``), as a new dict."""
    spec = dict(job.get("spec") or {})
    if spec.get("manualSelector"):
        return job
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    template = dict(spec.get("template") or {})
    tmeta = dict(template.get("metadata") or {})
    tmeta["labels"] = {
        **(tmeta.get("labels") or {}),
        JOB_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
        LEGACY_JOB_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
    }
    template["metadata"] = tmeta
    spec["template"] = template
    spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
    return {**job, "spec": spec}


def default_cronjob(obj: Obj) -> None:
    spec = _spec(obj)
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.setdefault("jobTemplate", {})
    if isinstance(job_template, dict):
        job_template.setdefault("metadata", {})
        job_spec = job_template.setdefault("spec", {})
        if isinstance(job_spec, dict):
            default_job_spec(job_spec)


def default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


DEFAULTERS = {
    "pods": default_pod,
    "namespaces": default_namespace,
    "services": default_service,
    "secrets": default_secret,
    "replicationcontrollers": default_replicationcontroller,
    "networkpolicies.networking.k8s.io": default_network_policy,
    "deployments.apps": default_deployment,
    "replicasets.apps": default_replicaset,
    "statefulsets.apps": default_statefulset,
    "daemonsets.apps": default_daemonset,
    "jobs.batch": default_job,
    "cronjobs.batch": default_cronjob,
}


def apply_defaults(resource: str, obj: Obj) -> Obj:
    defaulter = DEFAULTERS.get(resource)
    if defaulter is not None:
        defaulter(obj)
    return obj
