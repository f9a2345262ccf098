"""The agent under awkward conditions a real cluster produces; loopback traffic only.

A tiny fd limit, thousands of probes to one listener, servers that accept but never
speak (or never stop speaking), huge and hostile ``z:`` specs, the scan port parser.
"""

from __future__ import annotations

import base64
import contextlib
import json
import resource
import socket
import subprocess
import threading
import time
import zlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from krp_helpers import PROBE, REPO, probe_env

from probe import spec as spec_mod
from probe.scan import parse_ports
from probe.spec import SpecError, decode_spec_text, encode_spec, parse_spec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(spec: dict, *, preexec=None, timeout: float = 60) -> dict:
    proc = subprocess.run(
        [*PROBE, "run"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=timeout,
        preexec_fn=preexec,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def spec_of(targets: list[dict], **kw) -> dict:
    return {"kind": "KubereachProbeSpec", "version": 1, "timeout_s": 1, "retries": 0, "targets": targets, **kw}


def test_a_low_fd_limit_lowers_concurrency_instead_of_failing_probes():
    port = free_port()
    targets = [{"address": "127.0.0.1", "port": port}] * 600

    def tiny_nofile() -> None:  # like a container runtime with nofile=64 (soft and hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    doc = run(spec_of(targets, concurrency=600), preexec=tiny_nofile)
    assert Counter(r["state"] for r in doc["results"]) == {"closed": 600}
    assert any(
        n.startswith("concurrency lowered from 600 to ") and "(RLIMIT_NOFILE) is 64" in n for n in doc["notes"]
    ), doc["notes"]


def test_a_sufficient_fd_limit_keeps_the_requested_concurrency():
    doc = run(spec_of([{"address": "127.0.0.1", "port": free_port()}], concurrency=100))
    assert not any("concurrency lowered" in n for n in doc["notes"])


def test_thousands_of_probes_to_one_listener_are_all_open():
    # Each probe is a new connection to the same socket: a short accept queue would drop
    # SYNs and turn the excess into false "filtered" results.
    port = free_port()
    env = probe_env()
    env.update(KUBEREACH_NAMESPACE="n", KUBEREACH_POD="p", KUBEREACH_CONTAINER="c")
    server = subprocess.Popen(
        [*PROBE, "serve", "--bind", "127.0.0.1", "--tcp", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert "listening" in server.stderr.readline()
        doc = run(spec_of([{"address": "127.0.0.1", "port": port}] * 2000, concurrency=2000))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert Counter(r["state"] for r in doc["results"]) == {"open": 2000}
    # the identity line is best effort (200 ms grace); on a loaded machine a few may miss it
    pods = Counter((r["identity"] or {}).get("pod") for r in doc["results"])
    assert set(pods) <= {"p", None} and pods["p"] >= 1900, pods


@pytest.fixture
def mute_and_chatty_servers():
    """A listener the kernel accepts for but nobody reads (mute), and one that accepts
    and sends a megabyte without a newline, then holds the connection (chatty)."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    chatty = socket.socket()
    chatty.bind(("127.0.0.1", 0))
    chatty.listen(16)
    chatty.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve_chatty() -> None:
        while not stop.is_set():
            try:
                conn, _ = chatty.accept()
            except OSError:
                continue
            held.append(conn)
            with contextlib.suppress(OSError):
                conn.sendall(b"x" * (1 << 20))

    thread = threading.Thread(target=serve_chatty, daemon=True)
    thread.start()
    try:
        yield mute.getsockname()[1], chatty.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for s in [mute, chatty, *held]:
            s.close()


def test_a_listener_that_never_sends_an_identity_does_not_hold_the_probe(mute_and_chatty_servers):
    mute, chatty = mute_and_chatty_servers
    started = time.monotonic()
    doc = run(
        spec_of(
            [{"address": "127.0.0.1", "port": mute}, {"address": "127.0.0.1", "port": chatty}],
            timeout_s=5,
            deadline_s=20,
        )
    )
    elapsed = time.monotonic() - started
    for r in doc["results"]:
        assert (r["state"], r["evidence"], r["identity"], r["attempts"]) == ("open", "connected", None, 1), r
        assert r["latency_ms"] < 1000
    # the identity grace period (0.2 s) bounds the wait, not the 5 s timeout
    assert doc["duration_s"] < 2 and elapsed < 10, doc["duration_s"]


def test_a_huge_compressed_spec_decodes_and_validates():
    targets = [{"address": f"10.244.{i // 250 % 250}.{i % 250 + 1}", "port": 80 + i % 7} for i in range(50_000)]
    text = encode_spec(spec_of(targets))
    assert text.startswith("z:") and len(text) < 400_000
    spec = parse_spec(decode_spec_text(text))
    assert len(spec.targets) == 50_000 and spec.targets[-1].port == 80 + 49_999 % 7


def test_a_decompression_bomb_is_refused_before_it_fills_memory(monkeypatch):
    monkeypatch.setattr(spec_mod, "MAX_DECODED_BYTES", 1 << 20)
    bomb = "z:" + base64.b64encode(zlib.compress(b" " * (8 << 20), 9)).decode()
    assert len(bomb) < 20_000
    with pytest.raises(SpecError, match=r"^spec: decompressed spec larger than 1048576 bytes"):
        decode_spec_text(bomb)


def test_z_spec_that_is_not_json_exits_2():
    text = "z:" + base64.b64encode(zlib.compress(b"\xff\xfe not json")).decode()
    proc = subprocess.run(
        [*PROBE, "run", f"--spec={text}"], capture_output=True, text=True, env=probe_env(), cwd=REPO, timeout=30
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("kubereach-probe: error: spec: not valid JSON")


# -- scan ----------------------------------------------------------------------------

_port = st.integers(1, 65535)
_part = st.one_of(
    _port.map(lambda p: (p, p)), st.tuples(_port, st.integers(0, 300)).map(lambda t: (t[0], min(65535, t[0] + t[1])))
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_part, min_size=1, max_size=6), st.sampled_from([",", ", ", " ,"]))
def test_parse_ports_is_the_sorted_union_of_its_parts(parts, sep):
    text = sep.join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in parts)
    want = sorted({p for lo, hi in parts for p in range(lo, hi + 1)})
    assert parse_ports(text) == want


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789-, x", max_size=12))
def test_parse_ports_returns_valid_ports_or_a_message_naming_p(text):
    try:
        ports = parse_ports(text)
    except ValueError as exc:
        assert str(exc).startswith("-p: ")
        return
    assert ports and ports == sorted(set(ports)) and all(1 <= p <= 65535 for p in ports)


def test_scan_json_output_is_the_result_document():
    closed = free_port()
    proc = subprocess.run(
        [*PROBE, "scan", "127.0.0.1", "::1", "-p", f"{closed}", "--timeout", "0.3", "--retries", "0", "-o", "json"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kind"] == "KubereachProbeResult"
    assert [(r["address"], r["port"], r["state"], r["evidence"]) for r in doc["results"]] == [
        ("127.0.0.1", closed, "closed", "ECONNREFUSED"),
        ("::1", closed, "closed", "ECONNREFUSED"),
    ]


def test_scan_udp_table_marks_the_protocol():
    closed = free_port()
    proc = subprocess.run(
        [*PROBE, "scan", "127.0.0.1", "-p", str(closed), "--udp", "--timeout", "0.3"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()
    assert header.split() == ["HOST", "PORT", "STATE", "EVIDENCE", "IDENTITY"]
    assert row.split()[:4] == ["127.0.0.1", f"{closed}/udp", "closed", "ICMP"]


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--timeout", "0"], "--timeout: 0.0 out of range"),
        (["--retries", "11"], "--retries: 11 out of range 0-10"),
        (["--concurrency", "0"], "--concurrency: 0 out of range 1-65536"),
        (["--rate", "-1"], "--rate: -1.0 out of range"),
        (["-p", "80-70"], "-p: '80-70' is an empty range"),
    ],
)
def test_scan_names_the_flag_at_fault(flags, message):
    argv = [*PROBE, "scan", "127.0.0.1", "-p", "80", *flags]
    proc = subprocess.run(argv, capture_output=True, text=True, env=probe_env(), cwd=REPO, timeout=30)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"kubereach-probe: error: {message}"), proc.stderr


def test_scan_names_a_bad_host():
    proc = subprocess.run(
        [*PROBE, "scan", "not a host", "-p", "80"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("kubereach-probe: error: HOST: 'not a host' is not an IP")


@pytest.mark.parametrize("flag", ["--config", "--rules"])
def test_intrapod_unreadable_file_argument_names_the_flag(tmp_path, flag):
    missing = tmp_path / "missing.json"
    proc = subprocess.run(
        [*PROBE, "intrapod", "render", flag, f"@{missing}"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"kubereach-probe: error: {flag}: cannot read '{missing}': No such file or directory"
    )


@pytest.mark.netns
def test_a_stuck_dns_server_does_not_hold_the_result_past_the_deadline(single_ns, tmp_path):
    # the pod's resolver points at an address that drops DNS: every lookup hangs ~10 s
    from krp_helpers import in_ns

    in_ns(single_ns, "ip", "addr", "add", "192.0.2.53/32", "dev", "lo")
    for proto in ("udp", "tcp"):
        in_ns(single_ns, "iptables", "-A", "INPUT", "-p", proto, "--dport", "53", "-j", "DROP")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\noptions timeout:5 attempts:2\n")
    spec = spec_of(
        [
            {"address": "db.example", "port": 80},
            {"address": "db.example", "port": 80, "method": "syn"},
            {"address": "db.example", "port": 53, "protocol": "UDP"},
            {"address": "127.0.0.1", "port": free_port()},
        ],
        deadline_s=1,
    )
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    started = time.monotonic()
    # a private mount namespace: the host's /etc/resolv.conf is never touched
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            single_ns,
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            str(resolv),
            *PROBE,
            "run",
            f"--spec={json.dumps(spec)}",
        ],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["deadline_hit"] is True
    assert [(r["state"], r["evidence"]) for r in doc["results"]] == [("error", "deadline")] * 3 + [
        ("closed", "ECONNREFUSED")
    ]
    assert elapsed < 6, f"the agent exited {elapsed:.1f} s after start with a 1 s deadline"


@pytest.mark.parametrize(
    "argv,stdin,message",
    [
        (["run"], "[" * 100_000, "spec: not valid JSON (nested too deeply)"),
        (
            ["run", "--spec=z:" + base64.b64encode(zlib.compress(b"[" * 100_000)).decode()],
            "",
            "spec: not valid JSON (nested too deeply)",
        ),
        (["intrapod", "render", "--config", "[" * 100_000], "", "--config: not valid JSON (nested too deeply)"),
        (
            ["intrapod", "render", "--rules", "[" * 100_000, "--uids", "a=1001"],
            "",
            "rules: not valid JSON (nested too deeply)",
        ),
    ],
)
def test_hostile_json_exits_2_without_a_traceback(argv, stdin, message):
    proc = subprocess.run(
        [*PROBE, *argv], input=stdin, capture_output=True, text=True, env=probe_env(), cwd=REPO, timeout=30
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.strip() == f"kubereach-probe: error: {message}", proc.stderr[-500:]
