"""One decision worker: a child process that answers AdmissionReviews, bounded in memory.

The server (:mod:`webhook.pool`) keeps a few of these and sends each request body to
an idle one; the worker decodes the JSON, decides (:func:`webhook.admission.review`)
and sends the answer back. Everything someone else wrote is parsed here, never in the
server's event loop, so a request that is expensive to decode or decide cannot stall
``/healthz`` or the other reviews, and a worker that exceeds its budget is simply
killed and replaced.

Bounds: the address space is limited with ``RLIMIT_AS`` (``--memory-bytes``), so an
allocation past it raises MemoryError here, the worker reports it and exits (the pool
replaces it); no core dumps; the kernel's OOM killer prefers a worker to the server.
Time is bounded by the pool, which kills a worker that does not answer in time.

Wire format on stdin/stdout, one request at a time: the server writes ``mode`` (one
byte, ``m`` mutate / ``v`` validate) and a 4-byte big-endian length, then the body.
The worker writes frames of a type byte, a 4-byte big-endian length and a JSON
payload: ``R`` (ready, once, after start-up), ``H`` (the request's uid, namespace,
name and operation, as soon as the body is decoded: lets the server deny by uid if
the decision then runs out of time) and ``A`` (the answer: HTTP status, body, a log line).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

FRAME = struct.Struct(">cI")
MODES = {b"m": "mutate", b"v": "validate"}


def write_frame(out: BinaryIO, kind: bytes, payload: Mapping[str, Any]) -> None:
    data = json.dumps(payload, separators=(",", ":")).encode()
    out.write(FRAME.pack(kind, len(data)) + data)
    out.flush()


def read_exactly(inp: BinaryIO, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = inp.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def request_summary(body: Any) -> dict[str, Any]:
    """uid, namespace, pod name and operation of a decoded AdmissionReview (what is there)."""

    def mapping(value: Any) -> Mapping[str, Any]:
        return value if isinstance(value, Mapping) else {}

    req = mapping(body.get("request") if isinstance(body, Mapping) else None)
    meta = mapping(mapping(req.get("object")).get("metadata"))
    out = {
        "uid": req.get("uid"),
        "namespace": req.get("namespace"),
        "name": meta.get("name") or meta.get("generateName"),
        "operation": req.get("operation"),
    }
    return {k: (v if isinstance(v, str) and len(v) <= 253 else None) for k, v in out.items()}


def answer(
    mode: str, body: bytes, settings: Any, on_summary: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """The A frame for one request body (HTTP status, response body text, log line).

    ``on_summary`` gets the request's uid, namespace, name and operation as soon as the
    body is decoded (the worker sends them as the H frame)."""
    from webhook.admission import BadReview, Mode, review

    try:
        decoded = json.loads(body)
    except RecursionError:
        return {"status": 400, "error": "request body is not JSON (nested too deeply)"}
    except ValueError:  # includes UnicodeDecodeError
        return {"status": 400, "error": "request body is not JSON"}
    summary = request_summary(decoded)
    if summary["uid"] and on_summary is not None:
        on_summary(summary)
    try:
        response = review(decoded, Mode(mode), settings)
    except BadReview as exc:
        return {"status": 400, "error": str(exc)[:500]}
    except RecursionError:
        return {"status": 400, "error": "request.object is nested too deeply"}
    return {
        "status": 200,
        "body": json.dumps(response, separators=(",", ":")),
        "log": log_line(mode, summary, response),
    }


def log_line(mode: str, summary: Mapping[str, Any], response: Mapping[str, Any]) -> str:
    resp = response["response"]
    what = "allowed" if resp["allowed"] else "denied"
    if resp.get("patch"):
        what += " with patch"
    if resp.get("warnings"):
        what += f" ({len(resp['warnings'])} warnings)"
    detail = str((resp.get("status") or {}).get("message", "")).replace("\n", " ")[:1000]
    return (
        f"{mode} {summary['operation']} {summary['namespace']}/{summary['name'] or '?'} uid={summary['uid']}: "
        f"{what}{': ' + detail if detail else ''}"
    )


def limit_memory(limit: int) -> None:
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # the kernel's OOM killer takes a worker before the server (raising it needs no privilege)
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("800")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webhook.worker", description=__doc__)
    parser.add_argument("--agent-image", required=True)
    parser.add_argument("--memory-bytes", type=int, default=0, help="address-space limit (0: none)")
    args = parser.parse_args(argv)

    from webhook.admission import Settings  # imported before the limit: start-up is not a request

    settings = Settings(agent_image=args.agent_image)
    limit_memory(args.memory_bytes)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    write_frame(out, b"R", {"pid": os.getpid()})
    while True:
        head = read_exactly(inp, FRAME.size)
        if head is None:
            return 0
        mode_byte, length = FRAME.unpack(head)
        body = read_exactly(inp, length)
        if body is None or mode_byte not in MODES:
            return 0
        try:
            result = answer(MODES[mode_byte], body, settings, lambda summary: write_frame(out, b"H", summary))
        except MemoryError:
            del body
            write_frame(out, b"A", {"status": "memory"})
            return 3  # a fresh worker replaces this one (the heap may be fragmented)
        except Exception as exc:  # a bug: the operator needs the traceback; the request is denied
            traceback.print_exc(file=sys.stderr)
            result = {"status": "error", "error": f"{type(exc).__name__} (see the webhook's log)"}
        write_frame(out, b"A", result)


if __name__ == "__main__":
    raise SystemExit(main())
