"""``kubereach lab``: run the local emulated cluster (lab/), the demo's and tests' cluster.

Thin: parse flags, call one ``lab.control`` function, print. Progress goes to stderr,
results (paths, status) to stdout. ``lab.control`` raises ``LabError`` with an exit
code; it is turned into this package's error tree here (lab/ never imports it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from orchestrator.errors import KubereachError, UsageError

if TYPE_CHECKING:  # the lab is imported only when a lab command runs
    from lab.config import LabPaths
    from lab.control import LabClient, LabError

_STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the lab keeps its state [default: $KUBEREACH_LAB_DIR or /var/lib/kubereach-lab].",
)


def _progress(message: str) -> None:
    click.echo(f"lab: {message}", err=True)


def _raise(exc: LabError) -> NoReturn:
    err = UsageError(str(exc)) if exc.exit_code == 2 else KubereachError(str(exc))
    raise err from exc


@click.group()
def lab() -> None:
    """A local Kubernetes API where pods are network namespaces (needs root)."""


@lab.command()
@click.option(
    "-f",
    "--filename",
    "manifests",
    multiple=True,
    type=click.Path(exists=True, allow_dash=True, path_type=Path),
    help="Manifests (files, directories, or - for stdin) to apply once the lab is up; repeatable. "
    "kustomization.yaml, Helm chart files and other YAML that is not a Kubernetes object the lab "
    "serves are skipped and counted (render them first: `kubectl kustomize`, `helm template`).",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Number of lab nodes: each a network namespace with its own pod CIDR, all on one node network; "
    "pods are spread over them.",
)
@click.option(
    "--missing-image",
    "missing_images",
    multiple=True,
    metavar="REF",
    help="An image the lab fails to pull, as a cluster does an image nobody published: containers using it "
    "wait in ErrImagePull, then ImagePullBackOff. Repeatable; nginx and docker.io/library/nginx:latest are one.",
)
@click.option(
    "--cni",
    type=click.Choice(["enforce", "none"]),
    default="enforce",
    show_default=True,
    help="enforce: compile NetworkPolicies into iptables/ipset; none: a CNI that ignores them.",
)
@_STATE_DIR
@click.option(
    "--timeout",
    "pod_timeout",
    type=float,
    default=180.0,
    show_default=True,
    help="Seconds to wait for every pod to be Running and every workload to be rolled out.",
)
@click.option(
    "--webhook",
    is_flag=True,
    help="Also run the intra-pod admission webhook (`kubereach webhook serve`) on 127.0.0.1 "
    "and register it before the manifests are applied: annotated pods in namespaces "
    "labelled intrapod.kubereach.io/enforce=true get their rules enforced.",
)
def up(
    manifests: tuple[Path, ...],
    nodes: int,
    missing_images: tuple[str, ...],
    cni: str,
    state_dir: Path | None,
    pod_timeout: float,
    webhook: bool,
) -> int:
    """Start the lab daemon, apply manifests, wait until they have settled; print the kubeconfig path."""
    from lab import control

    before_apply = None
    if webhook:
        from orchestrator import lab_webhook

        def before_apply(client: LabClient, paths: LabPaths) -> None:
            lab_webhook.install(client, paths, progress=_progress)

    try:
        result = control.up(
            manifests=list(manifests),
            cni=cni,
            nodes=nodes,
            missing_images=list(missing_images),
            state_dir=state_dir,
            pod_timeout=pod_timeout,
            progress=_progress,
            before_apply=before_apply,
        )
    except control.LabError as exc:
        _raise(exc)
    click.echo(str(result.kubeconfig))
    _progress(
        f"lab {result.instance_id} is up at {result.url} (pid {result.pid})"
        + (f", {result.pods_running} pods running" if result.applied else "")
    )
    _progress(f"try: kubectl --kubeconfig {result.kubeconfig} get pods -A")
    return 0


@lab.command()
@_STATE_DIR
def down(state_dir: Path | None) -> int:
    """Stop the lab and remove everything it created."""
    from lab import control

    try:
        found = control.down(state_dir=state_dir, progress=_progress)
    except control.LabError as exc:
        _raise(exc)
    _progress("lab removed" if found else "no lab to stop")
    return 0


@lab.command()
@_STATE_DIR
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(state_dir: Path | None, output: str) -> int:
    """Instance, API URL, pid and pod counts; exit 3 if no lab is running."""
    from lab import control

    info = control.status(state_dir=state_dir)
    if output == "json":
        click.echo(json.dumps(info, indent=2))
    elif not info.get("instance"):
        click.echo(f"no lab in {info['stateDir']}")
    else:
        phases = ", ".join(f"{k} {v}" for k, v in sorted((info.get("phases") or {}).items()))
        rows = [
            ("instance", info["instance"]),
            ("running", "yes" if info["running"] else "no (daemon gone)"),
            ("state dir", info["stateDir"]),
            ("API", info.get("url") or "-"),
            ("pid", info.get("pid")),
            ("cni", info.get("cni")),
            ("nodes", ", ".join(f"{n['name']} ({n['internalIP']})" for n in info.get("nodes") or []) or "-"),
            ("kubeconfig", info.get("kubeconfig")),
            ("pods", f"{info.get('pods', '-')}" + (f" ({phases})" if phases else "")),
            ("network policies", info.get("networkPolicies", "-")),
            ("faults", len(info.get("faults") or [])),
        ]
        for c in info.get("companions") or []:
            rows.append(
                (
                    c["name"],
                    f"companion process, pid {c['pid']} ({'running' if c['running'] else 'gone'}), log {c['log']}",
                )
            )
        for key, value in rows:
            click.echo(f"{key + ':':<18}{value}")
    return 0 if info.get("running") else 3


@lab.command()
@_STATE_DIR
@click.option("--show", is_flag=True, help="Print the kubeconfig itself rather than its path.")
def kubeconfig(state_dir: Path | None, show: bool) -> int:
    """Print the lab's kubeconfig path (or its content with --show)."""
    from lab import control

    try:
        path = control.kubeconfig_path(state_dir=state_dir)
    except control.LabError as exc:
        _raise(exc)
    click.echo(path.read_text() if show else str(path), nl=not show)
    return 0


@lab.command(context_settings={"ignore_unknown_options": False})
@click.argument("action", type=click.Choice(["allow", "deny", "remove", "clear", "list"]))
@click.argument("args", nargs=-1)
@_STATE_DIR
def fault(action: str, args: tuple[str, ...], state_dir: Path | None) -> int:
    """Make the CNI misbehave: `allow|deny SRC DST PORT/PROTO` (SRC/DST as ns/pod, pods that
    exist), `remove SRC DST PORT/PROTO` takes that one away, `clear` all, `list` shows them."""
    from lab import control

    try:
        if action in ("clear", "list"):
            if args:
                raise control.LabError(f"`lab fault {action}` takes no arguments", 2)
            if action == "clear":
                faults = control.fault(None, state_dir=state_dir)
            else:
                faults = control.list_faults(state_dir=state_dir)
        else:
            if len(args) != 3:
                raise control.LabError(f"usage: kubereach lab fault {action} SRC DST PORT/PROTO", 2)
            if action == "remove":
                faults = control.remove_fault(control.parse_fault("deny", *args), state_dir=state_dir)
            else:
                faults = control.fault(control.parse_fault(action, *args), state_dir=state_dir)
    except control.LabError as exc:
        _raise(exc)
    for f in faults:
        click.echo(f"{f['action']}\t{f['source']} -> {f['destination']}\t{f['port']}/{f['protocol']}")
    if not faults:
        _progress("no faults in force")
    return 0
