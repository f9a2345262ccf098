"""Properties over generated pods: what the webhook injects, the real agent accepts; re-admission is a no-op."""

from __future__ import annotations

import contextlib
import io

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_helpers import decode_patch, init_config, make_review, patched

from probe import cli as probe_cli
from webhook.admission import Mode, Settings, review

NAMES = ["app", "sidecar", "metrics", "proxy"]


@st.composite
def pods(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True))
    assign = draw(st.booleans())
    uids = draw(st.lists(st.integers(1, 60000), min_size=len(names), max_size=len(names), unique=True))
    containers = []
    declared: dict[str, list[str]] = {}
    # ports are unique across the pod: a port declared twice is denied (tested elsewhere)
    all_ports = draw(
        st.lists(
            st.tuples(st.integers(1, 65535), st.sampled_from(["TCP", "UDP"])), max_size=3 * len(names), unique=True
        )
    )
    for i, (name, uid) in enumerate(zip(names, uids, strict=False)):
        ports = all_ports[i :: len(names)]
        declared[name] = [f"{p}/{proto}" for p, proto in ports]
        c = {"name": name, "image": "x", "ports": [{"containerPort": p, "protocol": proto} for p, proto in ports]}
        if not assign or draw(st.booleans()):
            c["securityContext"] = {"runAsUser": uid}
        containers.append(c)
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from([n for n in names if declared[n]] or [None]))
        if target is None:
            break
        source = draw(st.sampled_from(["*", *[n for n in names if n != target]]))
        rule = {"from": source, "to": target, "action": draw(st.sampled_from(["allow", "deny"]))}
        if draw(st.booleans()):
            rule["ports"] = draw(st.lists(st.sampled_from(declared[target]), min_size=1, unique=True))
        rules.append(rule)
    annotations = {
        "intrapod.kubereach.io/rules": yaml.safe_dump(
            {"default": draw(st.sampled_from(["allow", "deny"])), "rules": rules}
        )
    }
    if assign:
        annotations["intrapod.kubereach.io/assign-uids"] = "true"
    init = draw(st.sampled_from([None, [], [{"name": "mesh-init", "image": "mesh"}]]))
    # some of the named containers are native sidecars: they take part exactly like containers
    sidecars = draw(st.sets(st.sampled_from(names), max_size=len(names) - 1))
    for c in containers:
        if c["name"] in sidecars:
            c["restartPolicy"] = "Always"
    regular = [c for c in containers if c["name"] not in sidecars]
    native = [c for c in containers if c["name"] in sidecars]
    pod = {
        "metadata": {"name": "p", "namespace": "shop", "annotations": annotations},
        "spec": {"containers": regular},
    }
    if init is not None or native:
        pod["spec"]["initContainers"] = (init or []) + native
    return pod


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods())
def test_injected_config_is_accepted_by_the_agent_and_readmission_adds_nothing(tmp_path_factory, pod):
    out = review(make_review(pod), Mode.MUTATE, Settings())
    assert out["response"]["allowed"], out["response"].get("status")
    final = patched(pod, out)
    assert final["spec"]["initContainers"][0]["name"] == "kubereach-intrapod"
    taking_part = {c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])} - {"mesh-init"}
    assert {c["name"] for c in init_config(final)["containers"]} == taking_part
    assert len(final["spec"]["initContainers"]) == len(pod["spec"].get("initContainers") or []) + 1
    uids = [c["uid"] for c in init_config(final)["containers"]]
    assert len(set(uids)) == len(uids) and 0 not in uids

    # the file the downward-API volume projects, read by the real agent CLI
    config_file = tmp_path_factory.mktemp("config") / "config"
    config_file.write_text(final["metadata"]["annotations"]["intrapod.kubereach.io/config"])
    cmd = final["spec"]["initContainers"][0]["command"]
    assert cmd[3] == "--config-file"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = probe_cli.main(["intrapod", "render", "--config-file", str(config_file)])
    assert rc == 0, stderr.getvalue()
    assert "KUBEREACH-INTRAPOD" in stdout.getvalue()

    assert decode_patch(review(make_review(final), Mode.MUTATE, Settings())) == []
    assert review(make_review(final), Mode.VALIDATE, Settings())["response"]["allowed"] is True
