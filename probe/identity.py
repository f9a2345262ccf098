"""The listener identity: one JSON line that proves which pod and container answered.

Built by listeners (:func:`identity_line`) and read back by probes (:func:`parse_identity`).
Standard library only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from probe.schema import ENV_CONTAINER, ENV_NAMESPACE, ENV_POD, IDENTITY_KIND

MAX_IDENTITY_BYTES = 4096  # an identity is ~150 bytes; anything longer is not ours


def identity_dict(namespace: str, pod: str, container: str, port: int, protocol: str) -> dict[str, Any]:
    return {
        "kind": IDENTITY_KIND,
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "port": int(port),
        "protocol": str(protocol),
    }


def identity_line(namespace: str, pod: str, container: str, port: int, protocol: str) -> bytes:
    """The bytes a listener sends: compact JSON plus a newline."""
    return encode_identity(identity_dict(namespace, pod, container, port, protocol))


def encode_identity(identity: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(identity), separators=(",", ":")).encode() + b"\n"


def identity_from_env(port: int, protocol: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Identity from the downward-API variables (empty strings when unset)."""
    env = os.environ if env is None else env
    return identity_dict(env.get(ENV_NAMESPACE, ""), env.get(ENV_POD, ""), env.get(ENV_CONTAINER, ""), port, protocol)


def parse_identity(data: bytes) -> dict[str, Any] | None:
    """The identity in the first line of ``data``, or None if it is not a kubereach listener."""
    line = data[:MAX_IDENTITY_BYTES].split(b"\n", 1)[0].strip()
    if not line.startswith(b"{"):
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("kind") == IDENTITY_KIND:
        return doc
    return None
