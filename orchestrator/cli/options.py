"""Shared click option decorators: cluster flags like kubectl's, and logging flags.

``kube_options`` (``--kubeconfig``, ``--context``, ``-n`` repeatable, ``-A``,
``--request-timeout``) and ``logging_options`` (``-v`` counted, ``-q``) are applied the
same way by every command that needs them, so ``kubereach sweep`` and ``kubereach
predict`` accept identical flags.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

import click

F = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class KubeFlags:
    kubeconfig: str | None
    context: str | None
    namespaces: tuple[str, ...]
    all_namespaces: bool
    request_timeout: float | None  # None: the default (30 s); 0: no per-request timeout


def parse_duration(value: str | None) -> float | None:
    """kubectl's ``--request-timeout``: ``30``, ``30s``, ``1m``, ``500ms``, or ``0``: no
    per-request timeout at all (returned as 0.0). None when the flag was not given."""
    if value is None or value == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise click.BadParameter(
            f"{value!r}: expected a duration like 30, 30s, 1m or 500ms", param_hint="--request-timeout"
        )
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


NAMESPACE_HELP = "Namespace (repeatable; default: the context's namespace)."


def _kube_params(namespace_help: str = NAMESPACE_HELP) -> list[click.Option]:
    """Fresh click options for the cluster flags (one set per command)."""
    return [
        click.Option(
            ["--kubeconfig"],
            type=str,
            default=None,
            metavar="FILE",
            help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
            "or the in-cluster service account).",
        ),
        click.Option(["--context"], type=str, default=None, metavar="NAME", help="The kubeconfig context to use."),
        click.Option(
            ["-n", "--namespace", "namespace"],
            multiple=True,
            metavar="NS",
            help=namespace_help,
        ),
        click.Option(
            ["-A", "--all-namespaces", "all_namespaces"],
            is_flag=True,
            default=False,
            help="Every namespace of the cluster.",
        ),
        click.Option(
            ["--request-timeout", "request_timeout"],
            default=None,
            metavar="DURATION",
            help="Timeout of each API request (30, 30s, 1m, 500ms; default 30s). 0 means no "
            "per-request timeout, as in kubectl (a sweep's --deadline still bounds everything).",
        ),
    ]


_KUBE_KEYS = ("kubeconfig", "context", "namespace", "all_namespaces", "request_timeout")


def kube_flags(params: dict[str, Any]) -> KubeFlags:
    """The cluster flags out of a command's parsed params (validated)."""
    namespace = tuple(params.get("namespace") or ())
    all_namespaces = bool(params.get("all_namespaces"))
    if namespace and all_namespaces:
        raise click.UsageError("-n/--namespace and -A/--all-namespaces exclude each other")
    return KubeFlags(
        params.get("kubeconfig"),
        params.get("context"),
        namespace,
        all_namespaces,
        parse_duration(params.get("request_timeout")),
    )


@overload
def kube_options(fn: F) -> F: ...
@overload
def kube_options(*, namespace_help: str = NAMESPACE_HELP) -> Callable[[F], F]: ...


def kube_options(fn: F | None = None, *, namespace_help: str = NAMESPACE_HELP) -> Any:
    """Adds the cluster flags and passes one ``kube: KubeFlags`` argument. Used bare
    (``@kube_options``) or with a command's own ``-n`` help (``@kube_options(namespace_help=...)``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            flags = kube_flags({k: kwargs.pop(k) for k in _KUBE_KEYS})
            return fn(kube=flags, **kwargs)

        params = getattr(wrapper, "__click_params__", None)
        if params is None:
            params = wrapper.__click_params__ = []  # type: ignore[attr-defined]
        # click reverses __click_params__ when building the command: append in reverse to
        # keep --kubeconfig first in --help, as kubectl lists it.
        params.extend(reversed(_kube_params(namespace_help)))
        return wrapper

    return decorate(fn) if fn is not None else decorate


def _dropping_kube_keys(callback: F) -> F:
    """The command's own callback never sees the cluster flags; its snapshot source reads
    them from ``ctx.params``."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for key in _KUBE_KEYS:
            kwargs.pop(key, None)
        return callback(*args, **kwargs)

    return wrapper


def install_live_snapshot(commands: Any, sources: list[Callable[[dict[str, Any]], Any]]) -> None:
    """Give file-based commands (``predict``, ``explain``) the cluster flags: when any of
    them is given, the snapshot is read from the live cluster instead of ``-f``. With
    ``-f``, ``-n`` alone names the namespace of objects that have none (like ``kubectl
    apply -f -n``)."""
    for command in commands:
        params = _kube_params()
        for param in params:
            if param.name == "namespace":
                param.help = (
                    "Namespace (repeatable; default: the context's namespace). With -f: the namespace "
                    "for objects that name none (default: the kubeconfig context's, else 'default')."
                )
        command.params.extend(params)
        command.callback = _dropping_kube_keys(command.callback)

    def from_cluster(params: dict[str, Any]) -> Any:
        flags = kube_flags(params)
        if not (flags.kubeconfig or flags.context or flags.namespaces or flags.all_namespaces):
            return None
        if params.get("files"):
            if not (flags.kubeconfig or flags.context or flags.all_namespaces):
                return None  # -f with -n: the namespace for objects without one, as kubectl apply -f -n
            raise click.UsageError("-f and the cluster flags (--kubeconfig, --context, -A) exclude each other")
        from orchestrator.cluster.discovery import discover
        from orchestrator.cluster.kube import load_cluster

        with load_cluster(flags.kubeconfig, flags.context, request_timeout=flags.request_timeout) as kube:
            namespaces = None if flags.all_namespaces else (flags.namespaces or (kube.info.namespace,))
            snapshot = discover(kube, namespaces, tiers=True)
            where = "all namespaces" if namespaces is None else ", ".join(namespaces)
            tiers = f", {len(snapshot.cluster_policies)} cluster policies" if snapshot.cluster_policies else ""
            click.echo(
                f"discovered {len(snapshot.pods)} pods, {len(snapshot.policies)} network policies{tiers} in "
                f"{where} (context {kube.info.context})",
                err=True,
            )
            for note in snapshot.notes:
                click.echo(f"note: {note}", err=True)
        return snapshot

    sources.append(from_cluster)


def logging_options(fn: F) -> F:
    """``-v`` (counted) and ``-q``; configures logging on stderr and passes ``verbosity``."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        verbose, quiet = kwargs.pop("verbose"), kwargs.pop("quiet")
        verbosity = -1 if quiet else verbose
        level = (
            logging.ERROR
            if quiet
            else (logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
        )
        logging.basicConfig(level=level, format="kubereach: %(levelname)s: %(message)s")
        for noisy in ("urllib3", "kubernetes"):
            logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
        return fn(verbosity=verbosity, **kwargs)

    wrapper = click.option(
        "-q", "--quiet", is_flag=True, default=False, help="Only errors on stderr; no progress, no summary on stdout."
    )(wrapper)
    wrapper = click.option("-v", "--verbose", count=True, help="More logs on stderr (-vv for debug).")(wrapper)
    return wrapper
