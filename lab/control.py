"""Client-side lab control: ``up``, ``down``, ``status``, ``kubeconfig``, ``fault``.

``up`` prepares the state directory (instance id, token, TLS), starts the daemon
(``python -m lab.daemon``) detached in its own session, waits until its API answers,
writes the kubeconfig, applies manifests through the API like any client, and waits
for the pods. ``down`` stops the daemon (which removes everything its node created),
cleans up after a daemon that died, and removes the state directory.

These functions raise :class:`LabError` (with an exit code) and never import the
orchestrator; the CLI in ``orchestrator/cli/lab.py`` renders them.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab import config
from lab.api import tls
from lab.config import Companion, InstanceConfig, LabPaths
from lab.manifests import Manifest, ManifestError, load
from lab.runtime import Fault, FaultAction

EXIT_USAGE = 2
EXIT_FAILED = 3
START_TIMEOUT = 60.0  # seconds for the daemon to bring its node and API up
STOP_TIMEOUT = 60.0  # seconds for a clean shutdown (tearing down 200 pods)
DEFAULT_POD_TIMEOUT = 180.0  # seconds for every pod of `up -f` to be Running
REQUEST_TIMEOUT = 30.0
STATUS_TIMEOUT = 5.0  # `lab status` must answer quickly even if the daemon hangs
COMPANION_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL for a companion process
DEFAULT_NODE_FACTORY = "lab.node:LabNode"
NODE_FACTORY_ENV = "KUBEREACH_LAB_NODE_FACTORY"  # tests: "fake_node:FakeNode" (no root needed)

Progress = Callable[[str], None]
# Called by `up` once the API answers and before any manifest is applied (a client can
# install something the manifests depend on, e.g. admission webhooks); raise LabError.
BeforeApply = Callable[["LabClient", LabPaths], None]


class LabError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class LabAlreadyRunning(LabError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


@dataclass
class UpResult:
    state_dir: Path
    kubeconfig: Path
    url: str
    instance_id: str
    pid: int
    applied: list[str] = field(default_factory=list)
    pods_running: int = 0


# -- HTTP client -----------------------------------------------------------------------------
class LabClient:
    """A tiny HTTPS client for the lab API (bearer token, the lab's CA)."""

    def __init__(self, url: str, token: str, ca_pem: bytes, timeout: float = REQUEST_TIMEOUT) -> None:
        scheme, _, hostport = url.partition("://")
        host, _, port = hostport.partition(":")
        self.host, self.port, self.token, self.timeout = host, int(port), token, timeout
        self.ctx = ssl.create_default_context(cadata=ca_pem.decode()) if scheme == "https" else None

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        if self.ctx is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, context=self.ctx, timeout=self.timeout
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    @classmethod
    def for_state_dir(cls, paths: LabPaths, timeout: float = REQUEST_TIMEOUT) -> LabClient:
        inst, daemon = _instance(paths), config.read_json(paths.daemon)
        if inst is None or daemon is None:
            raise LabError(f"no lab is running in {paths.root}", EXIT_USAGE)
        return cls(daemon["url"], inst.token, paths.ca_cert.read_bytes(), timeout)


def _instance(paths: LabPaths) -> InstanceConfig | None:
    data = config.read_json(paths.instance)
    return InstanceConfig.from_dict(data) if data else None


# -- process helpers -------------------------------------------------------------------------
def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return False
    return True


def _is_our_daemon(pid: int | None, paths: LabPaths) -> bool:
    """The pid is alive and is the daemon of this state dir (guards against pid reuse)."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"lab.daemon" in cmdline and str(paths.root).encode() in cmdline


def _daemon_pid(paths: LabPaths) -> int | None:
    data = config.read_json(paths.instance) or {}
    return data.get("pid")


def _log_tail(paths: LabPaths, lines: int = 25) -> str:
    try:
        text = paths.log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# -- kubeconfig ------------------------------------------------------------------------------
def render_kubeconfig(url: str, token: str, ca_pem: bytes, *, name: str = "kubereach-lab") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": name, "cluster": {"server": url, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}
        ],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


# -- up --------------------------------------------------------------------------------------
def _resolve(state_dir: Path | str | None) -> LabPaths:
    return LabPaths(Path(state_dir).absolute() if state_dir else config.default_state_dir())


def _prepare_dir(paths: LabPaths, progress: Progress) -> None:
    root = paths.root
    inst = config.read_json(paths.instance)
    if inst is not None:
        pid = inst.get("pid")
        if _is_our_daemon(pid, paths):
            daemon = config.read_json(paths.daemon) or {}
            raise LabAlreadyRunning(
                f"a lab is already running in {root} (instance {inst.get('instanceId')}, "
                f"pid {pid}, API {daemon.get('url', 'starting')}); "
                "`kubereach lab down` stops it"
            )
        progress(f"cleaning up a lab that is no longer running (instance {inst.get('instanceId')})")
        stop_companions(paths, progress=progress)
        _cleanup_dead(paths, inst)
        shutil.rmtree(root, ignore_errors=True)
    elif root.exists() and any(root.iterdir()):
        raise LabError(
            f"{root} is not empty and is not a lab state directory; pass an empty or new directory with --state-dir",
            EXIT_USAGE,
        )
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)


def up(
    *,
    manifests: list[Path] | None = None,
    cni: str = "enforce",
    state_dir: Path | str | None = None,
    pod_timeout: float = DEFAULT_POD_TIMEOUT,
    progress: Progress = lambda s: None,
    node_factory: str | None = None,
    python: str | None = None,
    before_apply: BeforeApply | None = None,
) -> UpResult:
    if cni not in ("enforce", "none"):
        raise LabError(f"--cni must be enforce or none, not {cni!r}", EXIT_USAGE)
    try:
        objects = load(list(manifests or []))
    except ManifestError as exc:
        raise LabError(str(exc), EXIT_USAGE) from None
    factory = node_factory or os.environ.get(NODE_FACTORY_ENV) or DEFAULT_NODE_FACTORY
    if factory == DEFAULT_NODE_FACTORY and os.geteuid() != 0:
        raise LabError(
            "the lab needs root: it creates network namespaces, links and iptables rules "
            "(run `sudo kubereach lab up ...`)",
            EXIT_USAGE,
        )
    paths = _resolve(state_dir)
    _prepare_dir(paths, progress)
    inst = InstanceConfig(config.new_instance_id(), config.new_token(), cni)
    material = tls.generate()
    config.write_private(paths.ca_cert, material.ca_pem, mode=0o644)
    config.write_private(paths.server_cert, material.cert_pem)
    config.write_private(paths.server_key, material.key_pem)
    record = {**inst.to_dict(), "nodeFactory": factory}
    config.write_json(paths.instance, record)
    progress(f"starting lab {inst.instance_id} (cni {cni}) in {paths.root}")
    with open(paths.log, "ab") as logf:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "lab.daemon", "--state-dir", str(paths.root)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    config.write_json(paths.instance, {**record, "pid": proc.pid})
    try:
        daemon = _wait_daemon(paths, proc)
    except LabError:
        # nothing usable is running: leave nothing behind either
        down(state_dir=paths.root)
        raise
    url = daemon["url"]
    config.write_private(paths.kubeconfig, render_kubeconfig(url, inst.token, material.ca_pem))
    client = LabClient(url, inst.token, material.ca_pem)
    result = UpResult(paths.root, paths.kubeconfig, url, inst.instance_id, proc.pid)
    if before_apply is not None:
        try:
            before_apply(client, paths)
        except Exception as exc:
            # a half-prepared lab (say, pods admitted without their webhook) would mislead:
            # leave nothing behind, companions included
            message = str(exc) if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
            try:
                down(state_dir=paths.root)
            except LabError as cleanup:
                message += f"\n(cleaning up failed too: {cleanup})"
            raise LabError(message, getattr(exc, "exit_code", EXIT_FAILED)) from exc
    if objects:
        try:
            result.applied = apply(client, objects, progress=progress)
            result.pods_running = wait_pods(client, timeout=pod_timeout, progress=progress)
        except LabError as exc:
            exc.args = (
                f"{exc}\n(the lab itself is up: KUBECONFIG={paths.kubeconfig}; "
                f"`kubereach lab down --state-dir {paths.root}` stops it)",
            )
            raise
    return result


def _wait_daemon(paths: LabPaths, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise LabError(
                f"the lab daemon exited with status {code} while starting; "
                f"its log ({paths.log}) ends with:\n{_log_tail(paths)}"
            )
        daemon = config.read_json(paths.daemon)
        if daemon and daemon.get("url"):
            return daemon
        time.sleep(0.1)
    raise LabError(
        f"the lab daemon did not answer within {START_TIMEOUT:.0f}s; its log ({paths.log}) "
        f"ends with:\n{_log_tail(paths)}"
    )


def _collection_path(m: Manifest) -> str:
    rt = m.resource
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced:
        ns = m.obj["metadata"].get("namespace") or "default"
        return f"{prefix}/namespaces/{ns}/{rt.plural}"
    return f"{prefix}/{rt.plural}"


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _with_last_applied(body: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Record the manifest the way ``kubectl apply`` does, so a later ``kubectl apply -f``
    of the same files finds its annotation (no warning per object) and says "unchanged".

    The value is what kubectl writes: the object as given minus this annotation, JSON with
    sorted keys, compact, HTML characters escaped, one trailing newline.
    """
    meta = dict(manifest.get("metadata") or {})
    # kubectl keeps an emptied annotations map in the value: {"annotations":{}, ...}
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    text = json.dumps({**manifest, "metadata": meta}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"
    body_meta = dict(body.get("metadata") or {})
    body_meta["annotations"] = {**(body_meta.get("annotations") or {}), LAST_APPLIED: text}
    return {**body, "metadata": body_meta}


def apply(client: LabClient, objects: list[Manifest], *, progress: Progress = lambda s: None) -> list[str]:
    """Create each object (or merge-patch it if it exists), in the given order."""
    applied = []
    for m in objects:
        path = _collection_path(m)
        name = m.obj["metadata"]["name"]
        body = _with_last_applied({k: v for k, v in m.obj.items() if k != "status"}, m.obj)
        status, answer = client.request("POST", path + "?fieldValidation=Strict", body)
        if status == 409:
            status, answer = client.request(
                "PATCH", f"{path}/{name}?fieldValidation=Strict", body, content_type="application/merge-patch+json"
            )
        if status >= 300:
            message = answer.get("message") if isinstance(answer, dict) else str(answer)[:300]
            raise LabError(f"{m.source}: {m.resource.kind} {name}: {message}", EXIT_USAGE)
        applied.append(f"{m.resource.plural}/{name}")
    progress(f"applied {len(applied)} objects")
    return applied


def apply_objects(
    client: LabClient, objects: list[dict[str, Any]], *, source: str, progress: Progress = lambda s: None
) -> list[str]:
    """:func:`apply` for objects built in code rather than read from files."""
    from lab.api.resources import BY_KIND

    manifests = []
    for i, obj in enumerate(objects, 1):
        rt = BY_KIND.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if rt is None:
            raise LabError(
                f"{source}#{i}: the lab does not serve {obj.get('apiVersion')} {obj.get('kind')}", EXIT_USAGE
            )
        manifests.append(Manifest(f"{source}#{i}", rt, obj))
    return apply(client, manifests, progress=progress)


def wait_pods(client: LabClient, *, timeout: float, progress: Progress = lambda s: None) -> int:
    """Wait until every pod is Running or Succeeded and the CNI is in sync; returns the count."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        status, doc = client.request("GET", "/api/v1/pods")
        if status != 200:
            raise LabError(f"listing pods failed: {doc}")
        pods = doc.get("items", [])
        phases = [(p.get("status") or {}).get("phase", "Pending") for p in pods]
        done = sum(1 for ph in phases if ph in ("Running", "Succeeded"))
        failed = [
            f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for p, ph in zip(pods, phases, strict=False)
            if ph == "Failed"
        ]
        _, summary = client.request("GET", "/lab/v1/status")
        synced = isinstance(summary, dict) and summary.get("networkSynced")
        if failed:
            raise LabError(
                f"pods failed to start: {', '.join(failed[:10])}"
                f"{' ...' if len(failed) > 10 else ''} (see `kubectl describe` / logs)"
            )
        if done == len(pods) and synced:
            progress(f"pods running: {done}/{len(pods)}")
            return done
        now = time.monotonic()
        if now - last_report >= 2.0:
            progress(f"pods running: {done}/{len(pods)}")
            last_report = now
        if now > deadline:
            waiting = [
                f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                for p, ph in zip(pods, phases, strict=False)
                if ph not in ("Running", "Succeeded")
            ]
            raise LabError(f"pods not running after {timeout:.0f}s: {', '.join(waiting[:10])}")
        time.sleep(0.2)


# -- companions ------------------------------------------------------------------------------
def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_companion(c: Companion) -> bool:
    """The recorded process is still the one we started: pid plus kernel start time name a
    process uniquely (a reused pid has a later start time). The command line is not
    compared: a companion may legitimately exec another program (``sh -c 'exec ...'``)."""
    return _alive(c.pid) and _start_time(c.pid) == c.start_time


def start_companion(
    state_dir: Path | str | None, name: str, argv: list[str], *, env: dict[str, str] | None = None
) -> Companion:
    """Start ``argv`` detached (own session, stdout+stderr to ``NAME.log`` in the state dir)
    and record it, so that ``down`` stops it. The lab must exist (``up`` created the dir)."""
    paths = _resolve(state_dir)
    if config.read_json(paths.instance) is None:
        raise LabError(f"no lab in {paths.root}: start companions after `up`", EXIT_USAGE)
    if not name.replace("-", "").isalnum() or any(c.name == name for c in config.read_companions(paths)):
        raise LabError(f"companion name {name!r} must be unique and made of letters, digits and '-'", EXIT_USAGE)
    log = paths.companion_log(name)
    with open(log, "ab") as logf:
        os.chmod(log, 0o600)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError as exc:
            raise LabError(f"cannot start companion {name} ({argv[0]}): {exc.strerror or exc}") from exc
    start = _start_time(proc.pid)
    if start is None or proc.poll() is not None:
        code = proc.wait()
        raise LabError(f"companion {name} exited at once (status {code}); see {log}")
    companion = Companion(name, proc.pid, start, tuple(argv), str(log))
    # read-modify-write: one `up` owns the state dir, no concurrent writers
    config.write_companions(paths, [*config.read_companions(paths), companion])
    return companion


def companion_log_tail(c: Companion, lines: int = 25) -> str:
    try:
        return "\n".join(Path(c.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def companion_running(c: Companion) -> bool:
    return _is_companion(c)


def stop_companions(state_dir: Path | str | LabPaths | None, *, progress: Progress = lambda s: None) -> int:
    """SIGTERM each recorded companion that is still ours (its whole session), then SIGKILL
    after :data:`COMPANION_STOP_TIMEOUT`; forget them. Returns how many were running."""
    paths = state_dir if isinstance(state_dir, LabPaths) else _resolve(state_dir)
    running = [c for c in config.read_companions(paths) if _is_companion(c)]
    for c in running:
        progress(f"stopping {c.name} (pid {c.pid})")
        _signal_session(c.pid, signal.SIGTERM)
    deadline = time.monotonic() + COMPANION_STOP_TIMEOUT
    while any(_is_companion(c) for c in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for c in running:
        if _is_companion(c):
            progress(f"{c.name} did not stop within {COMPANION_STOP_TIMEOUT:.0f}s; killing it")
            _signal_session(c.pid, signal.SIGKILL)
            while _is_companion(c):
                time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        paths.companions.unlink()
    return len(running)


def _signal_session(pid: int, sig: int) -> None:
    """Signal the process group the companion leads (it was started in a new session, so
    its group id is its pid), so children it spawned go too; else the process alone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# -- down ------------------------------------------------------------------------------------
def _cleanup_dead(paths: LabPaths, inst: dict[str, Any]) -> None:
    """After a daemon that died: remove what its node left, from the instance id alone."""
    factory = str(inst.get("nodeFactory") or DEFAULT_NODE_FACTORY)
    module = importlib.import_module(factory.split(":")[0])
    cleanup = getattr(module, "cleanup_instance", None)
    if cleanup is not None and inst.get("instanceId"):
        cleanup(str(inst["instanceId"]))


def down(*, state_dir: Path | str | None = None, progress: Progress = lambda s: None) -> bool:
    """Stop the lab in ``state_dir``; False if there was none."""
    paths = _resolve(state_dir)
    inst = config.read_json(paths.instance)
    if inst is None:
        return False
    pid = inst.get("pid")
    if pid is not None and _is_our_daemon(pid, paths):
        progress(f"stopping lab {inst.get('instanceId')} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            progress(f"the daemon did not stop within {STOP_TIMEOUT:.0f}s; killing it")
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    # always: idempotent, and the only cleanup there is if the daemon died or was killed
    stop_companions(paths, progress=progress)
    try:
        _cleanup_dead(paths, inst)
    except Exception as exc:
        raise LabError(f"cleaning up lab {inst.get('instanceId')} failed: {exc}; state kept in {paths.root}") from exc
    shutil.rmtree(paths.root, ignore_errors=True)
    return True


# -- status, kubeconfig, faults ---------------------------------------------------------------
def status(*, state_dir: Path | str | None = None) -> dict[str, Any]:
    paths = _resolve(state_dir)
    inst = config.read_json(paths.instance)
    if inst is None:
        return {"running": False, "stateDir": str(paths.root)}
    daemon = config.read_json(paths.daemon) or {}
    alive = _is_our_daemon(inst.get("pid"), paths)
    out: dict[str, Any] = {
        "running": alive,
        "stateDir": str(paths.root),
        "instance": inst.get("instanceId"),
        "cni": inst.get("cni"),
        "pid": inst.get("pid"),
        "url": daemon.get("url"),
        "kubeconfig": str(paths.kubeconfig),
        "companions": [
            {"name": c.name, "pid": c.pid, "running": _is_companion(c), "log": c.log}
            for c in config.read_companions(paths)
        ],
    }
    if alive and daemon.get("url"):
        try:
            code, summary = LabClient.for_state_dir(paths, STATUS_TIMEOUT).request("GET", "/lab/v1/status")
            if code == 200 and isinstance(summary, dict):
                out.update(summary)
        except (OSError, http.client.HTTPException) as exc:
            out["error"] = f"the daemon does not answer: {exc}"
    return out


def kubeconfig_path(*, state_dir: Path | str | None = None) -> Path:
    paths = _resolve(state_dir)
    if not paths.kubeconfig.exists():
        raise LabError(f"no lab is running in {paths.root}", EXIT_USAGE)
    return paths.kubeconfig


def parse_fault(action: str, source: str, destination: str, port_proto: str) -> Fault:
    try:
        act = FaultAction(action)
    except ValueError:
        raise LabError(f"fault action must be allow or deny, not {action!r}", EXIT_USAGE) from None
    for what, ref in (("SRC", source), ("DST", destination)):
        if ref.count("/") != 1 or not all(ref.split("/")):
            raise LabError(f"{what} must be namespace/pod, not {ref!r}", EXIT_USAGE)
    port_text, _, proto = port_proto.partition("/")
    proto = (proto or "TCP").upper()
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535 or proto not in ("TCP", "UDP", "SCTP"):
        raise LabError(f"PORT/PROTO must look like 8080/TCP, not {port_proto!r}", EXIT_USAGE)
    return Fault(act, source, destination, int(port_text), proto)


def fault(fault_: Fault | None, *, state_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Add one fault, or clear them all (``None``); returns the faults now in force."""
    client = LabClient.for_state_dir(_resolve(state_dir))
    if fault_ is None:
        code, doc = client.request("DELETE", "/lab/v1/faults")
    else:
        code, doc = client.request("POST", "/lab/v1/faults", {"faults": [fault_.to_dict()]})
    if code != 200:
        raise LabError(f"the lab refused the fault: {doc.get('message') if isinstance(doc, dict) else doc}")
    faults: list[dict[str, Any]] = doc["faults"]
    return faults


def list_faults(*, state_dir: Path | str | None = None) -> list[dict[str, Any]]:
    code, doc = LabClient.for_state_dir(_resolve(state_dir)).request("GET", "/lab/v1/faults")
    if code != 200:
        raise LabError(f"listing faults failed: {doc}")
    faults: list[dict[str, Any]] = doc["faults"]
    return faults
