"""Native sidecars on a real LabNode: an init container with ``restartPolicy: Always``
starts in its turn, keeps running, does not hold back the regular containers, and a
non-agent one answers on its declared ports like a regular container."""

from __future__ import annotations

import pytest
from krl_node_helpers import agent_container, listener_pod

pytestmark = pytest.mark.netns


def sidecar_pod(name: str) -> dict:
    """plain init ``setup`` -> native sidecar ``proxy`` (9901 'metrics') -> regular ``app`` (80)."""
    pod = listener_pod(name, ports=[(80, "TCP")])
    pod["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox", "ports": [{"containerPort": 7000}]},
        {
            "name": "proxy",
            "image": "envoy",
            "restartPolicy": "Always",
            "ports": [{"containerPort": 9901, "name": "metrics"}, {"containerPort": 9902, "protocol": "UDP"}],
        },
    ]
    return pod


def test_non_agent_native_sidecar_listens_on_its_ports_and_shows_running(node_factory):
    h = node_factory("enforce")
    st = h.run_pod(sidecar_pod("mesh"))
    h.run_pod(listener_pod("client"))
    setup, proxy = st["initContainerStatuses"]
    assert setup["state"]["terminated"]["exitCode"] == 0
    assert "running" in proxy["state"] and proxy["started"] is True
    assert "running" in st["containerStatuses"][0]["state"]
    ip = h.ip("default", "mesh")
    state, ident = h.probe(("default", "client"), ip, 9901)
    assert state == "open" and (ident["pod"], ident["container"], ident["port"]) == ("mesh", "proxy", 9901)
    state, ident = h.probe(("default", "client"), ip, 9902, "UDP")
    assert state == "open" and ident["container"] == "proxy"
    assert h.probe(("default", "client"), ip, 80)[1]["container"] == "app"
    assert h.probe(("default", "client"), ip, 7000)[0] == "closed"  # the plain init container has exited
    assert b"9901/TCP" in h.node.read_log("default", "mesh", "proxy")

    # The lab CNI resolves the named port on the sidecar: only 'metrics' is let in.
    only_metrics = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "metrics", "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": {"app": "mesh"}}, "ingress": [{"ports": [{"port": "metrics"}]}]},
    }
    h.sync(policies=[only_metrics])
    assert h.probe_many([(("default", "client"), ip, 9901, "TCP"), (("default", "client"), ip, 80, "TCP")]) == [
        "open",
        "filtered",
    ]


def test_agent_native_sidecar_runs_in_the_background_while_regular_containers_run(node_factory, tmp_path):
    h = node_factory("none")
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    pod = {
        "metadata": {"name": "side"},
        "spec": {
            "securityContext": {"runAsUser": 0},  # the marks live below root's 0700 tmp
            "initContainers": [
                agent_container("helper", f"echo up > {marks}/helper; exec sleep 30", restartPolicy="Always")
            ],
            "containers": [
                agent_container(
                    "main", f"for i in $(seq 100); do test -s {marks}/helper && exit 0; sleep 0.05; done; exit 9"
                )
            ],
        },
    }
    st = h.run_pod(pod, wait="Succeeded", timeout=20)
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    # While main ran, the sidecar ran too (it never finishes on its own: sleep 30).
    history = h.history[("default", "side")]
    assert any(
        "running" in s["containerStatuses"][0]["state"] and "running" in s["initContainerStatuses"][0]["state"]
        for s in history
    )
    # Once every regular container has exited, the sidecar is terminated, as the kubelet does.
    st = h.wait(
        ("default", "side"), lambda s: "terminated" in s["initContainerStatuses"][0]["state"], what="sidecar terminated"
    )
    assert st["phase"] == "Succeeded"
