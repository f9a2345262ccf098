"""The ``kubereach`` (and ``kubectl-reach``) command line.

A thin click group: each command parses flags, calls one application function,
renders, and returns an exit code. Subcommands live in their own modules and are
imported only when invoked, so ``kubereach predict`` does not pay for the
Kubernetes client or scapy, and a broken optional dependency of one command
cannot break the others.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from orchestrator import __version__
from orchestrator.errors import EXIT_USAGE, KubereachError

# command name -> "module:attribute" of a click command
_COMMANDS: dict[str, str] = {
    "predict": "orchestrator.cli.predict:predict",
    "explain": "orchestrator.cli.predict:explain",
    "audit": "orchestrator.cli.audit:audit",
    "suggest": "orchestrator.cli.suggest:suggest",
    "sweep": "orchestrator.cli.sweep:sweep",
    "cleanup": "orchestrator.cli.sweep:cleanup",
    "report": "orchestrator.cli.report:report",
    "diff": "orchestrator.cli.diff:diff",
    "lab": "orchestrator.cli.lab:lab",
    "webhook": "orchestrator.cli.webhook:webhook",
}

_HELP = {
    "predict": "Expected reachability from manifests or a live cluster (no probing).",
    "explain": "Say in plain words why one connection is allowed or denied.",
    "audit": "Find what is weak in the policies themselves (coverage, dead rules, broad allows).",
    "suggest": "Write NetworkPolicies that make the policies match a reachability intent.",
    "sweep": "Probe the cluster from real source identities and compare with policy.",
    "cleanup": "Remove every object left behind by any kubereach sweep.",
    "report": "Build the HTML report of a sweep's results folder.",
    "diff": "Drift of observed reachability between two sweeps' results.",
    "lab": "Run a local emulated cluster (pods as network namespaces).",
    "webhook": "The intra-pod enforcement admission webhook.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)  # _COMMANDS names click commands only
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _HELP.get(name, "")) for name in _COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KubereachError as exc:
            click.echo(f"kubereach: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "KUBEREACH"})
@click.version_option(__version__, prog_name="kubereach")
def cli() -> None:
    """kubereach: which pods, ports and containers can actually reach each other,
    and does that match the NetworkPolicies and intra-pod rules?

    Start with `kubereach lab up -f manifests/demo/` and `kubereach sweep`, or
    `kubereach predict -f manifests/demo/` with no cluster at all.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console scripts; returns the process exit status."""
    try:
        rv = cli.main(args=argv, prog_name=_prog_name(), standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except KubereachError as exc:
        click.echo(f"kubereach: error: {exc}", err=True)
        return exc.exit_code
    return rv if isinstance(rv, int) else 0


def _prog_name() -> str:
    name = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "kubereach"
    return "kubectl reach" if name == "kubectl-reach" else "kubereach"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
