"""Live progress of a sweep on stderr, only when stderr is a terminal.

Results go to stdout and logs to stderr; a progress line would garble a log file or a
CI transcript, so off a terminal :class:`Progress` prints nothing at all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Redraw at most 10 times a second: smooth enough to read, cheap enough to ignore.
MIN_INTERVAL_S = 0.1


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._width = 0
        self._started = time.monotonic()

    def update(self, *, agents_done: int, agents_total: int, probes_done: int, probes_total: int, phase: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = agents_done == agents_total
        if not final and now - self._last < MIN_INTERVAL_S:
            return
        self._last = now
        line = (
            f"kubereach: {phase}: agents {agents_done}/{agents_total}, "
            f"probes {probes_done}/{probes_total}, {now - self._started:.1f}s"
        )
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
