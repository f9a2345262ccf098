"""Pods on a real LabNode: namespaces, addresses, listeners, agent processes, lifecycle."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from krl_node_helpers import agent_container, listener_pod

from lab.node import EXTERNAL_HOSTS
from lab.node.netns import in_ns_argv, list_netns
from lab.runtime import LogNotFound

pytestmark = pytest.mark.netns


def test_pods_reach_each_other_and_listeners_answer_with_identity_on_tcp_and_udp(node_factory):
    h = node_factory("none")
    a = h.run_pod(listener_pod("a", ports=[(80, "TCP"), (53, "UDP")]))
    h.run_pod(listener_pod("b", namespace="shop", ports=[(8080, "TCP"), (5353, "UDP")]))
    assert a["podIP"].startswith("10.244.") and a["podIPs"] == [{"ip": a["podIP"]}]
    b_ip = h.ip("shop", "b")

    state, ident = h.probe(("default", "a"), b_ip, 8080, "TCP")
    assert state == "open"
    assert ident == {
        "kind": "KubereachListener",
        "namespace": "shop",
        "pod": "b",
        "container": "app",
        "port": 8080,
        "protocol": "TCP",
    }
    state, ident = h.probe(("shop", "b"), h.ip("default", "a"), 53, "UDP")
    assert (state, ident["pod"], ident["protocol"]) == ("open", "a", "UDP")
    # A port nobody declared is closed, not filtered: the packet reached the pod's stack.
    assert h.probe(("default", "a"), b_ip, 9999, "TCP")[0] == "closed"


def test_running_status_has_the_fields_clients_read(node_factory):
    h = node_factory("none")
    st = h.run_pod(listener_pod("web"))
    assert st["phase"] == "Running" and st["hostIP"] and st["startTime"]
    (cs,) = st["containerStatuses"]
    assert cs["name"] == "app" and cs["ready"] is True and "running" in cs["state"]
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"


def test_fake_external_hosts_answer_from_documentation_ranges(node_factory):
    h = node_factory("none")
    h.run_pod(listener_pod("a"))
    for host in EXTERNAL_HOSTS:
        state, ident = h.probe(("default", "a"), host, 80, "TCP")
        assert state == "open" and ident["pod"] == host
    assert h.probe(("default", "a"), EXTERNAL_HOSTS[0], 53, "UDP")[0] == "open"


def test_agent_container_runs_as_its_uid_in_the_pods_namespace_with_downward_env(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "ag", "namespace": "default"},
        "spec": {
            "securityContext": {"runAsUser": 2000, "runAsGroup": 3000},
            "containers": [
                agent_container(
                    "probe",
                    "echo uid=$(id -u) gid=$(id -g) caps=$(grep CapEff /proc/self/status | cut -f2); "
                    "ip -4 -o addr show eth0; echo env=$KUBEREACH_NAMESPACE/$KUBEREACH_POD/"
                    "$KUBEREACH_CONTAINER ip=$MY_IP; echo $(NAME_REF)",
                    env=[
                        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "NAME_REF", "value": "pod-$(MY_IP)"},
                    ],
                )
            ],
        },
    }
    st = h.run_pod(pod, wait="Succeeded")
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    out = h.node.read_log("default", "ag", "probe").decode()
    ip = st["podIP"]
    assert "uid=2000 gid=3000 caps=0000000000000000" in out
    assert f"inet {ip}/32" in out
    assert f"env=default/ag/probe ip={ip}" in out
    assert f"pod-{ip}" in out  # $(VAR) expansion in env values, then in args


def test_container_security_context_overrides_the_pods_uid(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "ag2"},
        "spec": {
            "securityContext": {"runAsUser": 2000},
            "containers": [agent_container("a", "id -u", uid=4242), agent_container("b", "id -u")],
        },
    }
    h.run_pod(pod, wait="Succeeded")
    assert h.node.read_log("default", "ag2", "a").strip() == b"4242"
    assert h.node.read_log("default", "ag2", "b").strip() == b"2000"


def test_kubereach_probe_run_reaches_a_listener_and_reads_its_identity(node_factory):
    h = node_factory("none")
    h.run_pod(listener_pod("target", ports=[(8080, "TCP")]))
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "id": "t",
        "deadline_s": 10,
        "timeout_s": 1,
        "targets": [
            {"id": "0", "address": h.ip("default", "target"), "port": 8080, "protocol": "TCP", "method": "connect"}
        ],
    }
    pod = {
        "metadata": {"name": "src"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "agent",
                    "image": "ghcr.io/kubereach/agent:0.1.0",
                    "args": ["run", "--spec", json.dumps(spec)],
                    "securityContext": {"runAsUser": 1000},
                }
            ],
        },
    }
    st = h.run_pod(pod, wait="Succeeded", timeout=30)
    assert st["phase"] == "Succeeded"
    from probe.schema import find_result_document

    doc = find_result_document(h.node.read_log("default", "src", "agent").decode())
    assert doc is not None and doc["agent"]["uid"] == 1000
    (res,) = doc["results"]
    assert res["state"] == "open" and res["identity"]["pod"] == "target"


def test_init_containers_run_in_order_to_completion_before_containers(node_factory, tmp_path):
    h = node_factory("none")
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    pod = {
        "metadata": {"name": "init"},
        "spec": {
            "securityContext": {"runAsUser": 0},  # the marks live below root's 0700 tmp
            "initContainers": [
                agent_container("first", f"sleep 0.3; echo 1 >> {marks}/order"),
                agent_container("second", f"test -s {marks}/order && echo 2 >> {marks}/order"),
            ],
            "containers": [agent_container("main", f"echo 3 >> {marks}/order; cat {marks}/order")],
        },
    }
    st = h.run_pod(pod, wait="Succeeded")
    assert (marks / "order").read_text().split() == ["1", "2", "3"]
    assert [c["state"]["terminated"]["exitCode"] for c in st["initContainerStatuses"]] == [0, 0]
    # While an init container ran, the pod was Pending and the app container waited.
    first_running = next(
        s for s in h.history[("default", "init")] if "running" in s["initContainerStatuses"][0]["state"]
    )
    assert first_running["phase"] == "Pending"
    assert first_running["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_a_failing_init_container_fails_the_pod_and_nothing_after_it_runs(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "badinit"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [agent_container("boom", "exit 7"), agent_container("never", "true")],
            "containers": [listener_pod("x")["spec"]["containers"][0]],
        },
    }
    st = h.run_pod(pod, wait="Failed")
    boom, never = st["initContainerStatuses"]
    assert boom["state"]["terminated"]["exitCode"] == 7
    assert "waiting" in never["state"]
    assert "waiting" in st["containerStatuses"][0]["state"]


def test_pod_succeeds_only_when_every_container_exits_zero(node_factory):
    h = node_factory("none")
    h.run_pod({"metadata": {"name": "ok"}, "spec": {"containers": [agent_container("a", "true")]}}, wait="Succeeded")
    st = h.run_pod(
        {
            "metadata": {"name": "bad"},
            "spec": {"containers": [agent_container("a", "true"), agent_container("b", "exit 3")]},
        },
        wait="Failed",
    )
    codes = {c["name"]: c["state"]["terminated"]["exitCode"] for c in st["containerStatuses"]}
    assert codes == {"a": 0, "b": 3}


def test_ephemeral_container_shares_the_pods_address_and_runs_as_its_uid(node_factory):
    h = node_factory("none")
    pod = listener_pod("web")
    st = h.run_pod(pod)
    eph = agent_container("debugger", "id -u; ip -4 -o addr show eth0", uid=1234)
    stored = {**h.pods[("default", "web")]}
    stored["spec"] = {**stored["spec"], "ephemeralContainers": [eph]}
    h.call(h.node.add_ephemeral_container(stored, eph, h.reporter(("default", "web"))))
    st = h.wait(
        ("default", "web"),
        lambda s: any("terminated" in e["state"] for e in s.get("ephemeralContainerStatuses", [])),
        what="ephemeral container exit",
    )
    assert st["ephemeralContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert st["phase"] == "Running"  # ephemeral containers never end the pod
    log = h.node.read_log("default", "web", "debugger").decode()
    assert log.splitlines()[0] == "1234" and f"inet {st['podIP']}/32" in log


def test_active_deadline_kills_the_containers_and_fails_the_pod(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "slow"},
        "spec": {
            "activeDeadlineSeconds": 1,
            "restartPolicy": "Never",
            "containers": [agent_container("sleeper", "sleep 60"), listener_pod("x")["spec"]["containers"][0]],
        },
    }
    h.run_pod(pod)
    ip = h.ip("default", "slow")
    st = h.wait_phase(("default", "slow"), "Failed", timeout=8)
    assert st["reason"] == "DeadlineExceeded"
    assert {c["name"]: c["state"]["terminated"]["exitCode"] for c in st["containerStatuses"]} == {
        "sleeper": 137,
        "app": 137,
    }
    h.run_pod(listener_pod("other"))
    assert h.probe(("default", "other"), ip, 80)[0] != "open"  # its listeners are gone too


def test_read_log_names_what_is_missing(node_factory):
    h = node_factory("none")
    h.run_pod(listener_pod("web"))
    assert b"answers on 80/TCP" in h.node.read_log("default", "web", "app")
    with pytest.raises(LogNotFound):
        h.node.read_log("default", "web", "nope")
    with pytest.raises(LogNotFound):
        h.node.read_log("default", "ghost", "app")


def test_stop_pod_kills_processes_and_removes_its_namespace(node_factory):
    h = node_factory("none")
    h.run_pod({"metadata": {"name": "busy"}, "spec": {"containers": [agent_container("s", "sleep 60")]}})
    netns = h.node.pod_netns("default", "busy")
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    assert out, "the container process lives in the pod's namespace"
    h.call(h.node.stop_pod("default", "busy"))
    assert netns not in list_netns(h.node.names.netns_prefix)
    for pid in out:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    with pytest.raises(LogNotFound):
        h.node.read_log("default", "busy", "s")


def test_unknown_program_fails_the_container_with_a_start_error(node_factory):
    h = node_factory("none")
    st = h.run_pod(
        {
            "metadata": {"name": "nocmd"},
            "spec": {
                "containers": [
                    {"name": "x", "image": "ghcr.io/kubereach/agent:0.1.0", "command": ["/nonexistent/prog"]}
                ]
            },
        },
        wait="Failed",
    )
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 128 and term["reason"] == "StartError"
    assert b"cannot start" in h.node.read_log("default", "nocmd", "x")


def _host_view() -> dict[str, str]:
    import re

    def run(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout

    ipt = "\n".join(line for line in run("iptables-save").splitlines() if not line.startswith("#"))
    return {
        "link": re.sub(r"\d+ bytes", "", run("ip", "-o", "link")),
        "iptables": re.sub(r"\[\d+:\d+\]", "", ipt),
        "ipset": run("ipset", "list", "-n"),
    }


def test_shutdown_leaves_the_host_exactly_as_before(node_factory):
    before = _host_view()
    h = node_factory("enforce")
    for i in range(3):
        h.run_pod(listener_pod(f"p{i}"))
    h.run_pod({"metadata": {"name": "agent"}, "spec": {"containers": [agent_container("s", "sleep 60")]}})
    h.sync(
        policies=[
            {
                "metadata": {"name": "deny", "namespace": "default"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        ]
    )
    assert h.node.ruleset is not None and h.node.ruleset.ipsets == ()
    prefix = h.node.names.netns_prefix
    assert len(list_netns(prefix)) == 7  # fabric, ext, node and four pods
    h.call(h.pool.shutdown(), timeout=60)
    # Other labs may come and go meanwhile, so namespaces are checked by this node's prefix.
    assert list_netns(prefix) == []
    assert not [
        line
        for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith(prefix)
    ]
    after = _host_view()
    assert after == before


def test_agent_sees_the_pod_name_as_hostname_and_root_is_bounded_by_its_capabilities(node_factory):
    h = node_factory("none")
    caps = "grep CapEff /proc/self/status | cut -f2; hostname"
    pod = {
        "metadata": {"name": "capsy"},
        "spec": {
            "containers": [
                agent_container(
                    "init-like",
                    caps,
                    uid=0,
                    **{"securityContext": {"runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}},
                ),
                agent_container("plain-root", caps, uid=0),
                agent_container("privileged", caps, uid=0, **{"securityContext": {"privileged": True}}),
                agent_container("image-user", "id -u"),
            ]
        },
    }
    h.run_pod(pod, wait="Succeeded")
    log = lambda c: h.node.read_log("default", "capsy", c).decode().split()  # noqa: E731
    assert log("init-like") == ["0000000000001000", "capsy"]  # CAP_NET_ADMIN (bit 12) only
    default = int(log("plain-root")[0], 16)
    assert default & (1 << 13) and not default & (1 << 12)  # NET_RAW yes, NET_ADMIN no
    assert int(log("privileged")[0], 16) & (1 << 21)  # CAP_SYS_ADMIN
    assert log("image-user") == ["65532"]  # the agent image's USER


def test_root_init_container_with_net_admin_can_install_iptables_rules_in_the_pod_only(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "ipt"},
        "spec": {
            "initContainers": [
                agent_container(
                    "rules",
                    "iptables -N KRL-TEST-INTRAPOD && iptables -A OUTPUT -o lo -j KRL-TEST-INTRAPOD",
                    **{
                        "securityContext": {
                            "runAsUser": 0,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
                        }
                    },
                )
            ],
            "containers": [agent_container("show", "iptables -S OUTPUT || echo denied", uid=1000)],
        },
    }
    h.run_pod(pod, wait="Succeeded")
    assert b"denied" in h.node.read_log("default", "ipt", "show")  # non-root: no NET_ADMIN
    out = subprocess.run(
        in_ns_argv(h.node.pod_netns("default", "ipt"), ["iptables", "-S", "OUTPUT"]), capture_output=True, text=True
    ).stdout
    assert "-A OUTPUT -o lo -j KRL-TEST-INTRAPOD" in out
    assert "KRL-TEST-INTRAPOD" not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def test_pod_sysctls_apply_inside_the_pod_only_and_non_root_may_bind_low_ports(node_factory):
    h = node_factory("none")
    host_before = Path("/proc/sys/net/ipv4/tcp_syncookies").read_text()
    shm_before = Path("/proc/sys/kernel/shm_rmid_forced").read_text()
    pod = {
        "metadata": {"name": "tuned"},
        "spec": {
            "securityContext": {
                "sysctls": [
                    {"name": "net.ipv4.tcp_syncookies", "value": "0"},
                    {"name": "kernel.shm_rmid_forced", "value": "1"},
                ]
            },
            "containers": [
                agent_container(
                    "a",
                    "cat /proc/sys/net/ipv4/tcp_syncookies; "
                    'python3 -c \'import socket; s=socket.socket(); s.bind(("0.0.0.0", 80)); print("bound")\'',
                    uid=1000,
                )
            ],
        },
    }
    h.run_pod(pod, wait="Succeeded")
    assert h.node.read_log("default", "tuned", "a").split() == [b"0", b"bound"]
    assert Path("/proc/sys/net/ipv4/tcp_syncookies").read_text() == host_before
    assert Path("/proc/sys/kernel/shm_rmid_forced").read_text() == shm_before  # refused: not namespaced


def test_processes_a_container_leaves_behind_die_with_it(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "forker"},
        "spec": {
            "containers": [
                agent_container("a", "sleep 300 & echo $!; exit 0"),
                listener_pod("x")["spec"]["containers"][0],
            ]
        },
    }
    h.run_pod(pod)
    h.wait(("default", "forker"), lambda s: "terminated" in s["containerStatuses"][0]["state"], what="exit")
    child = int(h.node.read_log("default", "forker", "a").split()[0])
    for _ in range(100):
        if not Path(f"/proc/{child}").exists() or " Z " in Path(f"/proc/{child}/stat").read_text():
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the container's child outlived it")


def test_run_as_non_root_with_a_root_uid_keeps_the_container_waiting_like_the_kubelet(node_factory):
    h = node_factory("none")
    pod = {
        "metadata": {"name": "nonroot"},
        "spec": {"securityContext": {"runAsNonRoot": True}, "containers": [agent_container("a", "true", uid=0)]},
    }
    st = h.run_pod(pod, wait=None)
    st = h.wait(
        ("default", "nonroot"),
        lambda s: (
            "waiting" in s["containerStatuses"][0]["state"]
            and s["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
        ),
        what="config error",
    )
    assert st["phase"] == "Pending"


def test_the_node_has_no_way_out_of_the_lab(node_factory):
    h = node_factory("none")
    h.run_pod(listener_pod("a"))
    node = h.node.node_netns
    routes = subprocess.run(["ip", "-n", node, "route"], capture_output=True, text=True).stdout
    assert "default" not in routes
    out = subprocess.run(["ip", "-n", node, "route", "get", "8.8.8.8"], capture_output=True, text=True)
    assert out.returncode != 0 and "unreachable" in out.stderr.lower()
    links = subprocess.run(["ip", "-n", node, "-o", "link"], capture_output=True, text=True).stdout.splitlines()
    kinds = {line.split(":")[1].strip().split("@")[0] for line in links}
    assert kinds == {"lo", "eth0", h.node.names.pod_link(1)}  # the uplink to the node network, one pod


def test_intra_pod_rules_from_the_real_init_container_hold_for_ephemeral_agents(node_factory):
    """The flow the intra-pod webhook relies on: a root init container with NET_ADMIN installs
    the rules, then agents running as each container's UID probe localhost."""
    h = node_factory("none")
    config = {
        "rules": json.dumps(
            {"default": "allow", "rules": [{"from": "side", "to": "app", "ports": [8080], "action": "deny"}]}
        ),
        "containers": [
            {"name": "app", "uid": 1001, "ports": ["8080/TCP"]},
            {"name": "side", "uid": 1002, "ports": ["9000/TCP"]},
        ],
    }
    pod = {
        "metadata": {"name": "guarded"},
        "spec": {
            "initContainers": [
                {
                    "name": "kubereach-intrapod",
                    "image": "ghcr.io/kubereach/agent:0.1.0",
                    "command": ["kubereach-probe", "intrapod", "apply", "--config", json.dumps(config)],
                    "securityContext": {
                        "runAsUser": 0,
                        "runAsNonRoot": False,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
                    },
                }
            ],
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    "ports": [{"containerPort": 8080}],
                    "securityContext": {"runAsUser": 1001},
                },
                {
                    "name": "side",
                    "image": "envoy",
                    "ports": [{"containerPort": 9000}],
                    "securityContext": {"runAsUser": 1002},
                },
            ],
        },
    }
    h.run_pod(pod)
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "id": "ip",
        "deadline_s": 10,
        "timeout_s": 1,
        "targets": [{"id": "0", "address": "127.0.0.1", "port": 8080, "protocol": "TCP", "method": "connect"}],
    }
    stored = h.pods[("default", "guarded")]
    for name, uid in (("as-side", 1002), ("as-other", 1003)):
        eph = {
            "name": name,
            "image": "ghcr.io/kubereach/agent:0.1.0",
            "args": ["run", "--spec", json.dumps(spec)],
            "securityContext": {"runAsUser": uid},
        }
        h.call(h.node.add_ephemeral_container(stored, eph, h.reporter(("default", "guarded"))))
    h.wait(
        ("default", "guarded"),
        lambda s: sum("terminated" in e["state"] for e in s.get("ephemeralContainerStatuses", [])) == 2,
        what="agents",
    )
    from probe.schema import find_result_document

    states = {
        n: find_result_document(h.node.read_log("default", "guarded", n).decode())["results"][0]["state"]
        for n in ("as-side", "as-other")
    }
    assert states == {"as-side": "closed", "as-other": "open"}  # denied TCP is reset, so it shows as closed
