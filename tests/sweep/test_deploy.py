"""Rendered objects: labels, names with the sweep id, hardened agents, specs that decode."""

from __future__ import annotations

import yaml

from orchestrator.sweep.deploy import (
    SweepMeta,
    agent_deadline_s,
    build_spec,
    ephemeral_container,
    probe_pod,
    render_manifests,
    render_yaml,
)
from orchestrator.sweep.plan import PlanOptions, SourceMode, build_plan
from probe.schema import Method
from probe.spec import decode_spec_text, parse_spec

META = SweepMeta("ab12cd34", "ghcr.io/kubereach/agent:0.1.0")


def test_ephemeral_container_is_hardened_and_runs_the_agent_with_all_probes_of_its_source(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    agent = plan.agents[0]
    c = ephemeral_container(META, agent)
    assert c["name"] == "kr-ab12cd34-0"
    assert c["command"][:3] == ["kubereach-probe", "run", "--spec"]
    spec = parse_spec(decode_spec_text(c["command"][3]))
    assert [t.id for t in spec.targets] == [j.id for j in agent.jobs]
    assert [(t.address, t.port) for t in spec.targets] == [(j.address, j.port) for j in agent.jobs]
    sc = c["securityContext"]
    assert sc == {
        "runAsUser": agent.identity.run_as_user,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    env = {e["name"]: e for e in c["env"]}
    assert env["KUBEREACH_CONTAINER"]["value"] == c["name"]
    assert env["KUBEREACH_POD"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_syn_method_adds_only_net_raw():
    from dataclasses import replace

    from tests.sweep.conftest import pod_yaml, snapshot_from

    snap = snapshot_from([pod_yaml("a", "x", {"a": "x"}, "10.0.0.1"), pod_yaml("a", "y", {"a": "y"}, "10.0.0.2")])
    plan = build_plan(snap, PlanOptions(method=Method.SYN))
    c = ephemeral_container(replace(META, method=Method.SYN), plan.agents[0])
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert {t["method"] for t in build_spec(META, plan.agents[0])["targets"]} == {"syn"}


def test_intrapod_agents_run_as_each_source_containers_uid(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    api1 = [a for a in plan.agents if a.identity.pod_key == "shop-backend/api-1"]
    rendered = [ephemeral_container(META, a) for a in api1]
    assert [c["securityContext"]["runAsUser"] for c in rendered] == [1001, 1002, 1003]
    assert len({c["name"] for c in rendered}) == 3


def test_probe_pod_wears_the_source_labels_never_becomes_ready_and_is_owned_by_the_sweep(demo_snapshot):
    meta = SweepMeta("ab12cd34", "img", source_mode=SourceMode.POD)
    plan = build_plan(demo_snapshot, PlanOptions(source_mode=SourceMode.POD))
    agent = next(a for a in plan.agents if a.identity.pod_key == "shop-frontend/web-1")
    pod = probe_pod(meta, agent, "uid-1")
    md, spec = pod["metadata"], pod["spec"]
    assert md["namespace"] == "shop-frontend" and "ab12cd34" in md["name"] and len(md["name"]) <= 63
    for k, v in agent.labels.items():
        assert md["labels"][k] == v
    assert md["labels"]["app.kubernetes.io/managed-by"] == "kubereach"
    assert md["labels"]["kubereach.io/sweep-id"] == "ab12cd34"
    [owner] = md["ownerReferences"]
    assert owner["kind"] == "ConfigMap" and owner["controller"] is True and owner["uid"] == "uid-1"
    assert owner["name"] == "kubereach-sweep-ab12cd34"
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] >= agent_deadline_s(meta, agent)
    c = spec["containers"][0]
    assert c["readinessProbe"]["exec"]["command"] == ["false"]
    assert c["resources"]["limits"]


def test_render_manifests_one_owner_per_touched_namespace_and_sweep_id_everywhere(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    m = render_manifests(plan, META)
    assert sorted(o["metadata"]["namespace"] for o in m.owners) == ["shop-backend", "shop-data", "shop-frontend"]
    assert len(m.ephemeral) == len(plan.agents) and m.pods == ()
    docs = list(yaml.safe_load_all(render_yaml(m)))
    assert len(docs) == len(m.owners) + len(plan.agents)
    for d in docs:
        if d["kind"] == "ConfigMap":
            assert d["metadata"]["labels"]["kubereach.io/sweep-id"] == "ab12cd34"
        else:
            assert all("ab12cd34" in c["name"] for c in d["spec"]["ephemeralContainers"])


def test_two_sweeps_never_share_a_name(demo_snapshot):
    from dataclasses import replace

    plan = build_plan(demo_snapshot, PlanOptions(source_mode=SourceMode.POD))
    a = render_manifests(plan, replace(META, source_mode=SourceMode.POD))
    b = render_manifests(plan, replace(META, sweep_id="99ff00ee", source_mode=SourceMode.POD))

    def names(m):
        return {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in m.documents()}

    assert not names(a) & names(b)


def test_agent_deadline_covers_worst_case_and_never_exceeds_the_sweep_deadline(demo_snapshot):
    from dataclasses import replace

    plan = build_plan(demo_snapshot, PlanOptions())
    agent = max(plan.agents, key=lambda a: len(a.jobs))
    slow = replace(META, concurrency=1, timeout_s=2, retries=2, deadline_s=1000)
    assert agent_deadline_s(slow, agent) >= len(agent.jobs) * 6
    assert agent_deadline_s(replace(slow, deadline_s=10), agent) == 10
