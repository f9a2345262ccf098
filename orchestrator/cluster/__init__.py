"""The operator's edge to a live cluster: the one API adapter (``kube``) and discovery.

Nothing else in the orchestrator imports the ``kubernetes`` client; everything above
this package works on snapshot values and plain API-shaped dicts.
"""
