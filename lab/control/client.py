"""The client side's errors and its HTTPS client for a running lab's API."""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any

from lab import config
from lab.config import InstanceConfig, LabPaths

EXIT_USAGE = 2
EXIT_FAILED = 3
REQUEST_TIMEOUT = 30.0


class LabError(Exception):
    """What a lab command reports to its user; ``exit_code`` 2 (their input) or 3 (the lab)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class LabAlreadyRunning(LabError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


def resolve(state_dir: Path | str | None) -> LabPaths:
    """The state directory a command means: the one given, else $KUBEREACH_LAB_DIR or the default."""
    return LabPaths(Path(state_dir).absolute() if state_dir else config.default_state_dir())


def instance(paths: LabPaths) -> InstanceConfig | None:
    data = config.read_json(paths.instance)
    return InstanceConfig.from_dict(data) if data else None


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
        inst, daemon = instance(paths), config.read_json(paths.daemon)
        if inst is None or daemon is None:
            raise LabError(f"no lab is running in {paths.root}", EXIT_USAGE)
        return cls(daemon["url"], inst.token, paths.ca_cert.read_bytes(), timeout)


def message_of(doc: Any) -> str:
    """The message of a Status answer, or a few hundred characters of whatever came."""
    return str(doc.get("message")) if isinstance(doc, dict) and doc.get("message") else str(doc)[:300]
