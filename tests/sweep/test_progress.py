"""Progress goes to stderr only when it is a terminal, as one redrawn line."""

from __future__ import annotations

import io

from orchestrator.sweep.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_silent_off_a_terminal():
    buf = io.StringIO()
    p = Progress(buf)
    p.update(agents_done=1, agents_total=2, probes_done=5, probes_total=10, phase="probing")
    p.done()
    assert buf.getvalue() == ""


def test_progress_redraws_one_line_on_a_terminal_and_clears_it():
    buf = Tty()
    p = Progress(buf)
    p.update(agents_done=2, agents_total=2, probes_done=10, probes_total=10, phase="probing")
    assert buf.getvalue().startswith("\rkubereach: probing: agents 2/2, probes 10/10")
    assert "\n" not in buf.getvalue()
    p.done()
    assert buf.getvalue().endswith("\r")
