"""The intra-pod enforcement admission webhook.

``plan`` (pure) turns a pod into what its enforcement needs, or the list of reasons it
cannot be enforced; ``admission`` (pure) turns AdmissionReview v1 requests into
responses with JSONPatches; ``certs`` makes the CA and serving certificate; ``server``
is the thin aiohttp/TLS edge. Nothing here talks to the Kubernetes API.
"""
