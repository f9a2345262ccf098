"""The agent image's installation steps, replayed in a fresh virtual environment.

There is no Docker engine here, so this test does what agent-image/Dockerfile does:
copy the same paths (read from its COPY lines), run its ``pip install`` line in a new
venv, and run every entrypoint from that venv: ``--help``, ``run`` against a local
listener, ``serve`` start/stop, ``intrapod render``. Dependencies come from the package
index (pip's wheel cache makes reruns fast).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import venv

import pytest
from krp_helpers import REPO

pytestmark = pytest.mark.slow

DOCKERFILE = REPO / "agent-image" / "Dockerfile"


def dockerfile_steps() -> tuple[list[str], str]:
    """(paths the Dockerfile copies, the RUN command that installs the package)."""
    text = DOCKERFILE.read_text()
    copies: list[str] = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            copies += line.split()[1:-1]
    runs = [
        " ".join(part.strip() for part in m.split("\\\n")) for m in re.findall(r"^RUN ((?:.*\\\n)*.*)$", text, re.M)
    ]
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 1, f"expected one RUN with pip install, got {installs}"
    return copies, installs[0]


def test_dockerfile_is_slim_nonroot_with_iptables_and_the_probe_entrypoint():
    text = DOCKERFILE.read_text()
    assert "\nFROM python:3.11-slim\n" in text
    assert "apt-get install -y --no-install-recommends iptables" in text
    assert "USER 65532:65532" in text
    assert 'ENTRYPOINT ["kubereach-probe"]' in text
    copies, install = dockerfile_steps()
    # from the one lock file, hashes required, nothing resolved beyond it
    assert "lock_subset.py requirements/lock.txt" in install
    assert "--require-hashes --no-deps -r agent-lock.txt" in install
    assert install.rstrip().endswith("pip install --no-cache-dir --no-deps .")
    for path in copies:
        assert (REPO / path).exists(), path


def test_the_image_lock_subset_is_pinned_by_the_project_lock():
    """Every pin the image installs is the project lock's own line: no second list to keep in step."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock_subset", REPO / "agent-image" / "lock_subset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    entries = mod.parse_lock((REPO / "requirements" / "lock.txt").read_text())
    names = mod.closure(entries, ["scapy", "aiohttp", "click", "pyyaml", "cryptography"])
    assert {"aiohttp", "yarl", "multidict", "cryptography", "cffi", "pyyaml", "click", "scapy"} <= set(names)
    assert not {"pandas", "numpy", "kubernetes", "pytest"} & set(names)
    for name in names:
        assert any(line.strip().startswith("--hash=sha256:") for line in entries[name][0]), name
    with pytest.raises(KeyError, match="not-a-package"):
        mod.closure(entries, ["not-a-package"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if os.environ.get("KUBEREACH_SKIP_INSTALL_TEST"):
        pytest.skip("KUBEREACH_SKIP_INSTALL_TEST is set")
    root = tmp_path_factory.mktemp("image")
    src, env_dir = root / "src", root / "venv"
    src.mkdir()
    copies, install = dockerfile_steps()
    for path in copies:
        origin = REPO / path
        if origin.is_dir():
            shutil.copytree(origin, src / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (src / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, src / path)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    # the Dockerfile's RUN line as it is, with the venv's python and pip first on PATH
    # (pip's wheel cache is allowed here: --no-cache-dir only matters inside an image)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        ["sh", "-c", install.replace("--no-cache-dir ", "")],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 and ("Could not find a version" in proc.stderr or "NewConnectionError" in proc.stderr):
        pytest.skip(f"package index unreachable: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return bin_dir


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["KUBEREACH_NAMESPACE"], env["KUBEREACH_POD"], env["KUBEREACH_CONTAINER"] = "img", "pod", "c"
    return env


def test_help_runs_from_the_fresh_install(installed):
    proc = subprocess.run(
        [str(installed / "kubereach-probe"), "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert proc.returncode == 0
    for command in ("run", "scan", "serve", "intrapod"):
        assert command in proc.stdout
    # the webhook Deployment (manifests/webhook/deployment.yaml) runs this image too
    webhook = subprocess.run(
        [str(installed / "kubereach"), "webhook", "serve", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert webhook.returncode == 0 and "--agent-image" in webhook.stdout, webhook.stderr
    where = subprocess.run(
        [str(installed / "python"), "-c", "import probe; print(probe.__file__)"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert str(installed.parent) in where.stdout  # the venv's copy, not the repo's


def test_serve_and_run_from_the_fresh_install(installed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen(
        [str(installed / "kubereach-probe"), "serve", "--bind", "127.0.0.1", "--tcp", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd="/",
    )
    try:
        assert "listening" in serve.stderr.readline()
        spec = {
            "kind": "KubereachProbeSpec",
            "version": 1,
            "timeout_s": 1,
            "retries": 0,
            "targets": [{"address": "127.0.0.1", "port": port}],
        }
        run = subprocess.run(
            [str(installed / "kubereach-probe"), "run"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd="/",
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)["results"][0]
        assert result["state"] == "open"
        assert result["identity"]["pod"] == "pod"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=10) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_intrapod_render_from_the_fresh_install(installed):
    config = {
        "rules": '{"default": "deny"}',
        "containers": [{"name": "app", "uid": 1001, "ports": ["8080/TCP"]}, {"name": "sidecar", "uid": 1002}],
    }
    proc = subprocess.run(
        [str(installed / "kubereach-probe"), "intrapod", "render", "--config", json.dumps(config)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--uid-owner 1002" in proc.stdout and "REJECT --reject-with tcp-reset" in proc.stdout


@pytest.mark.netns
def test_intrapod_apply_check_and_scan_from_the_fresh_install(installed, single_ns):
    # what the init container does (apply, then check), and a person's scan, in a pod-like
    # namespace, all with the venv's own entrypoint
    config = json.dumps(
        {
            "rules": {"default": "deny"},
            "containers": [{"name": "app", "uid": 1001, "ports": ["8080/TCP"]}, {"name": "sidecar", "uid": 1002}],
        }
    )
    env = clean_env()
    env["KUBEREACH_INTRAPOD_CONFIG"] = config
    probe = str(installed / "kubereach-probe")
    for action in ("apply", "check"):
        proc = subprocess.run(
            ["ip", "netns", "exec", single_ns, probe, "intrapod", action],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=60,
        )
        assert proc.returncode == 0, f"{action}: {proc.stderr}"
    scan = subprocess.run(
        ["ip", "netns", "exec", single_ns, probe, "scan", "127.0.0.1", "-p", "8080", "--timeout", "0.3"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert scan.returncode == 0, scan.stderr
    assert scan.stdout.splitlines()[1].split()[:3] == ["127.0.0.1", "8080/tcp", "closed"]


def test_slim_install_leaves_out_the_operator_side_dependencies(installed):
    """The image's jobs never import these; installing them would add ~300 MB."""
    proc = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.util as u; print([m for m in "
            "('pandas', 'numpy', 'kubernetes', 'tabulate') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_webhook_serves_from_the_slim_install(installed, tmp_path):
    """`kubereach webhook certs` and `serve` run from the image's install, and /healthz answers."""
    import ssl
    import time
    import urllib.request

    kubereach = str(installed / "kubereach")
    certs = subprocess.run(
        [
            kubereach,
            "webhook",
            "certs",
            "--service",
            "kubereach-webhook",
            "-n",
            "kubereach-system",
            "--ip",
            "127.0.0.1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd="/",
        timeout=120,
    )
    assert certs.returncode == 0, certs.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen(
        [
            kubereach,
            "webhook",
            "serve",
            "--cert",
            str(tmp_path / "tls.crt"),
            "--key",
            str(tmp_path / "tls.key"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=clean_env(),
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"webhook did not come up: {serve.stderr.read()}") from None
                time.sleep(0.2)
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
