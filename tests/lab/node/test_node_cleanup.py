"""``cleanup_instance``: what `lab down` falls back to when the daemon died."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
from krl_node_helpers import agent_container, listener_pod

from lab.node import LabPool, cleanup_instance
from lab.node.netns import in_ns_argv, list_netns, pids_in_netns

pytestmark = pytest.mark.netns


def test_cleanup_instance_removes_namespaces_and_processes_of_a_node_that_was_never_shut_down(node_factory):
    h = node_factory("enforce")
    h.run_pod(listener_pod("web"))
    h.run_pod({"metadata": {"name": "agent"}, "spec": {"containers": [agent_container("s", "sleep 120", uid=1000)]}})
    prefix = h.node.names.netns_prefix
    pod_ns = h.node.pod_netns("default", "agent")
    pids = pids_in_netns(pod_ns)
    assert pids
    # A stray process in the node namespace too (as if left by a crashed tool).
    stray = subprocess.Popen(in_ns_argv(h.node.node_netns, ["sleep", "120"]), start_new_session=True)
    try:
        cleanup_instance(h.node.names.instance_id)  # as `lab down` does after a crash
        assert list_netns(prefix) == []
        assert stray.wait(5) == -9
        for pid in pids:
            assert (
                not os.path.exists(f"/proc/{pid}")
                or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            )
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_cleanup_instance_leaves_other_instances_alone(node_factory):
    mine, other = node_factory("none"), node_factory("none")
    mine.run_pod(listener_pod("a"))
    other.run_pod(listener_pod("b"))
    cleanup_instance(mine.node.names.instance_id)
    assert list_netns(mine.node.names.netns_prefix) == []
    assert len(list_netns(other.node.names.netns_prefix)) == 4  # fabric, ext, node0 and b
    ip = other.ip("default", "b")
    other.run_pod(listener_pod("c"))
    assert other.probe(("default", "c"), ip, 80)[0] == "open"


def test_cleanup_of_an_unknown_instance_is_a_no_op():
    cleanup_instance("zz" + secrets.token_hex(2))


def test_instance_ids_that_could_escape_the_prefix_are_refused():
    for bad in ("", "a-b", "../x", "a" * 17, "a b"):
        with pytest.raises(ValueError):
            LabPool(bad, "none", "/tmp")
        with pytest.raises(ValueError):
            cleanup_instance(bad)


def test_cni_mode_is_validated():
    with pytest.raises(ValueError, match="enforce"):
        LabPool("abc", "calico", "/tmp")
