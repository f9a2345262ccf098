"""Image references, and the images the lab is told cannot be pulled (``lab up --missing-image``).

The lab runs no images, so every image "pulls". To reproduce what a cluster does with
an image nobody published (the sweep's agent image, say), ``lab up --missing-image REF``
names images that fail: a container using one waits in ``ErrImagePull``, then
``ImagePullBackOff``, with the kubelet's messages, and its pod never starts (an
ephemeral container waits the same way in a running pod).

References are compared as the container runtime would resolve them: ``nginx``,
``nginx:latest``, ``docker.io/nginx`` and ``docker.io/library/nginx:latest`` are one
image; a digest is kept as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
PULL_ERROR_SECONDS = 2.0  # how long a container shows ErrImagePull before the back-off
BACKOFF_INITIAL_SECONDS = 10.0  # the kubelet's image pull back-off: 10 s, doubling...
BACKOFF_MAX_SECONDS = 300.0  # ...up to five minutes
MAX_REFERENCE = 512  # longer than any real reference; bounds what we normalise


def normalize(reference: str) -> str:
    """The fully qualified form: registry, repository, and a tag (``latest``) or digest."""
    ref = reference.strip()[:MAX_REFERENCE]
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        registry, path = DEFAULT_REGISTRY, name
    else:
        registry, path = first, rest
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    last = path.rsplit("/", 1)[-1]
    if not at and ":" not in last:
        path += ":latest"
    return f"{registry}/{path}" + (f"@{digest}" if at else "")


@dataclass(frozen=True, slots=True)
class MissingImages:
    """The images that fail to pull in this lab."""

    references: frozenset[str] = frozenset()

    @classmethod
    def of(cls, references: Iterable[str]) -> MissingImages:
        return cls(frozenset(normalize(r) for r in references if r and r.strip()))

    def __contains__(self, image: object) -> bool:
        return isinstance(image, str) and bool(image) and normalize(image) in self.references


def pull_error(image: str) -> str:
    """The message a kubelet (containerd) shows for an image that does not exist."""
    full = normalize(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": '
        f'failed to resolve reference "{full}": {full}: not found'
    )


def backoff_message(image: str) -> str:
    return f'Back-off pulling image "{image}": ErrImagePull: {pull_error(image)}'


def backoff_seconds(attempt: int) -> float:
    """The wait after the ``attempt``-th failed pull (1-based)."""
    return float(min(BACKOFF_INITIAL_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS))
