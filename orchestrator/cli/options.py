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
from typing import Any

import click

F = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class KubeFlags:
    kubeconfig: str | None
    context: str | None
    namespaces: tuple[str, ...]
    all_namespaces: bool
    request_timeout: float | None


def parse_duration(value: str | None) -> float | None:
    """kubectl's ``--request-timeout``: ``0`` (none), ``30``, ``30s``, ``1m``, ``500ms``."""
    if value is None or value == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise click.BadParameter(
            f"{value!r}: expected a duration like 30, 30s, 1m or 500ms", param_hint="--request-timeout"
        )
    number = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return number or None


def _kube_params() -> list[click.Option]:
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
            help="Namespace (repeatable; default: the context's namespace).",
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
            help="Timeout of each API request (30, 30s, 1m; 0: the default of 30s).",
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


def kube_options(fn: F) -> F:
    """Adds the cluster flags and passes one ``kube: KubeFlags`` argument."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        flags = kube_flags({k: kwargs.pop(k) for k in _KUBE_KEYS})
        return fn(kube=flags, **kwargs)

    params = getattr(wrapper, "__click_params__", None)
    if params is None:
        params = wrapper.__click_params__ = []  # type: ignore[attr-defined]
    # click reverses __click_params__ when building the command: append in reverse to
    # keep --kubeconfig first in --help, as kubectl lists it.
    params.extend(reversed(_kube_params()))
    return wrapper


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
    them is given, the snapshot is read from the live cluster instead of ``-f``."""
    for command in commands:
        command.params.extend(_kube_params())
        command.callback = _dropping_kube_keys(command.callback)

    def from_cluster(params: dict[str, Any]) -> Any:
        flags = kube_flags(params)
        if not (flags.kubeconfig or flags.context or flags.namespaces or flags.all_namespaces):
            return None
        if params.get("files"):
            raise click.UsageError("-f and the cluster flags (--kubeconfig, --context, -n, -A) exclude each other")
        from orchestrator.cluster.discovery import discover
        from orchestrator.cluster.kube import load_cluster
        from orchestrator.reports.predict import describe_load

        with load_cluster(flags.kubeconfig, flags.context, request_timeout=flags.request_timeout) as kube:
            namespaces = None if flags.all_namespaces else (flags.namespaces or (kube.info.namespace,))
            snapshot = discover(kube, namespaces)
            where = "all namespaces" if namespaces is None else ", ".join(namespaces)
            click.echo(
                describe_load(snapshot, verb="discovered", where=f"in {where} (context {kube.info.context})"), err=True
            )
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
