"""Server-side printing: ``meta.k8s.io/v1 Table`` responses, as ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and prints
the columns the server defines; these are the columns of the real API server.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

_NAME = {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
_AGE = {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}


def _col(name: str, priority: int = 0, typ: str = "string") -> dict[str, Any]:
    return {"name": name, "type": typ, "format": "", "description": name, "priority": priority}


def age(timestamp: str | None, now: _dt.datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = _dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return "<unknown>"
    secs = int(((now or _dt.datetime.now(_dt.UTC)) - then).total_seconds())
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    if secs < 600:
        return f"{secs // 60}m{secs % 60}s" if secs % 60 else f"{secs // 60}m"
    if secs < 3 * 3600:
        return f"{secs // 60}m"
    if secs < 8 * 3600:
        h, m = divmod(secs // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    if secs < 48 * 3600:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for s in statuses:
        state = s.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and status.get("phase") not in ("Running",):
            reason = state["terminated"].get("reason") or reason
    if status.get("phase") == "Pending" and not statuses:
        reason = "ContainerCreating" if status.get("podIP") else "Pending"
    inits = spec.get("initContainers") or []
    init_statuses = status.get("initContainerStatuses") or []
    done = sum(1 for s in init_statuses if (s.get("state") or {}).get("terminated", {}).get("exitCode") == 0)
    if inits and done < len(inits) and status.get("phase") == "Pending":
        reason = f"Init:{done}/{len(inits)}"
        for s in init_statuses:
            waiting = (s.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") and waiting["reason"] != "PodInitializing":
                reason = f"Init:{waiting['reason']}"
                break
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates")
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>" if not gates else f"{len(gates)}",
    ]


def _svc_ports(spec: dict[str, Any]) -> str:
    ports = [f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or ()]
    return ",".join(ports) or "<none>"


def _selector(sel: dict[str, Any] | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or ():
        parts.append(f"{expr.get('key')} {expr.get('operator')} ({','.join(expr.get('values') or [])})")
    return ",".join(parts) or "<none>"


def _containers(spec: dict[str, Any]) -> tuple[str, str]:
    template = (spec.get("template") or {}).get("spec") or {}
    containers = template.get("containers") or []
    return ",".join(str(c.get("name", "")) for c in containers), ",".join(str(c.get("image", "")) for c in containers)


def _label_selector(sel: dict[str, Any] | None) -> str:
    from lab.api.selectors import selector_string

    return selector_string(sel) or "<none>"


def _workload_tail(o: dict[str, Any], *, selector: bool = True) -> list[Any]:
    names, images = _containers(o.get("spec") or {})
    tail: list[Any] = [names, images]
    if selector:
        tail.append(_label_selector((o.get("spec") or {}).get("selector")))
    return tail


_WORKLOAD_COLUMNS = [_col("Containers", 1), _col("Images", 1), _col("Selector", 1)]


def _deployment_row(o: dict[str, Any]) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [
        o["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        age(o["metadata"].get("creationTimestamp")),
        *_workload_tail(o),
    ]


def _replicaset_row(o: dict[str, Any]) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    tail = _workload_tail(o)
    if "matchLabels" not in (spec.get("selector") or {}) and "matchExpressions" not in (spec.get("selector") or {}):
        tail[2] = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"  # an RC's map
    return [
        o["metadata"]["name"],
        spec.get("replicas", 1),
        st.get("replicas", 0),
        st.get("readyReplicas", 0),
        age(o["metadata"].get("creationTimestamp")),
        *tail,
    ]


def _statefulset_row(o: dict[str, Any]) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [
        o["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        age(o["metadata"].get("creationTimestamp")),
        *_workload_tail(o, selector=False),
    ]


def _daemonset_row(o: dict[str, Any]) -> list[Any]:
    st = o.get("status") or {}
    node_selector = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [
        o["metadata"]["name"],
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>",
        age(o["metadata"].get("creationTimestamp")),
        *_workload_tail(o),
    ]


def _duration(start: str | None, end: str | None) -> str:
    """How long a Job ran (until now while it runs), in ``age``'s format."""
    if not start:
        return ""
    try:
        until = _dt.datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC) if end else None
    except ValueError:
        until = None
    return age(start, until)


def _job_status(st: dict[str, Any]) -> str:
    """The STATUS column: the first true condition that says how the Job ended, else Running."""
    conditions = {c.get("type"): c.get("status") for c in st.get("conditions") or ()}
    for kind in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"):
        if conditions.get(kind) == "True":
            return kind
    if conditions.get("Suspended") == "True":
        return "Suspended"
    if st.get("terminating"):
        return "Terminating"
    return "Running"


def _job_row(o: dict[str, Any]) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    completions = spec.get("completions")
    done = st.get("succeeded", 0)
    shown = f"{done}/{completions}" if completions is not None else f"{done}/1 of {spec.get('parallelism', 1)}"
    return [
        o["metadata"]["name"],
        _job_status(st),
        shown,
        _duration(st.get("startTime"), st.get("completionTime")),
        age(o["metadata"].get("creationTimestamp")),
        *_workload_tail(o),
    ]


def _cronjob_row(o: dict[str, Any]) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job_spec)
    last = st.get("lastScheduleTime")
    return [
        o["metadata"]["name"],
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        bool(spec.get("suspend")),
        len(st.get("active") or ()),
        age(last) if last else "<none>",
        age(o["metadata"].get("creationTimestamp")),
        names,
        images,
        _label_selector(job_spec.get("selector")),
    ]


def _endpoints_row(o: dict[str, Any]) -> list[Any]:
    addresses = []
    for subset in o.get("subsets") or ():
        ports = [p.get("port") for p in subset.get("ports") or ()] or [None]
        for address in subset.get("addresses") or ():
            for port in ports:
                addresses.append(f"{address.get('ip')}:{port}" if port is not None else str(address.get("ip")))
    shown = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [o["metadata"]["name"], shown or "<none>", age(o["metadata"].get("creationTimestamp"))]


def _endpointslice_row(o: dict[str, Any]) -> list[Any]:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or ()) or "<unset>"
    addresses = [a for e in o.get("endpoints") or () for a in e.get("addresses") or ()]
    shown = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [
        o["metadata"]["name"],
        o.get("addressType", ""),
        ports,
        shown or "<unset>",
        age(o["metadata"].get("creationTimestamp")),
    ]


def _node_row(o: dict[str, Any]) -> list[Any]:
    st = o.get("status") or {}
    ready = next((c.get("status") for c in st.get("conditions") or () if c.get("type") == "Ready"), "Unknown")
    status = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {}) if k.startswith("node-role.kubernetes.io/")
    )
    addresses = {a.get("type"): a.get("address") for a in st.get("addresses") or ()}
    info = st.get("nodeInfo") or {}
    return [
        o["metadata"]["name"],
        status,
        ",".join(roles) or "<none>",
        age(o["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _revision_row(o: dict[str, Any]) -> list[Any]:
    ref = next((r for r in o["metadata"].get("ownerReferences") or () if r.get("controller")), None)
    controller = f"{ref.get('kind', '').lower()}.apps/{ref.get('name')}" if ref else "<none>"
    return [o["metadata"]["name"], controller, o.get("revision", 0), age(o["metadata"].get("creationTimestamp"))]


COLUMNS: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "deployments.apps": (
        [
            _NAME,
            _col("Ready"),
            _col("Up-to-date", typ="integer"),
            _col("Available", typ="integer"),
            _AGE,
            *_WORKLOAD_COLUMNS,
        ],
        _deployment_row,
    ),
    "replicasets.apps": (
        [
            _NAME,
            _col("Desired", typ="integer"),
            _col("Current", typ="integer"),
            _col("Ready", typ="integer"),
            _AGE,
            *_WORKLOAD_COLUMNS,
        ],
        _replicaset_row,
    ),
    "replicationcontrollers": (
        [
            _NAME,
            _col("Desired", typ="integer"),
            _col("Current", typ="integer"),
            _col("Ready", typ="integer"),
            _AGE,
            *_WORKLOAD_COLUMNS,
        ],
        _replicaset_row,
    ),
    "statefulsets.apps": ([_NAME, _col("Ready"), _AGE, _col("Containers", 1), _col("Images", 1)], _statefulset_row),
    "daemonsets.apps": (
        [
            _NAME,
            _col("Desired", typ="integer"),
            _col("Current", typ="integer"),
            _col("Ready", typ="integer"),
            _col("Up-to-date", typ="integer"),
            _col("Available", typ="integer"),
            _col("Node Selector"),
            _AGE,
            *_WORKLOAD_COLUMNS,
        ],
        _daemonset_row,
    ),
    "jobs.batch": ([_NAME, _col("Status"), _col("Completions"), _col("Duration"), _AGE, *_WORKLOAD_COLUMNS], _job_row),
    "cronjobs.batch": (
        [
            _NAME,
            _col("Schedule"),
            _col("Timezone"),
            _col("Suspend", typ="boolean"),
            _col("Active", typ="integer"),
            _col("Last Schedule"),
            _AGE,
            *_WORKLOAD_COLUMNS,
        ],
        _cronjob_row,
    ),
    "endpoints": ([_NAME, _col("Endpoints"), _AGE], _endpoints_row),
    "endpointslices.discovery.k8s.io": (
        [_NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), _AGE],
        _endpointslice_row,
    ),
    "nodes": (
        [
            _NAME,
            _col("Status"),
            _col("Roles"),
            _AGE,
            _col("Version"),
            _col("Internal-IP", 1),
            _col("External-IP", 1),
            _col("OS-Image", 1),
            _col("Kernel-Version", 1),
            _col("Container-Runtime", 1),
        ],
        _node_row,
    ),
    "controllerrevisions.apps": ([_NAME, _col("Controller"), _col("Revision", typ="integer"), _AGE], _revision_row),
    "secrets": (
        [_NAME, _col("Type"), _col("Data", typ="integer"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            o.get("type", "Opaque"),
            len(o.get("data") or {}) + len(o.get("stringData") or {}),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "pods": (
        [
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", typ="integer"),
            _AGE,
            _col("IP", 1),
            _col("Node", 1),
            _col("Nominated Node", 1),
            _col("Readiness Gates", 1),
        ],
        _pod_row,
    ),
    "namespaces": (
        [_NAME, _col("Status"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", "Active"),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "services": (
        [_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _AGE, _col("Selector", 1)],
        lambda o: [
            o["metadata"]["name"],
            o["spec"].get("type", "ClusterIP"),
            o["spec"].get("clusterIP") or "<none>",
            "<none>",
            _svc_ports(o["spec"]),
            age(o["metadata"].get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in (o["spec"].get("selector") or {}).items()) or "<none>",
        ],
    ),
    "configmaps": (
        [_NAME, _col("Data", typ="integer"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "networkpolicies.networking.k8s.io": (
        [_NAME, _col("Pod-Selector"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            _selector((o.get("spec") or {}).get("podSelector")),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
}
_DEFAULT = ([_NAME, _AGE], lambda o: [o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))])


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    resource: str,
    items: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    with_columns: bool = True,
) -> dict[str, Any]:
    columns, row = COLUMNS.get(resource, _DEFAULT)
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = partial_metadata(obj)
        rows.append(entry)
    out: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": rows,
    }
    out["columnDefinitions"] = columns if with_columns else []
    return out


def wants_table(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params and "v=v1" in params:
            return True
    return False
