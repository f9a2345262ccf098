"""Just enough Kubernetes protobuf to read what ``kubectl create <generator>`` sends.

kubectl's typed clients (``kubectl create namespace``, ``create configmap``,
``create serviceaccount``, ``create job --from=cronjob/...``) send
``application/vnd.kubernetes.protobuf`` bodies and do not fall back to JSON. The lab
decodes those few kinds into the JSON shape it stores; any other protobuf body is a 415
naming the kind. Field numbers are those of
k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not the protobuf this decoder understands (the API answers 415)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for every field of one message."""
    out, pos = [], 0
    value: int | bytes  # varint, or the raw bytes of the other wire types
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError("truncated field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _map(entries: list[bytes], *, binary: bool = False) -> dict[str, str]:
    out = {}
    for entry in entries:
        kv = {n: v for n, _, v in fields(entry)}
        value = kv.get(2, b"")
        out[_str(kv.get(1, b""))] = base64.b64encode(value).decode() if binary else _str(value)
    return out


def _time(buf: bytes) -> str:
    import datetime as _dt

    secs = {n: v for n, _, v in fields(buf)}.get(1, 0)
    return _dt.datetime.fromtimestamp(secs, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(buf: bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    out: dict[str, Any] = {}
    for n, _, v in fields(buf):
        if n in names:
            out[names[n]] = _str(v)
        elif n == 6:
            out["controller"] = bool(v)
        elif n == 7:
            out["blockOwnerDeletion"] = bool(v)
    return out


def object_meta(buf: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    labels, annotations = [], []
    for n, _, v in fields(buf):
        if n in strings:
            meta[strings[n]] = _str(v)
        elif n == 8:
            meta["creationTimestamp"] = _time(v)
        elif n == 11:
            labels.append(v)
        elif n == 12:
            annotations.append(v)
        elif n == 13:
            meta.setdefault("ownerReferences", []).append(_owner(v))
        elif n == 14:
            meta.setdefault("finalizers", []).append(_str(v))
    if labels:
        meta["labels"] = _map(labels)
    if annotations:
        meta["annotations"] = _map(annotations)
    return meta


def _namespace(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for n, _, v in fields(raw):
        if n == 1:
            obj["metadata"] = object_meta(v)
        elif n == 2:
            fins = [_str(f) for num, _, f in fields(v) if num == 1]
            if fins:
                obj["spec"] = {"finalizers": fins}
    return obj


def _configmap(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    data, binary = [], []
    for n, _, v in fields(raw):
        if n == 1:
            obj["metadata"] = object_meta(v)
        elif n == 2:
            data.append(v)
        elif n == 3:
            binary.append(v)
        elif n == 4:
            obj["immutable"] = bool(v)
    if data:
        obj["data"] = _map(data)
    if binary:
        obj["binaryData"] = _map(binary, binary=True)
    return obj


def _serviceaccount(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for n, _, v in fields(raw):
        if n == 1:
            obj["metadata"] = object_meta(v)
        elif n == 4:
            obj["automountServiceAccountToken"] = bool(v)
    return obj


# A Job from ``kubectl create job NAME --from=cronjob/CRON`` is the CronJob's job template
# under new metadata. Decoding a whole PodSpec from protobuf is beyond this module, so a
# Job is decoded to its metadata plus the name, image, command and args of each
# container (JobSpec.template 6 -> PodTemplateSpec.spec 2 -> PodSpec.containers 2 ->
# Container name 1, image 2, command 3, args 4), under :data:`FROM_OWNER`; the API then
# takes the spec from the CronJob the Job names as its owner, and only if those
# containers are the CronJob's (anything else is refused as before).
FROM_OWNER = "$fromOwnerTemplate"


def _containers_of_job(raw_spec: bytes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, _, template in fields(raw_spec):
        if n != 6:
            continue
        for m, _, pod_spec in fields(template):
            if m != 2:
                continue
            for k, _, container in fields(pod_spec):
                if k != 2:
                    continue
                c: dict[str, Any] = {"name": "", "image": "", "command": [], "args": []}
                for f, _, v in fields(container):
                    if f == 1:
                        c["name"] = _str(v)
                    elif f == 2:
                        c["image"] = _str(v)
                    elif f == 3:
                        c["command"].append(_str(v))
                    elif f == 4:
                        c["args"].append(_str(v))
                out.append(c)
    return out


def _job(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for n, _, v in fields(raw):
        if n == 1:
            obj["metadata"] = object_meta(v)
        elif n == 2:
            obj[FROM_OWNER] = _containers_of_job(v)
    return obj


def container_fingerprint(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What :data:`FROM_OWNER` holds, from a JSON pod spec's containers (to compare)."""
    return [
        {
            "name": str(c.get("name") or ""),
            "image": str(c.get("image") or ""),
            "command": [str(a) for a in c.get("command") or ()],
            "args": [str(a) for a in c.get("args") or ()],
        }
        for c in containers
    ]


DECODERS = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "ServiceAccount"): _serviceaccount,
    ("batch/v1", "Job"): _job,
}


def decode(body: bytes) -> dict[str, Any]:
    """A ``k8s\\0``-framed runtime.Unknown -> the object as JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for n, _, v in fields(body[len(MAGIC) :]):
        if n == 1:
            tm = {num: val for num, _, val in fields(v)}
            api_version, kind = _str(tm.get(1, b"")), _str(tm.get(2, b""))
        elif n == 2:
            raw = v
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(
            f"the lab reads protobuf only for {', '.join(k for _, k in DECODERS)}, "
            f"not {api_version} {kind}; send JSON (kubectl create -f / apply -f)"
        )
    obj = decoder(raw)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
