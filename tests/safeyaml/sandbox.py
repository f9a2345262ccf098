"""Run a fuzz target in a resource-limited child process, so an explosion fails the test, not the machine.

``Sandbox(cpu_s=..., memory_bytes=...)`` starts one child (``RLIMIT_AS``, ``RLIMIT_CPU``,
no core dumps) and keeps it for many calls; ``sandbox.call("module:function", arg)``
sends ``arg`` (pickled), runs the function there and returns :class:`Result`: its
return value, or the name and message of the exception it raised. A child that dies
(CPU limit, a crash) or does not answer within ``wall_s`` is killed and the call
raises :class:`Exploded` naming what happened; the next call starts a fresh child.
MemoryError inside the child is an explosion too (the target needed more than the
limit). The targets live in importable modules (``fuzz_targets.py``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HEAD = struct.Struct(">I")
_CHILD = r"""
import importlib, os, pickle, resource, struct, sys, traceback
sys.path[:0] = __PATHS__
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (__CPU__, __CPU__ + 1))
resource.setrlimit(resource.RLIMIT_AS, (__MEM__, __MEM__))
head = struct.Struct(">I")
inp, out = sys.stdin.buffer, sys.stdout.buffer
def send(obj):
    data = pickle.dumps(obj)
    out.write(head.pack(len(data)) + data); out.flush()
while True:
    n = inp.read(4)
    if len(n) < 4:
        break
    target, arg = pickle.loads(inp.read(head.unpack(n)[0]))
    module, _, name = target.partition(":")
    try:
        value = getattr(importlib.import_module(module), name)(arg)
        send(("ok", value))
    except MemoryError:
        send(("memory", "MemoryError"))
        break
    except BaseException as exc:
        send(("raised", type(exc).__name__, str(exc)[:2000], traceback.format_exc()[-3000:]))
"""


class Exploded(AssertionError):
    """The target ran out of CPU, memory or wall time, or crashed the process."""


@dataclass(frozen=True, slots=True)
class Result:
    value: Any = None
    raised: str | None = None  # the exception's class name
    message: str = ""
    traceback: str = ""


class Sandbox:
    def __init__(self, *, cpu_s: int = 120, memory_bytes: int = 1 << 30, wall_s: float = 30.0) -> None:
        self.cpu_s, self.memory_bytes, self.wall_s = cpu_s, memory_bytes, wall_s
        self._proc: subprocess.Popen[bytes] | None = None
        self.paths = [str(Path(__file__).parent), str(Path(__file__).parent.parent.parent)]

    def _start(self) -> subprocess.Popen[bytes]:
        code = (
            _CHILD.replace("__PATHS__", repr(self.paths))
            .replace("__CPU__", str(self.cpu_s))
            .replace("__MEM__", str(self.memory_bytes))
        )
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, target: str, arg: Any) -> Result:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        data = pickle.dumps((target, arg))
        try:
            proc.stdin.write(_HEAD.pack(len(data)) + data)
            proc.stdin.flush()
            head = self._read(proc, 4)
            answer = pickle.loads(self._read(proc, _HEAD.unpack(head)[0]))
        except (BrokenPipeError, EOFError) as exc:
            code = proc.wait()
            self._proc = None
            raise Exploded(f"{target} killed the sandbox (exit {code}: CPU limit or crash) on {_show(arg)}") from exc
        except TimeoutError:
            self.close()
            raise Exploded(f"{target} did not return within {self.wall_s:g}s on {_show(arg)}") from None
        if answer[0] == "memory":
            self.close()
            raise Exploded(f"{target} needed more than {self.memory_bytes >> 20} MiB on {_show(arg)}")
        if answer[0] == "ok":
            return Result(value=answer[1])
        return Result(raised=answer[1], message=answer[2], traceback=answer[3])

    def _read(self, proc: subprocess.Popen[bytes], n: int) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.wall_s
        chunks: list[bytes] = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    f.close()
            self._proc = None


def _show(arg: Any) -> str:
    text = repr(arg)
    return text if len(text) <= 300 else f"{text[:300]}… ({len(text):,} characters)"
