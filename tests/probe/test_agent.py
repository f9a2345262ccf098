"""The agent's edges: import boundary, start-up cost, listeners as a library, serve, scan.

Traffic here stays on loopback (127.0.0.1 / ::1) only.
"""

from __future__ import annotations

import ast
import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from krp_helpers import PROBE, REPO, probe_env

from probe.identity import parse_identity
from probe.listeners import identity_line, serve_socket
from probe.scan import parse_ports

# safeyaml: optional, tried lazily for YAML rules text only
ALLOWED_THIRD_PARTY = {"scapy", "aiohttp", "probe", "safeyaml"}


def test_probe_package_imports_only_stdlib_scapy_and_aiohttp():
    bad = []
    for path in (REPO / "probe").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
                    bad.append(f"{path.relative_to(REPO)}: {name}")
    assert bad == []


def test_connect_only_run_never_imports_scapy_or_aiohttp():
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "timeout_s": 0.2,
        "retries": 0,
        "targets": [{"address": "127.0.0.1", "port": 9}, {"address": "::1", "port": 9}],
    }
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *PROBE[1:], "run", f"--spec={json.dumps(spec)}"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "probe.methods.connect" in imported  # the check itself works
    assert not {m for m in imported if m.split(".")[0] in ("scapy", "aiohttp")}
    doc = json.loads(proc.stdout)
    assert [r["state"] for r in doc["results"]] == ["closed", "closed"]


def test_identity_line_round_trips():
    line = identity_line("payments", "api-7d9", "app", 8080, "TCP")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_identity(line + b"trailing") == {
        "kind": "KubereachListener",
        "namespace": "payments",
        "pod": "api-7d9",
        "container": "app",
        "port": 8080,
        "protocol": "TCP",
    }
    assert parse_identity(b"SSH-2.0-OpenSSH\r\n") is None


def test_hundreds_of_sockets_served_by_one_loop_and_closed_cleanly():
    async def main() -> None:
        handles, tcp_ports, udp_ports = [], [], []
        for i in range(250):
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", 0))
            t.listen(16)
            tcp_ports.append(t.getsockname()[1])
            handles.append(await serve_socket(t, json.loads(identity_line("ns", f"p{i}", "c", tcp_ports[-1], "TCP"))))
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            u.bind(("::1", 0))
            udp_ports.append(u.getsockname()[1])
            handles.append(await serve_socket(u, json.loads(identity_line("ns", f"p{i}", "c", udp_ports[-1], "UDP"))))
        for i in (0, 123, 249):
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp_ports[i])
            got = parse_identity(await reader.readline())
            writer.close()
            assert (got["pod"], got["port"], got["protocol"]) == (f"p{i}", tcp_ports[i], "TCP")
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.setblocking(False)
                s.connect(("::1", udp_ports[i]))
                await loop.sock_sendall(s, b"x")
                data = await asyncio.wait_for(loop.sock_recv(s, 4096), 2)
            assert parse_identity(data)["pod"] == f"p{i}"
        for h in handles:
            h.close()
        for h in handles:
            await h.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", tcp_ports[0])

    asyncio.run(main())


def test_serve_answers_tcp_udp_http_and_exits_0_on_sigterm():
    ports = []
    for _ in range(3):  # free ports on loopback, picked by the kernel
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    env = probe_env()
    env.update(KUBEREACH_NAMESPACE="shop", KUBEREACH_POD="web-1", KUBEREACH_CONTAINER="nginx")
    proc = subprocess.Popen(
        [
            *PROBE,
            "serve",
            "--bind",
            "127.0.0.1",
            "--tcp",
            str(ports[0]),
            "--udp",
            str(ports[1]),
            "--http",
            str(ports[2]),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert "listening" in proc.stderr.readline()
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=2) as s:
            assert parse_identity(s.makefile("rb").readline())["container"] == "nginx"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(b"?", ("127.0.0.1", ports[1]))
            assert parse_identity(s.recv(4096))["port"] == ports[1]
        body = urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/", timeout=5).read()
        assert json.loads(body) == {
            "kind": "KubereachListener",
            "namespace": "shop",
            "pod": "web-1",
            "container": "nginx",
            "port": ports[2],
            "protocol": "TCP",
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_on_a_busy_port_fails_with_exit_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [*PROBE, "serve", "--bind", "127.0.0.1", "--tcp", str(port)],
            capture_output=True,
            text=True,
            env=probe_env(),
            cwd=REPO,
            timeout=30,
        )
    assert proc.returncode == 2 and "cannot listen" in proc.stderr


@pytest.mark.parametrize("text,ports", [("22,80,8000-8003", [22, 80, 8000, 8001, 8002, 8003]), ("80,80, 79", [79, 80])])
def test_parse_ports(text, ports):
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["0", "70000", "9-1", "http", ""])
def test_parse_ports_rejects(text):
    with pytest.raises(ValueError, match="-p"):
        parse_ports(text)


def test_scan_with_bad_ports_exits_2():
    proc = subprocess.run(
        [*PROBE, "scan", "127.0.0.1", "-p", "1-99999"],
        capture_output=True,
        text=True,
        env=probe_env(),
        cwd=REPO,
        timeout=30,
    )
    assert proc.returncode == 2 and "out of range" in proc.stderr


def test_rate_limit_spaces_probe_starts():
    spec = {
        "kind": "KubereachProbeSpec",
        "version": 1,
        "rate_per_s": 20,
        "timeout_s": 0.2,
        "retries": 0,
        "targets": [{"address": "127.0.0.1", "port": 9}] * 6,
    }
    started = time.monotonic()
    proc = subprocess.run(
        [*PROBE, "run"], input=json.dumps(spec), capture_output=True, text=True, env=probe_env(), cwd=REPO, timeout=30
    )
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["duration_s"] >= 0.24  # 6 starts at 20/s: at least 5 intervals of 50 ms
    assert time.monotonic() - started < 10


def test_serve_rejects_port_zero():
    proc = subprocess.run(
        [*PROBE, "serve", "--tcp", "0"], capture_output=True, text=True, env=probe_env(), cwd=REPO, timeout=30
    )
    assert proc.returncode == 2 and "out of range 1-65535" in proc.stderr


def test_syn_without_scapy_falls_back_to_connect_and_says_so(monkeypatch):
    import probe.methods.syn as syn
    from probe.engine import run_spec
    from probe.spec import parse_spec

    def no_scapy():
        raise ImportError("No module named 'scapy'")

    monkeypatch.setattr(syn, "SynBatch", no_scapy)
    spec = parse_spec(
        {
            "kind": "KubereachProbeSpec",
            "version": 1,
            "timeout_s": 0.2,
            "targets": [{"address": "127.0.0.1", "port": 9, "method": "syn"}],
        }
    )
    doc = asyncio.run(run_spec(spec, net_raw=True))
    r = doc["results"][0]
    assert (r["state"], r["method"], r["method_used"]) == ("closed", "syn", "connect")
    assert doc["agent"]["net_raw"] is False
    assert any("ImportError" in n and "used connect" in n for n in doc["notes"])
