"""Reading what the node needs out of a pod spec (pure): UIDs, environment, argv, ports.

Kubernetes rules followed here:
- the effective ``runAsUser``/``runAsGroup`` is the container's securityContext, else
  the pod's, else the image's user (the agent image's 65532, root for other images);
  ``runAsNonRoot`` refuses to start a container that would run as root;
- ``env`` entries are resolved in order; ``value`` may refer to earlier variables as
  ``$(NAME)`` (``$$`` escapes); ``valueFrom.fieldRef`` supports the downward-API fields
  a pod can know about itself;
- ``command`` replaces the image entrypoint and ``args`` its arguments, with the same
  ``$(NAME)`` expansion;
- an init container with ``restartPolicy: Always`` is a native sidecar (KEP-753): it does
  not run to completion before the next one but keeps running with the pod.

What the lab runs for a container that is not the agent (it has no image to run):
- in a pod that runs to completion (``restartPolicy`` Never or OnFailure: a Job's pod),
  a container with a ``command`` runs that command on this machine, in the pod's network
  namespace, and exits with its status; it never runs as root (the machine's filesystem
  is not an image's): without a non-root ``runAsUser`` it runs as ``nobody`` (65534);
- there, a container with neither command nor ports has nothing to run or serve and
  completes at once with status 0;
- anything else listens on its declared ports (:mod:`lab.node.listeners`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lab.node.listeners import PortSpec
from lab.node.processes import BASE_PATH
from probe.schema import ENV_CONTAINER, ENV_NAMESPACE, ENV_POD, is_agent_image

# The agent image's ENTRYPOINT, CMD and USER (agent-image/Dockerfile): what a container
# that does not say otherwise gets, as from a real image.
AGENT_ENTRYPOINT = ("kubereach-probe",)
AGENT_CMD = ("--help",)
AGENT_IMAGE_USER = 65532
NON_ROOT_MESSAGE = "container has runAsNonRoot and image will run as root"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def is_agent(container: Mapping[str, Any]) -> bool:
    return is_agent_image(container.get("image"))


NOBODY = 65534  # what a non-agent command runs as instead of root


def runs_to_completion(pod: Mapping[str, Any]) -> bool:
    return (pod.get("spec") or {}).get("restartPolicy", "Always") in ("Never", "OnFailure")


def runs_command(pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
    """A non-agent container the lab runs as a process: a command in a run-to-completion pod."""
    return not is_agent(container) and runs_to_completion(pod) and bool(container.get("command"))


def completes_at_once(pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
    """A non-agent container of a run-to-completion pod with nothing to run or serve."""
    return (
        not is_agent(container)
        and runs_to_completion(pod)
        and not container.get("command")
        and not container.get("ports")
    )


def is_native_sidecar(container: Mapping[str, Any]) -> bool:
    """An init container with ``restartPolicy: Always`` (KEP-753): it starts, keeps running
    next to the regular containers, and its ports are the pod's like theirs."""
    return container.get("restartPolicy") == "Always"


def run_as(pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int, int, tuple[int, ...]]:
    """(uid, gid, supplementary groups) the container's processes run with.

    Without a runAsUser the image's user applies: the agent image's non-root user, root
    for anything else. Raises ValueError when ``runAsNonRoot`` forbids the result (the
    kubelet's CreateContainerConfigError).
    """
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    default = AGENT_IMAGE_USER if is_agent(container) else 0
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    uid = default if uid is None else int(uid)
    gid = (default if uid == default else 0) if gid is None else int(gid)
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
        raise ValueError(NON_ROOT_MESSAGE)
    groups = [int(g) for g in psc.get("supplementalGroups") or []]
    if psc.get("fsGroup") is not None:
        groups.append(int(psc["fsGroup"]))
    return uid, gid, tuple(dict.fromkeys(groups))


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(sub, text)


def field_value(pod: Mapping[str, Any], path: str, *, pod_ip: str, host_ip: str, node_name: str) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "spec.nodeName": spec.get("nodeName") or node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
    }
    if path in simple:
        return str(simple[path])
    m = _LABEL_REF.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    return ""


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], *, pod_ip: str, host_ip: str, node_name: str
) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    env: dict[str, str] = {"PATH": BASE_PATH, "HOME": "/", "HOSTNAME": meta.get("name", "")}
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "value" in item:
            env[name] = expand(str(item.get("value") or ""), env)
        elif (item.get("valueFrom") or {}).get("fieldRef"):
            path = item["valueFrom"]["fieldRef"].get("fieldPath", "")
            env[name] = field_value(pod, path, pod_ip=pod_ip, host_ip=host_ip, node_name=node_name)
        else:
            env[name] = ""  # configMap/secret/resource refs: nothing the lab can provide
    env.setdefault(ENV_NAMESPACE, meta.get("namespace", "default"))
    env.setdefault(ENV_POD, meta.get("name", ""))
    env.setdefault(ENV_CONTAINER, container.get("name", ""))
    return env


def container_argv(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """``command`` replaces ENTRYPOINT (and drops CMD); ``args`` replace CMD."""
    command = container.get("command")
    args = container.get("args")
    argv = list(command) + list(args or []) if command else list(AGENT_ENTRYPOINT) + list(args if args else AGENT_CMD)
    return [expand(str(a), env) for a in argv]


def listener_ports(container: Mapping[str, Any]) -> tuple[list[PortSpec], list[str]]:
    """Declared ports the lab can listen on, and notes for those it cannot (SCTP)."""
    ports, notes = [], []
    seen: set[tuple[int, str]] = set()
    for p in container.get("ports") or []:
        proto = str(p.get("protocol") or "TCP").upper()
        number = int(p.get("containerPort") or 0)
        if not number or (number, proto) in seen:
            continue
        seen.add((number, proto))
        if proto in ("TCP", "UDP"):
            ports.append(PortSpec(number, proto))
        else:
            notes.append(f"{number}/{proto}: the lab cannot listen on {proto}")
    return ports, notes
