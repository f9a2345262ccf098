"""The resource types the lab serves: one table drives routing, discovery and OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    model: str  # the kubernetes client model class, e.g. "V1Pod"
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The store key: ``pods``, ``networkpolicies.networking.k8s.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_model(self) -> str:
        return self.model + "List"


NAMESPACES = ResourceType(
    "",
    "v1",
    "Namespace",
    "namespaces",
    False,
    "V1Namespace",
    ("ns",),
    ("create", "delete", "get", "list", "patch", "update", "watch"),
)
PODS = ResourceType("", "v1", "Pod", "pods", True, "V1Pod", ("po",), categories=("all",))
SERVICES = ResourceType(
    "",
    "v1",
    "Service",
    "services",
    True,
    "V1Service",
    ("svc",),
    ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    categories=("all",),
)
CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps", True, "V1ConfigMap", ("cm",))
EVENTS = ResourceType("", "v1", "Event", "events", True, "CoreV1Event", ("ev",))
SERVICEACCOUNTS = ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, "V1ServiceAccount", ("sa",))
NETWORKPOLICIES = ResourceType(
    "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "V1NetworkPolicy", ("netpol",)
)
MUTATING_WEBHOOKS = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations",
    False,
    "V1MutatingWebhookConfiguration",
    categories=("api-extensions",),
)
VALIDATING_WEBHOOKS = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    False,
    "V1ValidatingWebhookConfiguration",
    categories=("api-extensions",),
)

SECRETS = ResourceType("", "v1", "Secret", "secrets", True, "V1Secret")
NODES = ResourceType("", "v1", "Node", "nodes", False, "V1Node", ("no",), ("get", "list", "patch", "update", "watch"))
ENDPOINTS = ResourceType("", "v1", "Endpoints", "endpoints", True, "V1Endpoints", ("ep",))
REPLICATIONCONTROLLERS = ResourceType(
    "",
    "v1",
    "ReplicationController",
    "replicationcontrollers",
    True,
    "V1ReplicationController",
    ("rc",),
    categories=("all",),
)
DEPLOYMENTS = ResourceType(
    "apps", "v1", "Deployment", "deployments", True, "V1Deployment", ("deploy",), categories=("all",)
)
REPLICASETS = ResourceType(
    "apps", "v1", "ReplicaSet", "replicasets", True, "V1ReplicaSet", ("rs",), categories=("all",)
)
STATEFULSETS = ResourceType(
    "apps", "v1", "StatefulSet", "statefulsets", True, "V1StatefulSet", ("sts",), categories=("all",)
)
DAEMONSETS = ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, "V1DaemonSet", ("ds",), categories=("all",))
CONTROLLERREVISIONS = ResourceType(
    "apps", "v1", "ControllerRevision", "controllerrevisions", True, "V1ControllerRevision"
)
JOBS = ResourceType("batch", "v1", "Job", "jobs", True, "V1Job", categories=("all",))
CRONJOBS = ResourceType("batch", "v1", "CronJob", "cronjobs", True, "V1CronJob", ("cj",), categories=("all",))
ENDPOINTSLICES = ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, "V1EndpointSlice")

RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    ENDPOINTS,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    EVENTS,
    REPLICATIONCONTROLLERS,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    CONTROLLERREVISIONS,
    JOBS,
    CRONJOBS,
    ENDPOINTSLICES,
    NETWORKPOLICIES,
    MUTATING_WEBHOOKS,
    VALIDATING_WEBHOOKS,
)
# Workloads first: deleting a namespace removes its controllers before their pods, so no
# controller recreates what the namespace deletion just removed.
DELETION_ORDER: tuple[ResourceType, ...] = (
    CRONJOBS,
    JOBS,
    DEPLOYMENTS,
    STATEFULSETS,
    DAEMONSETS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
) + tuple(
    r
    for r in RESOURCES
    if r not in (CRONJOBS, JOBS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, REPLICASETS, REPLICATIONCONTROLLERS)
)

# (group, version) -> {plural: ResourceType}
BY_GROUP_VERSION: dict[tuple[str, str], dict[str, ResourceType]] = {}
for _r in RESOURCES:
    BY_GROUP_VERSION.setdefault((_r.group, _r.version), {})[_r.plural] = _r
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}

_STATUS = (("get", "patch", "update"), "")
_SCALE = (("get", "patch", "update"), "autoscaling/v1/Scale")

# subresources served, per resource key: name -> (verbs, kind of the body: "" for the
# resource's own kind, "group/version/Kind" for another one, as discovery says it)
SUBRESOURCES: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "pods": {
        "status": _STATUS,
        "log": (("get",), ""),
        "ephemeralcontainers": (("get", "patch", "update"), ""),
    },
    "namespaces": {"status": _STATUS},
    "services": {"status": _STATUS},
    "nodes": {"status": _STATUS},
    "replicationcontrollers": {"status": _STATUS, "scale": _SCALE},
    DEPLOYMENTS.key: {"status": _STATUS, "scale": _SCALE},
    REPLICASETS.key: {"status": _STATUS, "scale": _SCALE},
    STATEFULSETS.key: {"status": _STATUS, "scale": _SCALE},
    DAEMONSETS.key: {"status": _STATUS},
    JOBS.key: {"status": _STATUS},
    CRONJOBS.key: {"status": _STATUS},
}
SCALABLE = frozenset(k for k, subs in SUBRESOURCES.items() if "scale" in subs)


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return BY_GROUP_VERSION.get((group, version), {}).get(plural)
