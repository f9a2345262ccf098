"""Renderers: results in, ``str`` out (no file or terminal I/O here); one module per command.

- :mod:`orchestrator.reports.predict`: ``render_csv(rows)`` / ``iter_csv(rows)``,
  ``render_json(prediction)``, ``render_table(prediction)`` for ``kubereach predict``;
- :mod:`orchestrator.reports.explain`: ``render_explanation(verdict, policies)``.
"""
