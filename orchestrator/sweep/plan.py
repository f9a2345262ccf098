"""The sweep plan: which probes run from which source identity.

Pure: a :class:`~orchestrator.snapshot.types.Snapshot` and :class:`PlanOptions` in, a
:class:`Plan` out. No Kubernetes client, no clocks, no I/O.

One agent runs every probe of one source identity, so the number of agents (and of API
calls) grows with the number of sources, never with the number of probes:

* pod scope: one agent per source pod (its IP and labels are the identity the
  NetworkPolicies see);
* service scope: the same agent also probes every selectable Service's ClusterIP ports
  (kube-proxy DNATs before the policies apply, so they judge the backend pod);
* intra-pod scope: one agent per distinct ``runAsUser`` among the containers of a pod
  with intra-pod rules (the iptables ``owner`` match sees only the UID); the pod-scope
  probes of that pod ride along in its first intra-pod agent, because NetworkPolicies do
  not care which UID sends.

Destination ports default to every port the destination's containers declare;
``--port 80/TCP`` (repeatable) restricts to exactly those ports, ``--port +80/TCP`` adds
them to the declared ones.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.intrapod import container_infos, pod_intrapod
from orchestrator.snapshot.types import Pod, Service, Snapshot
from orchestrator.sweep.selection import PodSelector, PortMode
from probe.intrapod_rules import ANNOTATION, ContainerInfo, IntraPodRules, expected_pairs
from probe.schema import Method, PortRef, Protocol

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kubereach"
SWEEP_ID_LABEL = "kubereach.io/sweep-id"
# An agent that would run as root (runAsNonRoot forbids it) or whose pod names no UID
# runs as this one: the conventional "nonroot" UID of distroless images.
DEFAULT_AGENT_UID = 65532
LOOPBACK = "127.0.0.1"
# Linux refuses a single command-line argument over 128 KiB (MAX_ARG_STRLEN); a target
# costs about 8 bytes of z:-encoded spec, so 12,000 targets per agent leave room to spare.
MAX_TARGETS_PER_AGENT = 12_000


class Scope(enum.StrEnum):
    POD = "pod"
    INTRA_POD = "intra-pod"
    SERVICE = "service"


class SourceMode(enum.StrEnum):
    EPHEMERAL = "ephemeral"  # an ephemeral container in the source pod: the true identity
    POD = "pod"  # a probe pod with the same labels, in the same namespace


# -- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanOptions:
    ports: tuple[PortRef, ...] = ()
    port_mode: PortMode = PortMode.DECLARED
    method: Method = Method.CONNECT  # for TCP; UDP uses udp, SCTP sctp
    source_mode: SourceMode = SourceMode.EPHEMERAL
    sources: tuple[PodSelector, ...] = ()  # OR-ed; empty: every pod
    destinations: tuple[PodSelector, ...] = ()
    pods: bool = True  # scopes to probe (--scope)
    intrapod: bool = True
    services: bool = True
    max_targets_per_agent: int = MAX_TARGETS_PER_AGENT


@dataclass(frozen=True, slots=True)
class ProbeJob:
    """One probe: a row of probes.csv once observed and compared."""

    id: str  # unique in the sweep; the spec's target id
    scope: Scope
    source: str  # ns/pod, or ns/pod/container for intra-pod
    destination: str  # ns/pod, or ns/pod/container for intra-pod
    address: str
    port: int
    protocol: Protocol
    method: Method
    source_pod: str  # ns/pod
    destination_pod: str  # ns/pod
    port_name: str | None = None
    backends: tuple[tuple[str, int], ...] = ()  # service scope: (backend pod, target port)


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """Who sends: a pod, and for intra-pod probes the UID of its source container(s)."""

    namespace: str
    pod: str
    run_as_user: int
    containers: tuple[str, ...] = ()  # intra-pod source containers sharing this UID

    @property
    def pod_key(self) -> str:
        return f"{self.namespace}/{self.pod}"

    @property
    def key(self) -> str:
        return f"{self.pod_key}@{self.run_as_user}" if self.containers else self.pod_key


@dataclass(frozen=True, slots=True)
class AgentPlan:
    identity: SourceIdentity
    index: int  # nth agent on this pod in this sweep (0, 1, ...)
    jobs: tuple[ProbeJob, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # the source pod's labels

    @property
    def scopes(self) -> frozenset[Scope]:
        return frozenset(j.scope for j in self.jobs)


@dataclass(frozen=True, slots=True)
class Skipped:
    what: str  # ns/pod, ns/pod/container, or a job description
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    agents: tuple[AgentPlan, ...]
    skipped: tuple[Skipped, ...]
    options: PlanOptions

    @property
    def jobs(self) -> tuple[ProbeJob, ...]:
        return tuple(j for a in self.agents for j in a.jobs)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({a.identity.namespace for a in self.agents}))

    def without(self, job_ids: Iterable[str], skipped: Iterable[Skipped] = ()) -> Plan:
        """The plan minus ``job_ids`` (agents left without jobs are dropped)."""
        gone = set(job_ids)
        agents = []
        for a in self.agents:
            jobs = tuple(j for j in a.jobs if j.id not in gone)
            if jobs:
                agents.append(AgentPlan(a.identity, a.index, jobs, a.labels))
        return Plan(tuple(agents), self.skipped + tuple(skipped), self.options)

    def subset(self, job_ids: Iterable[str], *, index_offset: int) -> Plan:
        """The same agents restricted to ``job_ids`` (for re-probing mismatches)."""
        wanted = set(job_ids)
        agents = []
        for a in self.agents:
            jobs = tuple(j for j in a.jobs if j.id in wanted)
            if jobs:
                agents.append(AgentPlan(a.identity, a.index + index_offset, jobs, a.labels))
        return Plan(tuple(agents), (), self.options)


def is_kubereach_owned(labels: Mapping[str, str]) -> bool:
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def _method_for(protocol: Protocol, method: Method) -> Method:
    if protocol is Protocol.UDP:
        return Method.UDP
    if protocol is Protocol.SCTP:
        return Method.SCTP
    return method


def _declared_ports(pod: Pod) -> list[tuple[PortRef, str | None]]:
    """The pod's ports: those of its regular containers and of its native sidecars."""
    seen: dict[PortRef, str | None] = {}
    for c in pod.serving_containers:
        for p in c.ports:
            seen.setdefault(PortRef(p.port, p.protocol), p.name)
    return sorted(seen.items())


def destination_ports(pod: Pod, options: PlanOptions) -> list[tuple[PortRef, str | None]]:
    declared = _declared_ports(pod)
    if options.port_mode is PortMode.EXACT:
        names = dict(declared)
        return [(p, names.get(p)) for p in options.ports]
    if options.port_mode is PortMode.ADD:
        merged = dict(declared)
        for p in options.ports:
            merged.setdefault(p, None)
        return sorted(merged.items())
    return declared


def _pod_uid(pod: Pod) -> int:
    """The UID a pod-scope agent runs as: the pod's own (its first non-root container
    UID), so the probe looks like the pod's traffic; else a conventional non-root UID."""
    for c in pod.containers:
        if c.run_as_user:
            return c.run_as_user
    return DEFAULT_AGENT_UID


def _source_problem(pod: Pod) -> str | None:
    if pod.phase not in (None, "Running"):
        return f"phase {pod.phase}: only running pods can be sources"
    if not pod.ip:
        return "no pod IP yet"
    if pod.host_network:
        return "hostNetwork pod: an agent there would measure the node, not a pod"
    return None


def _destination_problem(pod: Pod) -> str | None:
    if pod.phase not in (None, "Running", "Pending"):
        return f"phase {pod.phase}"
    if not pod.ip:
        return "no pod IP yet"
    return None


def intrapod_rules_of(pod: Pod) -> tuple[IntraPodRules | None, dict[str, ContainerInfo], str | None]:
    """(rules, the containers a rule may name, problem) of a pod's intra-pod annotation.

    The same decoding, validation and container translation as ``predict`` and the
    webhook (:func:`orchestrator.intrapod.pod_intrapod`)."""
    found = pod_intrapod(pod)
    if found is None:
        return None, {c.name: c for c in container_infos(pod) if c.in_rules}, None
    if found.rules is None:
        return None, found.rule_containers, f"annotation {ANNOTATION}: {'; '.join(found.problems)}"
    return found.rules, found.rule_containers, None


def swept_pods(plan: Plan) -> set[str]:
    """Every pod the plan probes from or to, or says it does not (``ns/pod``): the pods
    the sweep reports intra-pod enforceability findings for."""
    pods = {j.source_pod for j in plan.jobs} | {j.destination_pod for j in plan.jobs if j.scope is not Scope.SERVICE}
    pods |= {"/".join(s.what.split("/")[:2]) for s in plan.skipped}
    return pods


def build_plan(snapshot: Snapshot, options: PlanOptions) -> Plan:
    """Every probe of the sweep, grouped by source identity, in a stable order."""
    pods = sorted((p for p in snapshot.pods if not is_kubereach_owned(p.labels)), key=lambda p: (p.namespace, p.name))
    skipped: list[Skipped] = []
    sources = [p for p in pods if not options.sources or any(s.matches(p) for s in options.sources)]
    destinations = [p for p in pods if not options.destinations or any(s.matches(p) for s in options.destinations)]
    live_destinations = []
    for d in destinations:
        problem = _destination_problem(d)
        if problem:
            skipped.append(Skipped(d.key, f"not probed: {problem}"))
        else:
            live_destinations.append(d)
    services = _service_targets(snapshot, pods, options, skipped) if options.services else []
    counter = 0
    agents: list[AgentPlan] = []

    def next_id() -> str:
        nonlocal counter
        counter += 1
        return f"j{counter}"

    for src in sources:
        problem = _source_problem(src)
        if problem:
            if not any(s.what == src.key for s in skipped):
                skipped.append(Skipped(src.key, f"not a source: {problem}"))
            continue
        pod_jobs: list[ProbeJob] = []
        for dst in live_destinations if options.pods else ():
            if dst.key == src.key:
                continue  # a pod reaching itself is always allowed: nothing to measure
            for pp, name in destination_ports(dst, options):
                pod_jobs.append(
                    ProbeJob(
                        next_id(),
                        Scope.POD,
                        src.key,
                        dst.key,
                        dst.ip or "",
                        pp.port,
                        pp.protocol,
                        _method_for(pp.protocol, options.method),
                        src.key,
                        dst.key,
                        name,
                    )
                )
        for svc, address, sp, backends in services:
            pod_jobs.append(
                ProbeJob(
                    next_id(),
                    Scope.SERVICE,
                    src.key,
                    f"{svc.namespace}/{svc.name}",
                    address,
                    sp.port,
                    sp.protocol,
                    _method_for(sp.protocol, options.method),
                    src.key,
                    f"{svc.namespace}/{svc.name}",
                    sp.name,
                    backends,
                )
            )
        wanted = options.intrapod and (not options.destinations or any(s.matches(src) for s in options.destinations))
        intra_agents = _intrapod_agents(src, options, skipped, next_id) if wanted else []
        if intra_agents:
            first = intra_agents[0]
            intra_agents[0] = (first[0], tuple(pod_jobs) + first[1])
        elif pod_jobs:
            intra_agents = [(SourceIdentity(src.namespace, src.name, _pod_uid(src)), tuple(pod_jobs))]
        if intra_agents:
            index = 0
            for identity, jobs in intra_agents:
                # a source with more targets than one command line holds gets more agents
                step = max(1, options.max_targets_per_agent)
                for start in range(0, len(jobs), step):
                    agents.append(AgentPlan(identity, index, jobs[start : start + step], dict(src.labels)))
                    index += 1
        elif options.pods and not options.destinations:
            skipped.append(Skipped(src.key, "no destination to probe"))
    return Plan(tuple(agents), tuple(skipped), options)


def _service_targets(
    snapshot: Snapshot, pods: list[Pod], options: PlanOptions, skipped: list[Skipped]
) -> list[tuple[Service, str, Any, tuple[tuple[str, int], ...]]]:
    """(service, ClusterIP, service port, backends) for every probe-able service port.

    Backends are the running pods the selector matches, with the ``targetPort`` resolved
    on each (a named one by the backend's container port of that name and protocol).
    """
    out = []
    for svc in sorted(snapshot.services, key=lambda s: (s.namespace, s.name)):
        ips = [ip for ip in svc.cluster_ips if ip and ip != "None" and ":" not in ip]
        if not svc.selector or not ips:
            continue  # headless, ExternalName, or selector-less: nothing kube-proxy balances
        backends = [
            p
            for p in pods
            if p.namespace == svc.namespace
            and p.ip
            and p.phase in (None, "Running")
            and not p.host_network
            and all(p.labels.get(k) == v for k, v in svc.selector.items())
        ]
        if options.destinations and not any(s.matches(b) for s in options.destinations for b in backends):
            continue
        for sp in svc.ports:
            if options.port_mode is PortMode.EXACT and PortRef(sp.port, sp.protocol) not in options.ports:
                continue
            resolved = tuple((b.key, t) for b in backends if (t := _target_port(b, sp)) is not None)
            if not resolved:
                skipped.append(
                    Skipped(
                        f"{svc.namespace}/{svc.name}:{sp.port}/{sp.protocol}",
                        "service port not probed: no running backend",
                    )
                )
                continue
            out.append((svc, ips[0], sp, resolved))
    return out


def _target_port(pod: Pod, sp: Any) -> int | None:
    target = sp.target_port if sp.target_port not in (None, "") else sp.port
    if isinstance(target, int) or (isinstance(target, str) and target.isascii() and target.isdigit()):
        return int(target)
    for c in pod.serving_containers:  # a named targetPort may live on a native sidecar
        for cp in c.ports:
            if cp.name == target and cp.protocol == sp.protocol:
                return cp.port
    return None


def _intrapod_agents(
    pod: Pod, options: PlanOptions, skipped: list[Skipped], next_id: Any
) -> list[tuple[SourceIdentity, tuple[ProbeJob, ...]]]:
    rules, infos, problem = intrapod_rules_of(pod)
    if problem:
        skipped.append(Skipped(pod.key, f"intra-pod rules not probed: {problem}"))
        return []
    if rules is None:
        return []
    if options.source_mode is SourceMode.POD:
        skipped.append(
            Skipped(
                pod.key,
                "intra-pod rules not probed: they need ephemeral containers "
                "in the pod itself (--source-mode ephemeral)",
            )
        )
        return []
    by_uid: dict[int, list[ProbeJob]] = {}
    containers_of: dict[int, list[str]] = {}
    exact = set(options.ports) if options.port_mode is PortMode.EXACT else None
    for exp in expected_pairs(rules, infos.values()):
        if exact is not None and PortRef(exp.port.port, exp.port.protocol) not in exact:
            continue
        uid = infos[exp.source].uid
        what = f"{pod.key}/{exp.source}"
        if uid is None or uid == 0:
            why = "no runAsUser" if uid is None else "runs as root (UID 0)"
            entry = Skipped(
                what,
                f"intra-pod source not probed: container {exp.source!r} {why}; "
                "agents run non-root as the source container's UID",
            )
            if entry not in skipped:
                skipped.append(entry)
            continue
        by_uid.setdefault(uid, []).append(
            ProbeJob(
                next_id(),
                Scope.INTRA_POD,
                f"{pod.key}/{exp.source}",
                f"{pod.key}/{exp.target}",
                LOOPBACK,
                exp.port.port,
                exp.port.protocol,
                _method_for(exp.port.protocol, options.method),
                pod.key,
                pod.key,
            )
        )
        if exp.source not in containers_of.setdefault(uid, []):
            containers_of[uid].append(exp.source)
    return [
        (SourceIdentity(pod.namespace, pod.name, uid, tuple(containers_of[uid])), tuple(jobs))
        for uid, jobs in sorted(by_uid.items())
    ]
