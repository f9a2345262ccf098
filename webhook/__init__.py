"""The intra-pod enforcement admission webhook.

``plan`` (pure) turns a pod into what its enforcement needs, or the list of reasons it
cannot be enforced (through the snapshot translation and the one enforceability
function predict and the sweep use); ``admission`` (pure) turns AdmissionReview v1
requests into responses with JSONPatches and warnings; ``qos`` keeps the pod's QoS
class; ``certs`` makes the CA and serving certificate. ``worker`` decides reviews in a
child process bounded in memory, ``pool`` keeps a few of them with a time budget per
review, and ``server`` is the thin aiohttp/TLS edge that only moves bytes. Nothing
here talks to the Kubernetes API.
"""
