"""Pure pieces of the node: reading pod specs, wrapping container commands, names, status."""

from __future__ import annotations

import pytest

from lab.node import names
from lab.node.podspec import container_argv, container_env, expand, listener_ports, run_as
from lab.node.processes import DEFAULT_CAPABILITIES, VENV_BIN, ProcessSpec, container_capabilities, wrap
from lab.node.status import ContainerState

POD = {
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "supplementalGroups": [5], "fsGroup": 7}},
}


@pytest.mark.parametrize(
    "container, expected",
    [
        ({}, (1000, 2000, (5, 7))),
        ({"securityContext": {"runAsUser": 0}}, (0, 2000, (5, 7))),
        ({"securityContext": {"runAsUser": 4, "runAsGroup": 4}}, (4, 4, (5, 7))),
    ],
)
def test_effective_uid_is_the_containers_else_the_pods(container, expected):
    assert run_as(POD, container) == expected


def test_no_security_context_means_the_image_default_root_for_ordinary_images():
    assert run_as({"spec": {}}, {"image": "nginx"}) == (0, 0, ())


def test_env_resolves_values_field_refs_and_identity_defaults():
    c = {
        "name": "probe",
        "env": [
            {"name": "A", "value": "x"},
            {"name": "B", "value": "$(A)-$(MISSING)-$$(A)"},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "KUBEREACH_CONTAINER", "value": "custom"},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
    }
    env = container_env(POD, c, pod_ip="10.244.0.9", host_ip="169.254.1.1", node_name="krl-node")
    assert env["B"] == "x-$(MISSING)-$(A)"
    assert (env["IP"], env["NODE"], env["APP"], env["SECRET"]) == ("10.244.0.9", "krl-node", "web", "")
    assert (env["KUBEREACH_NAMESPACE"], env["KUBEREACH_POD"], env["KUBEREACH_CONTAINER"]) == ("shop", "web-1", "custom")
    assert env["HOSTNAME"] == "web-1" and env["PATH"].startswith(f"{VENV_BIN}:")  # kubereach-probe first


def test_command_replaces_the_entrypoint_and_args_expand():
    assert container_argv({"args": ["run", "--spec", "$(S)"]}, {"S": "{}"}) == [
        "kubereach-probe",
        "run",
        "--spec",
        "{}",
    ]
    assert container_argv({"command": ["sh", "-c"], "args": ["echo $(X)"]}, {"X": "1"}) == ["sh", "-c", "echo 1"]
    assert expand("$$(X)", {"X": "1"}) == "$(X)"


def test_listener_ports_keep_tcp_and_udp_and_note_sctp():
    ports, notes = listener_ports(
        {
            "ports": [
                {"containerPort": 80},
                {"containerPort": 53, "protocol": "UDP"},
                {"containerPort": 80},
                {"containerPort": 9, "protocol": "SCTP"},
            ]
        }
    )
    assert [(p.port, p.protocol) for p in ports] == [(80, "TCP"), (53, "UDP")]
    assert notes and "SCTP" in notes[0]


@pytest.mark.parametrize(
    "sc, expected",
    [
        ({}, DEFAULT_CAPABILITIES),
        ({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}, frozenset({"NET_ADMIN"})),
        ({"capabilities": {"drop": ["NET_RAW"]}}, DEFAULT_CAPABILITIES - {"NET_RAW"}),
        ({"capabilities": {"add": ["CAP_SYS_TIME"]}}, DEFAULT_CAPABILITIES | {"SYS_TIME"}),
        ({"privileged": True}, None),
        ({"capabilities": {"add": ["ALL"]}}, None),
    ],
)
def test_capabilities_follow_the_runtime_default_set(sc, expected):
    assert container_capabilities(sc) == expected


def test_unknown_capabilities_are_refused_by_name():
    with pytest.raises(ValueError, match="NET_FOO"):
        container_capabilities({"capabilities": {"add": ["NET_FOO"]}})


def test_wrap_drops_to_the_uid_and_bounds_root():
    user = wrap(["/bin/id"], ProcessSpec(("id",), {}, 1000, 1000, hostname="p"), None)
    assert user[:6] == ["unshare", "--mount", "--uts", "--propagation", "private", "--"]
    assert "--reuid=1000" in user and "--clear-groups" in user and user[-1] == "/bin/id"
    assert not any(a.startswith("--bounding-set") for a in user)
    root = wrap(["/bin/id"], ProcessSpec(("id",), {}, 0, 0, capabilities=frozenset({"NET_ADMIN"})), None)
    assert "--bounding-set=-all,+net_admin" in root and "--reuid=0" not in root


def test_names_fit_interface_limits_and_refuse_unsafe_ids():
    n = names.InstanceNames("3fa2b1")
    assert (n.node_netns(2), n.pod_netns(2, 7), n.pod_link(99999)) == (
        "krl-3fa2b1-node2",
        "krl-3fa2b1-2-7",
        "krl3fa2b1p99999",
    )
    assert all(len(x) <= 15 for x in (n.pod_link(99999), n.ext_link, n.node_link(15), n.bridge))
    cidr = names.node_pod_cidr(1)
    assert str(cidr) == "10.244.16.0/20" and names.node_ip(1) == "172.18.0.11"
    assert names.pod_ip(cidr, 1) == "10.244.16.1" and names.pod_ip(cidr, 255) == "10.244.17.1"
    assert names.pod_ip(cidr, names.pods_per_node()) == "10.244.31.254"
    with pytest.raises(ValueError):
        names.pod_ip(cidr, names.pods_per_node() + 1)
    with pytest.raises(ValueError):
        names.node_pod_cidr(names.MAX_NODES)
    with pytest.raises(ValueError):
        names.InstanceNames("x/../y")


def test_terminated_container_status_has_exit_code_reason_and_times():
    st = ContainerState("app", "img").running().terminated(3).to_dict("uid")
    term = st["state"]["terminated"]
    assert (term["exitCode"], term["reason"], st["ready"]) == (3, "Error", False)
    assert term["startedAt"] and term["finishedAt"] and st["containerID"] == "kubereach-lab://uid/app"


def test_agent_image_defaults_to_its_non_root_user_and_entrypoint():
    agent = {"name": "a", "image": "ghcr.io/kubereach/agent:0.1.0"}
    assert run_as({"spec": {}}, agent) == (65532, 65532, ())
    assert container_argv(agent, {}) == ["kubereach-probe", "--help"]
    assert container_argv({**agent, "command": ["kubereach-probe"]}, {}) == ["kubereach-probe"]


def test_run_as_non_root_refuses_a_root_container():
    with pytest.raises(ValueError, match="runAsNonRoot"):
        run_as({"spec": {"securityContext": {"runAsNonRoot": True}}}, {"securityContext": {"runAsUser": 0}})
    # a container-level runAsNonRoot: false overrides the pod's true (the intra-pod init container)
    assert (
        run_as(
            {"spec": {"securityContext": {"runAsNonRoot": True}}},
            {"securityContext": {"runAsUser": 0, "runAsNonRoot": False}},
        )[0]
        == 0
    )


@pytest.mark.netns
def test_mount_view_reaches_nested_blocked_directories_with_the_state_beside_them(tmp_path):
    """A checkout two 0700 levels down, the lab's state dir a sibling inside the same
    blocked directories (a pytest tmp dir holds both): a non-root UID reaches the
    checkout through the view, sees nothing else of the blocked directories, and the
    stand-ins live outside them."""
    import os
    import subprocess
    import uuid

    from lab.node.processes import mount_view_for, remove_view_dir, view_dir

    if os.geteuid() != 0:
        pytest.skip("mount namespaces need root")
    top = tmp_path / "a"
    (top / "b" / "state").mkdir(parents=True)
    (top / "b" / "private" / "repo" / "venv").mkdir(parents=True)
    (top / "b" / "secret.txt").write_text("not for containers")
    for d in (top, top / "b", top / "b" / "private"):
        d.chmod(0o700)
    instance = f"test-{uuid.uuid4().hex[:8]}"
    view = mount_view_for(view_dir(instance), [top / "b" / "private" / "repo" / "venv"])
    try:
        assert view is not None and [s.blocked for s in view.steps][-3:] == [top, top / "b", top / "b" / "private"]
        target = top / "b" / "private" / "repo" / "venv"
        script = (
            f"{view.script()} && setpriv --reuid=1000 --regid=1000 --clear-groups ls -d {target}"
            f" && setpriv --reuid=1000 --regid=1000 --clear-groups ls {top / 'b'}"
        )
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [str(target), "private"]  # secret.txt and state stay hidden
    finally:
        remove_view_dir(instance)
