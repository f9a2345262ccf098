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

RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACES,
    PODS,
    SERVICES,
    CONFIGMAPS,
    SERVICEACCOUNTS,
    EVENTS,
    NETWORKPOLICIES,
    MUTATING_WEBHOOKS,
    VALIDATING_WEBHOOKS,
)

# (group, version) -> {plural: ResourceType}
BY_GROUP_VERSION: dict[tuple[str, str], dict[str, ResourceType]] = {}
for _r in RESOURCES:
    BY_GROUP_VERSION.setdefault((_r.group, _r.version), {})[_r.plural] = _r
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}

# subresources served, per resource key: name -> (verbs, kind of the body)
SUBRESOURCES: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "pods": {
        "status": (("get", "patch", "update"), "Pod"),
        "log": (("get",), "Pod"),
        "ephemeralcontainers": (("get", "patch", "update"), "Pod"),
    },
    "namespaces": {"status": (("get", "patch", "update"), "Namespace")},
    "services": {"status": (("get", "patch", "update"), "Service")},
}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return BY_GROUP_VERSION.get((group, version), {}).get(plural)
