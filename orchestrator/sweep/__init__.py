"""Sweep planning and running: what to probe, from which identity, and how it compares.

Pure: ``selection`` (the --from/--to/--port flags), ``plan`` (snapshot -> agents and
their probe jobs), ``compare`` (expected + observed -> verdicts), the render half of
``deploy`` (the objects a sweep creates). I/O: ``runner`` (simulated and cluster
runners), the apply/cleanup half of ``deploy``, ``run`` (the sweep as an application:
discover, plan, probe, compare, always clean up) and ``progress`` (stderr only).
"""
