"""Every state of every method, produced for real between two network namespaces.

Namespace b serves TCP 8080 and UDP 5353 (kubereach listeners), and its iptables
INPUT turns the other ports into each case: nothing (closed), DROP (filtered), REJECT
admin-prohibited (filtered), REJECT host-unreachable (unreachable). Namespace a has
an ``unreachable`` route for 198.51.100.0/24 and drops 8085/TCP and 5358/UDP in its own
OUTPUT (a local policy: filtered; EPERM where the kernel says so, TCP retransmits).
"""

from __future__ import annotations

import pytest
from krp_helpers import A_V4, B_V4, B_V4_EXTRA, B_V6, NOWHERE, in_ns, probe_env, run_probe, spec_of, start_listener

pytestmark = pytest.mark.netns

IDENTITY = ("payments", "api-7d9", "app")


@pytest.fixture(scope="module")
def lab(netpair):
    b = netpair.b
    for cmd in ("iptables", "ip6tables"):
        admin = "icmp-admin-prohibited" if cmd == "iptables" else "adm-prohibited"
        host = "icmp-host-unreachable" if cmd == "iptables" else "addr-unreach"
        for proto, base in (("tcp", 8080), ("udp", 5353)):
            in_ns(b, cmd, "-A", "INPUT", "-p", proto, "--dport", str(base + 2), "-j", "DROP")
            in_ns(b, cmd, "-A", "INPUT", "-p", proto, "--dport", str(base + 3), "-j", "REJECT", "--reject-with", admin)
            in_ns(b, cmd, "-A", "INPUT", "-p", proto, "--dport", str(base + 4), "-j", "REJECT", "--reject-with", host)
    # the prober's own OUTPUT drops one port per protocol: the kernel says EPERM at once
    in_ns(netpair.a, "iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", "8085", "-j", "DROP")
    in_ns(netpair.a, "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "5358", "-j", "DROP")
    in_ns(netpair.a, "ip", "route", "add", "prohibit", "203.0.113.0/24")
    netpair.listeners.append(start_listener(b, "--tcp", "8080", "--udp", "5353", identity=IDENTITY))
    return netpair


TCP_CASES = [
    # port, state, connect evidence (prefix), syn evidence
    (8080, "open", "connected", "SYN-ACK"),
    (8081, "closed", "ECONNREFUSED", "RST"),
    (8082, "filtered", "timeout", "timeout"),
    (8083, "filtered", "ICMP 3/13", "ICMP 3/13"),
    (8084, "unreachable", "ICMP 3/1", "ICMP 3/1"),
    (8085, "filtered", "timeout", "EPERM"),  # TCP treats the local drop as loss
]
UDP_CASES = [
    (5353, "open", "reply"),
    (5354, "closed", "ICMP 3/3"),
    (5355, "filtered", "timeout"),
    (5356, "filtered", "ICMP 3/13"),
    (5357, "unreachable", "ICMP 3/1"),
    (5358, "filtered", "EPERM"),
]


def _by_port(doc: dict) -> dict:
    return {(r["address"], r["port"]): r for r in doc["results"]}


@pytest.fixture(scope="module")
def connect_doc(lab):
    targets = [{"address": B_V4, "port": p} for p, *_ in TCP_CASES]
    targets += [{"address": NOWHERE, "port": 80}, {"address": B_V4_EXTRA, "port": 8080}]
    return run_probe(lab.a, spec_of(targets))


@pytest.mark.parametrize("port,state,evidence,_syn", TCP_CASES)
def test_connect_classifies_each_case(connect_doc, port, state, evidence, _syn):
    r = _by_port(connect_doc)[(B_V4, port)]
    assert (r["state"], r["method_used"]) == (state, "connect")
    assert r["evidence"].startswith(evidence), r


def test_connect_reads_the_listener_identity(connect_doc):
    r = _by_port(connect_doc)[(B_V4, 8080)]
    assert r["identity"] == {
        "kind": "KubereachListener",
        "namespace": "payments",
        "pod": "api-7d9",
        "container": "app",
        "port": 8080,
        "protocol": "TCP",
    }
    # the second address of the same pod reaches the same listener
    assert _by_port(connect_doc)[(B_V4_EXTRA, 8080)]["identity"]["pod"] == "api-7d9"


def test_connect_to_unreachable_route_is_unreachable_with_errno(connect_doc):
    r = _by_port(connect_doc)[(NOWHERE, 80)]
    assert (r["state"], r["evidence"]) == ("unreachable", "EHOSTUNREACH")


def test_prohibit_route_is_filtered_for_every_method(lab):
    doc = run_probe(
        lab.a,
        spec_of(
            [
                {"address": "203.0.113.9", "port": 80},
                {"address": "203.0.113.9", "port": 80, "method": "syn"},
                {"address": "203.0.113.9", "port": 53, "protocol": "UDP"},
            ]
        ),
    )
    assert [(r["state"], r["evidence"]) for r in doc["results"]] == [
        ("filtered", "EACCES"),
        ("filtered", "EACCES"),
        ("filtered", "EACCES"),
    ]


def test_silence_uses_every_retry(connect_doc):
    assert _by_port(connect_doc)[(B_V4, 8082)]["attempts"] == 2
    assert _by_port(connect_doc)[(B_V4, 8081)]["attempts"] == 1


@pytest.fixture(scope="module")
def syn_doc(lab):
    targets = [{"address": B_V4, "port": p, "method": "syn"} for p, *_ in TCP_CASES]
    targets.append({"address": NOWHERE, "port": 80, "method": "syn"})
    return run_probe(lab.a, spec_of(targets))


@pytest.mark.parametrize("port,state,_connect,evidence", TCP_CASES)
def test_syn_classifies_each_case(syn_doc, port, state, _connect, evidence):
    r = _by_port(syn_doc)[(B_V4, port)]
    assert (r["state"], r["evidence"], r["method_used"]) == (state, evidence, "syn")
    assert syn_doc["agent"]["net_raw"] is True


def test_syn_to_unreachable_route_is_unreachable(syn_doc):
    r = _by_port(syn_doc)[(NOWHERE, 80)]
    assert (r["state"], r["evidence"]) == ("unreachable", "EHOSTUNREACH")


def test_syn_leaves_no_half_open_connection(lab, syn_doc):
    # our RST (and the kernel's) tore the SYN-RECV state down on the target
    out = in_ns(lab.b, "ss", "-Htn", "state", "syn-recv").stdout
    assert out.strip() == ""


@pytest.fixture(scope="module")
def udp_doc(lab):
    targets = [{"address": B_V4, "port": p, "protocol": "UDP"} for p, *_ in UDP_CASES]
    targets.append({"address": NOWHERE, "port": 53, "protocol": "UDP"})
    return run_probe(lab.a, spec_of(targets))


@pytest.mark.parametrize("port,state,evidence", UDP_CASES)
def test_udp_classifies_each_case(udp_doc, port, state, evidence):
    r = _by_port(udp_doc)[(B_V4, port)]
    assert (r["state"], r["method_used"]) == (state, "udp")
    assert r["evidence"].startswith(evidence), r


def test_udp_reply_carries_identity(udp_doc):
    ident = _by_port(udp_doc)[(B_V4, 5353)]["identity"]
    assert (ident["pod"], ident["port"], ident["protocol"]) == ("api-7d9", 5353, "UDP")


def test_udp_to_unreachable_route(udp_doc):
    assert _by_port(udp_doc)[(NOWHERE, 53)]["state"] == "unreachable"


IPV6_CASES = [
    (8080, "TCP", "open"),
    (8081, "TCP", "closed"),
    (8082, "TCP", "filtered"),
    (8083, "TCP", "filtered"),
    (8084, "TCP", "unreachable"),
    (5353, "UDP", "open"),
    (5354, "UDP", "closed"),
    (5355, "UDP", "filtered"),
    (5356, "UDP", "filtered"),
    (5357, "UDP", "unreachable"),
]


def test_ipv6_connect_and_udp_classify_each_case(lab):
    doc = run_probe(lab.a, spec_of([{"address": B_V6, "port": p, "protocol": proto} for p, proto, _ in IPV6_CASES]))
    got = [(r["port"], r["protocol"], r["state"]) for r in doc["results"]]
    assert got == IPV6_CASES, [(r["port"], r["state"], r["evidence"]) for r in doc["results"]]
    assert doc["results"][3]["evidence"].startswith("ICMPv6 1/1")


def test_syn_to_ipv6_falls_back_to_connect_and_says_so(lab):
    doc = run_probe(lab.a, spec_of([{"address": B_V6, "port": 8080, "method": "syn"}]))
    r = doc["results"][0]
    assert (r["state"], r["method"], r["method_used"]) == ("open", "syn", "connect")
    assert any("IPv6" in n for n in doc["notes"])


def test_syn_without_net_raw_falls_back_to_connect(lab):
    no_raw = ("setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw")
    doc = run_probe(
        lab.a,
        spec_of([{"address": B_V4, "port": 8080, "method": "syn"}, {"address": B_V4, "port": 8081, "method": "syn"}]),
        prefix=no_raw,
    )
    assert doc["agent"]["net_raw"] is False
    assert [(r["state"], r["method_used"]) for r in doc["results"]] == [("open", "connect"), ("closed", "connect")]
    assert "syn needs NET_RAW; used connect instead" in doc["notes"]


def test_sctp_is_skipped_with_its_reason_on_this_kernel(lab):
    doc = run_probe(lab.a, spec_of([{"address": B_V4, "port": 3868, "protocol": "SCTP"}]))
    r = doc["results"][0]
    import socket

    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError:
        assert (r["state"], r["evidence"]) == ("error", "sctp-unsupported")
        assert any("SCTP is not available" in n for n in doc["notes"])
    else:
        assert r["state"] == "closed"


@pytest.mark.parametrize("silent", [{"port": 8082}, {"port": 8082, "method": "syn"}, {"port": 5355, "protocol": "UDP"}])
def test_deadline_cuts_remaining_probes_but_every_target_has_a_result(lab, silent):
    targets = [{"id": f"t{i}", "address": B_V4, "timeout_s": 2, "retries": 0, **silent} for i in range(3)] + [
        {"id": "fast", "address": B_V4, "port": 8081}
    ]
    doc = run_probe(lab.a, spec_of(targets, deadline_s=0.5, concurrency=2))
    assert [r["id"] for r in doc["results"]] == ["t0", "t1", "t2", "fast"]
    assert doc["deadline_hit"] is True
    # concurrency 2: the two in flight and the two never started all end as "deadline"
    assert all(
        (r["state"], r["evidence"], r["attempts"], r["latency_ms"]) == ("error", "deadline", 0, None)
        for r in doc["results"]
    ), doc["results"]
    assert doc["duration_s"] < 1.5


@pytest.mark.parametrize("method", ["connect", "syn"])
def test_concurrency_bounds_the_probes_in_flight(lab, method):
    # ten silent probes of 0.4 s: two at a time take five rounds, ten at a time one
    targets = [{"address": B_V4, "port": 8082, "method": method}] * 10
    narrow = run_probe(lab.a, spec_of(targets, concurrency=2, timeout_s=0.4, retries=0))
    wide = run_probe(lab.a, spec_of(targets, concurrency=10, timeout_s=0.4, retries=0))
    for doc in (narrow, wide):
        assert {(r["state"], r["method_used"]) for r in doc["results"]} == {("filtered", method)}
    # (durations include set-up: importing scapy costs syn ~0.5 s, more under load)
    assert narrow["duration_s"] >= 1.95, narrow["duration_s"]
    assert narrow["duration_s"] - wide["duration_s"] >= 0.8, (narrow["duration_s"], wide["duration_s"])


def test_rate_limit_spaces_probe_starts_between_namespaces(lab):
    targets = [{"address": B_V4, "port": 8081}] * 5
    slow = run_probe(lab.a, spec_of(targets, rate_per_s=10))
    fast = run_probe(lab.a, spec_of(targets))
    assert {r["state"] for r in slow["results"]} == {"closed"}
    assert slow["duration_s"] >= 0.38  # 5 starts at 10/s: 4 intervals of 100 ms
    assert fast["duration_s"] < 0.3


def _check_attempts_and_latency(doc: dict, retries: int, timeout_s: float) -> None:
    for r in doc["results"]:
        where = f"{r['port']}: {r}"
        if r["evidence"] == "timeout":  # silence: every attempt used, nothing timed
            assert (r["attempts"], r["latency_ms"]) == (retries + 1, None), where
            assert f"{retries + 1}" in r["detail"], where
        elif r["evidence"] in ("connected", "reply", "SYN-ACK", "RST", "ECONNREFUSED") or r["evidence"].startswith(
            "ICMP"
        ):
            # an answer decides at the first attempt, and its latency is measured
            assert r["attempts"] == 1, where
            assert isinstance(r["latency_ms"], float) and 0 <= r["latency_ms"] < timeout_s * 1000, where
        else:  # a local errno: decided at once
            assert r["attempts"] == 1, where


def test_attempts_and_latency_of_every_method(connect_doc, syn_doc, udp_doc):
    for doc in (connect_doc, syn_doc, udp_doc):
        _check_attempts_and_latency(doc, retries=1, timeout_s=0.4)


def test_syn_run_by_a_non_root_uid_falls_back_to_connect_and_says_so(lab):
    nobody = ("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups")
    doc = run_probe(
        lab.a,
        spec_of([{"address": B_V4, "port": p, "method": "syn"} for p in (8080, 8081, 8082, 8083, 8084)]),
        prefix=nobody,
    )
    assert (doc["agent"]["uid"], doc["agent"]["net_raw"]) == (65532, False)
    assert [(r["state"], r["method"], r["method_used"]) for r in doc["results"]] == [
        ("open", "syn", "connect"),
        ("closed", "syn", "connect"),
        ("filtered", "syn", "connect"),
        ("filtered", "syn", "connect"),
        ("unreachable", "syn", "connect"),
    ]
    assert doc["results"][0]["identity"]["pod"] == "api-7d9"
    assert doc["notes"] == ["syn needs NET_RAW; used connect instead"]


def test_unprivileged_connect_and_udp_still_tell_admin_prohibited_from_unreachable(lab):
    # IP_RECVERR needs no capability: a non-root agent still reads the ICMP type and code
    nobody = ("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups")
    cases = [
        (8083, "TCP", "filtered", "ICMP 3/13 (EHOSTUNREACH)"),
        (8084, "TCP", "unreachable", "ICMP 3/1 (EHOSTUNREACH)"),
        (5353, "UDP", "open", "reply"),
        (5354, "UDP", "closed", "ICMP 3/3 (ECONNREFUSED)"),
        (5356, "UDP", "filtered", "ICMP 3/13 (EHOSTUNREACH)"),
        (5357, "UDP", "unreachable", "ICMP 3/1 (EHOSTUNREACH)"),
    ]
    doc = run_probe(
        lab.a, spec_of([{"address": B_V4, "port": p, "protocol": proto} for p, proto, *_ in cases]), prefix=nobody
    )
    assert doc["agent"]["uid"] == 65532
    assert [(r["port"], r["protocol"], r["state"], r["evidence"]) for r in doc["results"]] == cases


def test_scan_prints_one_line_per_host_and_port(lab):
    import subprocess

    from krp_helpers import PROBE, probe_env

    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.a,
            *PROBE,
            "scan",
            B_V4,
            B_V4_EXTRA,
            "-p",
            "8080-8082",
            "--timeout",
            "0.3",
            "--retries",
            "0",
        ],
        capture_output=True,
        text=True,
        env=probe_env(),
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["HOST", "PORT", "STATE", "EVIDENCE", "IDENTITY"]
    rows = [line.split()[:3] for line in lines[1:]]
    assert rows == [
        [B_V4, "8080/tcp", "open"],
        [B_V4, "8081/tcp", "closed"],
        [B_V4, "8082/tcp", "filtered"],
        [B_V4_EXTRA, "8080/tcp", "open"],
        [B_V4_EXTRA, "8081/tcp", "closed"],
        [B_V4_EXTRA, "8082/tcp", "filtered"],
    ]
    assert "payments/api-7d9/app" in lines[1]


def test_probing_side_a_address_is_unused_by_b(lab):
    # sanity: the link really is the only path (a's own address answers closed locally)
    doc = run_probe(lab.a, spec_of([{"address": A_V4, "port": 1}]))
    assert doc["results"][0]["state"] == "closed"


SNIFFER_CHECK = r"""
import asyncio, json, socket
from probe.methods.syn import SynBatch

async def main():
    batch = SynBatch()
    srv = socket.socket(); srv.bind(("127.0.0.1", 20000)); srv.listen(64)
    for i in range(50):      # unrelated traffic on low ports: the filter must drop it
        c = socket.socket(); c.bind(("127.0.0.1", 21000 + i)); c.connect(("127.0.0.1", 20000))
        srv.accept()[0].close(); c.close()
    await asyncio.sleep(0.1)
    out = await batch.probe("127.0.0.1", 20001, timeout_s=1, retries=0)
    print(json.dumps({"state": out.state, "evidence": out.evidence, **batch.stats}))
    batch.close()

asyncio.run(main())
"""


def test_syn_sniffer_filter_keeps_only_answers_to_our_probes(single_ns):
    import json as _json
    import subprocess

    from krp_helpers import PYTHON, REPO

    proc = subprocess.run(
        ["ip", "netns", "exec", single_ns, PYTHON, "-c", SNIFFER_CHECK],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    got = _json.loads(proc.stdout)
    assert (got["state"], got["evidence"]) == ("closed", "RST")
    # 50 connections made ~350 packets on lo; only the one RST answering our SYN got in
    assert (got["received"], got["matched"], got["sent"]) == (1, 1, 1)


def test_no_route_at_all_is_unreachable_with_enetunreach(lab):
    # namespace a has no default route: 2001:db8:99::/48 is nowhere in its table
    no_route = "2001:db8:99::1"
    doc = run_probe(
        lab.a,
        spec_of(
            [
                {"address": no_route, "port": 80},
                {"address": no_route, "port": 80, "method": "syn"},
                {"address": no_route, "port": 53, "protocol": "UDP"},
            ]
        ),
    )
    assert [(r["state"], r["evidence"], r["attempts"]) for r in doc["results"]] == [
        ("unreachable", "ENETUNREACH", 1)
    ] * 3


SPORT_EXHAUSTION = r"""
import asyncio, json
import probe.methods.syn as syn

syn.SPORT_RANGE = (40000, 40001)   # two source ports for six probes in flight to one port

async def main():
    batch = syn.SynBatch()
    outs = await asyncio.gather(*[batch.probe("127.0.0.1", 20001, timeout_s=1, retries=0)
                                  for _ in range(6)])
    batch.close()
    print(json.dumps([(o.state, o.evidence) for o in outs]))

asyncio.run(main())
"""


def test_syn_with_more_probes_in_flight_than_source_ports_waits_instead_of_spinning(single_ns):
    import json as _json
    import subprocess

    from krp_helpers import PYTHON, REPO

    proc = subprocess.run(
        ["ip", "netns", "exec", single_ns, PYTHON, "-c", SPORT_EXHAUSTION],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert _json.loads(proc.stdout) == [["closed", "RST"]] * 6
