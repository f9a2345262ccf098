"""The pod's QoS class, computed as Kubernetes does, and init-container resources that keep it.

Kubernetes gives every pod a QoS class (``status.qosClass``) from its containers'
``resources`` (``pkg/apis/core/helper/qos``): only ``cpu`` and ``memory`` count, and
only positive quantities; regular *and* init containers (native sidecars included)
count, ephemeral ones do not; when the pod declares pod-level ``spec.resources`` those
decide instead.

- **BestEffort**: no container requests or limits any cpu or memory;
- **Guaranteed**: every container has cpu and memory limits, and the summed requests
  equal the summed limits for both;
- **Burstable**: anything else.

The class decides the eviction order and, for Guaranteed pods, whether the CPU manager
may hand out exclusive cores, so the injected init container must not change it.
:func:`init_resources` gives it resources that keep the class: none for a BestEffort
pod, requests equal to limits for a Guaranteed one (no more than the pod's containers
are allowed together, so the pod's effective request does not grow, except for the
memory floor the init container needs), small requests below limits for a Burstable one.

Requests default to limits where only limits are given, as the API server's defaulting
does before any webhook sees the pod. Pure: plain dicts in, plain values out.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

QOS_RESOURCES = ("cpu", "memory")


class QOSClass(enum.StrEnum):
    GUARANTEED = "Guaranteed"
    BURSTABLE = "Burstable"
    BEST_EFFORT = "BestEffort"


# The init container: one Python interpreter that reads its config and runs
# iptables-restore twice. Its peak RSS with the largest config an annotation allows is
# about 26 MiB (tests/webhook/test_webhook_qos.py measures it); 48Mi leaves room for the
# iptables child processes. CPU only bounds a runaway: 200m runs it in well under a second.
INIT_CPU_LIMIT = Fraction(200, 1000)
INIT_CPU_REQUEST = Fraction(10, 1000)
INIT_MEMORY_LIMIT = Fraction(128 << 20)
INIT_MEMORY_FLOOR = Fraction(48 << 20)
INIT_MEMORY_REQUEST = Fraction(48 << 20)

_SUFFIXES = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(1 << 10),
    "Mi": Fraction(1 << 20),
    "Gi": Fraction(1 << 30),
    "Ti": Fraction(1 << 40),
    "Pi": Fraction(1 << 50),
    "Ei": Fraction(1 << 60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity (the API server would have refused it)."""


def parse_quantity(value: Any) -> Fraction:
    """``"100m"`` -> 1/10, ``"128Mi"`` -> 134217728, ``"1e3"`` -> 1000, ``2`` -> 2 (exact)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(f"expected a quantity such as 100m or 128Mi, got {type(value).__name__}")
    text = str(value).strip()
    m = _QUANTITY.match(text) if len(text) <= 64 else None
    if m is None:
        raise QuantityError(f"{text[:64]!r} is not a quantity such as 100m or 128Mi")
    number, exponent, suffix = m.groups()
    scale = Fraction(10) ** int(exponent[1:]) if exponent else _SUFFIXES[suffix or ""]
    return Fraction(number) * scale


def _resources(container: Mapping[str, Any]) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """(requests, limits) of cpu and memory, positive only, requests defaulted from limits."""

    def mapping(value: Any) -> Mapping[str, Any]:
        return value if isinstance(value, Mapping) else {}

    res = mapping(container.get("resources"))
    given_requests, given_limits = mapping(res.get("requests")), mapping(res.get("limits"))

    def positive(given: Mapping[str, Any]) -> dict[str, Fraction]:
        return {name: q for name in QOS_RESOURCES if name in given and (q := parse_quantity(given[name])) > 0}

    requests, limits = positive(given_requests), positive(given_limits)
    for name, q in limits.items():
        if name not in given_requests:  # the API server's defaulting: a missing request is the limit
            requests[name] = q
    return requests, limits


def _qos(containers: Iterable[Mapping[str, Any]]) -> QOSClass:
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in containers:
        req, lim = _resources(c)
        for name, q in req.items():
            requests[name] = requests.get(name, Fraction(0)) + q
        for name, q in lim.items():
            limits[name] = limits.get(name, Fraction(0)) + q
        if not set(QOS_RESOURCES) <= set(lim):
            guaranteed = False
    if not requests and not limits:
        return QOSClass.BEST_EFFORT
    if guaranteed and requests.keys() == limits.keys() and all(limits[n] == q for n, q in requests.items()):
        return QOSClass.GUARANTEED
    return QOSClass.BURSTABLE


def pod_qos_class(pod: Mapping[str, Any]) -> QOSClass:
    """The pod's QoS class exactly as Kubernetes computes it (see the module docstring)."""
    spec = pod.get("spec") or {}
    pod_level = spec.get("resources")
    if isinstance(pod_level, Mapping) and (pod_level.get("requests") or pod_level.get("limits")):
        return _qos([{"resources": pod_level}])
    containers = [c for key in ("containers", "initContainers") for c in spec.get(key) or [] if isinstance(c, Mapping)]
    return _qos(containers)


def format_cpu(value: Fraction) -> str:
    """Millicores, rounded up: ``Fraction(1, 10)`` -> ``"100m"``."""
    return f"{math.ceil(value * 1000)}m"


def format_memory(value: Fraction) -> str:
    """Bytes, rounded up, in Mi when exact: ``Fraction(48 << 20)`` -> ``"48Mi"``."""
    whole = math.ceil(value)
    return f"{whole >> 20}Mi" if whole % (1 << 20) == 0 else str(whole)


def _regular_limits(pod: Mapping[str, Any]) -> dict[str, Fraction]:
    total: dict[str, Fraction] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(c, Mapping):
            for name, q in _resources(c)[1].items():
                total[name] = total.get(name, Fraction(0)) + q
    return total


def init_resources(pod: Mapping[str, Any]) -> dict[str, Any]:
    """``resources`` for an init container added to ``pod`` that keep its QoS class.

    - pod-level ``spec.resources`` or a BestEffort pod: none (``{}``);
    - Guaranteed: requests = limits = up to 200m cpu and 128Mi memory, but no more than
      the pod's regular containers may use together (so its effective request, the
      larger of the init containers' and the containers' sum, does not grow), with a
      48Mi memory floor (below it the interpreter would be OOM-killed);
    - Burstable: requests 10m / 48Mi, limits 200m / 128Mi.
    """
    spec = pod.get("spec") or {}
    pod_level = spec.get("resources")
    if isinstance(pod_level, Mapping) and (pod_level.get("requests") or pod_level.get("limits")):
        return {}
    cls = pod_qos_class(pod)
    if cls is QOSClass.BEST_EFFORT:
        return {}
    if cls is QOSClass.GUARANTEED:
        allowed = _regular_limits(pod)
        cpu = min(INIT_CPU_LIMIT, allowed.get("cpu", INIT_CPU_LIMIT))
        memory = max(INIT_MEMORY_FLOOR, min(INIT_MEMORY_LIMIT, allowed.get("memory", INIT_MEMORY_LIMIT)))
        both = {"cpu": format_cpu(cpu), "memory": format_memory(memory)}
        return {"requests": dict(both), "limits": dict(both)}
    return {
        "requests": {"cpu": format_cpu(INIT_CPU_REQUEST), "memory": format_memory(INIT_MEMORY_REQUEST)},
        "limits": {"cpu": format_cpu(INIT_CPU_LIMIT), "memory": format_memory(INIT_MEMORY_LIMIT)},
    }
