"""``report.html``: one self-contained page per results folder.

:func:`render_report` turns the data of :mod:`orchestrator.reports.reportdata` into the
page with Jinja2 (``templates/report.html.j2``), inlining its stylesheet and script
(``templates/report.css``, ``templates/report.js``) so the file opens from a laptop's disk
or a CI artifact with no network. The data travels as one JSON island
(``<script type="application/json" id="kubereach-data">``) that tests read back.

A Content-Security-Policy meta tag allows exactly the page's own inline script and style
(by their SHA-256) and nothing else: no remote loads, no other script, even if a name in
the results folder were crafted to look like HTML (everything from the folder is escaped
by Jinja2 on the server side and inserted as text by the script).

Verdict colours are defined once, in :data:`orchestrator.reports.reportdata.CLASSES`; the
stylesheet's ``.c-<class>`` rules are generated from it here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import cache
from typing import Any

from orchestrator.reports.reportdata import CLASSES

ISLAND_ID = "kubereach-data"


@cache
def _asset(name: str) -> str:
    from importlib.resources import files

    return (files("orchestrator.reports") / "templates" / name).read_text(encoding="utf-8")


def class_rules() -> str:
    rules = [f".c-{c.name} {{ background: {c.colour}; color: {c.text}; }}" for c in CLASSES]
    mix = f":root {{ --mix-a: {CLASSES[0].colour}; --mix-b: {CLASSES[1].colour}; }}"
    return "\n".join([mix, *rules]) + "\n"


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def island_json(data: Any) -> str:
    """JSON that is safe inside ``<script>``: ``<``, ``>`` and ``&`` as ``\\u`` escapes, so no
    text in the data can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_report(data: dict[str, Any]) -> str:
    """The page for ``data`` (:func:`orchestrator.reports.reportdata.report_data`)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup

    from orchestrator import __version__
    from orchestrator.reports.sweep import EXIT_MEANING

    css = _asset("report.css") + class_rules()
    js = _asset("report.js")
    if "</" in js or "</" in css:  # our own assets: would end their element early
        raise AssertionError("report assets must not contain '</'")
    csp = (
        "default-src 'none'; "
        f"script-src '{_sha256(js)}'; style-src '{_sha256(css)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    env = Environment(
        loader=PackageLoader("orchestrator.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        data=data,
        css=Markup(css),
        js=Markup(js),
        island=Markup(island_json(data)),
        csp=csp,
        exit_meaning=EXIT_MEANING,
        version=__version__,
    )


def extract_island(html: str) -> Any:
    """The JSON island of a rendered report (for tests and tools)."""
    start_tag = f'<script type="application/json" id="{ISLAND_ID}">'
    start = html.index(start_tag) + len(start_tag)
    end = html.index("</script>", start)
    return json.loads(html[start:end])


def build_report(directory: str, *, drift: Any = None, run: Any = None) -> str:
    """The report of a results folder. ``drift``: a :class:`~orchestrator.reports.diff.Drift`
    (default: the folder's own ``drift.csv`` when a sweep wrote one against a baseline);
    ``run``: the folder already read (:func:`~orchestrator.reports.rundir.load_run`)."""
    from orchestrator.reports.diff import read_folder_drift
    from orchestrator.reports.reportdata import report_data
    from orchestrator.reports.rundir import load_run

    run = run if run is not None else load_run(directory, snapshot=False)
    if drift is None:
        drift = read_folder_drift(directory, run.info)
    return render_report(report_data(run, drift))


def write_report(directory: str, html: str, path: str | None = None) -> str:
    """Write ``html`` to ``path`` (default ``directory/report.html``) via a temporary file
    and a rename, so a reader never sees half a report; returns the path."""
    target = path or os.path.join(directory, "report.html")
    tmp = f"{target}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(html)
    os.replace(tmp, target)
    return target


__all__ = ["build_report", "class_rules", "extract_island", "island_json", "render_report", "write_report"]
