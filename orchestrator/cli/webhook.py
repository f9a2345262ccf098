"""``kubereach webhook serve|certs``: the intra-pod enforcement admission webhook."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from probe.schema import DEFAULT_AGENT_IMAGE


@click.group()
def webhook() -> None:
    """The admission webhook that enforces intra-pod rules.

    Pods annotated with intrapod.kubereach.io/rules get an init container that installs
    the rules with iptables; pods whose rules cannot be enforced are denied.
    See docs/webhook.md.
    """


@webhook.command()
@click.option(
    "--cert",
    "cert_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Serving certificate (PEM), e.g. tls.crt from `webhook certs`.",
)
@click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Its private key (PEM), e.g. tls.key."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8443,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed on stderr).",
)
@click.option(
    "--agent-image", default=DEFAULT_AGENT_IMAGE, show_default=True, help="Image of the injected init container."
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Decision worker processes for ordinary reviews (each decides one review at a time).",
)
@click.option(
    "--large-workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Decision worker processes for reviews with a body over 64 KiB (a burst of them never delays the others).",
)
@click.option(
    "--budget",
    "budget_s",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.01, 25.0),
    help="Seconds a review may take, waiting for a worker included; past it the worker is replaced and the "
    "pod denied with the reason. Keep it well under the configurations' timeoutSeconds (5).",
)
@click.option(
    "--worker-memory",
    "worker_memory_mib",
    default=256,
    show_default=True,
    type=click.IntRange(64, 65536),
    help="Address space of each worker in MiB; a decision that needs more is denied and the worker replaced.",
)
@click.option("-v", "--verbose", count=True, help="More logging on stderr.")
def serve(
    cert_file: str,
    key_file: str,
    host: str,
    port: int,
    agent_image: str,
    workers: int,
    large_workers: int,
    budget_s: float,
    worker_memory_mib: int,
    verbose: int,
) -> int:
    """Serve /mutate, /validate and /healthz over HTTPS.

    Reviews are decided in worker processes, each bounded in time (--budget) and
    memory (--worker-memory); request bodies over 7 MiB are refused unread. See
    docs/webhook.md ("The webhook under load").
    """
    from webhook.admission import Settings
    from webhook.pool import PoolOptions
    from webhook.server import serve as run_server

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose > 1 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(bound_host: str, bound_port: int) -> None:
        click.echo(
            f"kubereach webhook: listening on https://{bound_host}:{bound_port} (agent image {agent_image})", err=True
        )

    asyncio.run(
        run_server(
            Settings(agent_image=agent_image),
            host=host,
            port=port,
            cert_file=cert_file,
            key_file=key_file,
            on_listening=announce,
            options=PoolOptions(
                workers=workers, large_workers=large_workers, budget_s=budget_s, memory_bytes=worker_memory_mib << 20
            ),
        )
    )
    return 0


@webhook.command()
@click.option("--service", required=True, help="The webhook's Service name.")
@click.option("-n", "--namespace", required=True, help="The Service's namespace.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Write ca.crt, tls.crt and tls.key (the key with mode 0600) here.",
)
@click.option("--dns", "extra_dns", multiple=True, help="Extra DNS name for the certificate (repeatable).")
@click.option("--ip", "ips", multiple=True, help="Extra IP address, e.g. 127.0.0.1 for the lab (repeatable).")
@click.option("--days", default=365, show_default=True, type=int, help="Validity.")
@click.option(
    "--patch-config",
    "patch",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Webhook configuration YAML whose caBundle fields to set in place (repeatable).",
)
def certs(
    service: str,
    namespace: str,
    out_dir: str,
    extra_dns: tuple[str, ...],
    ips: tuple[str, ...],
    days: int,
    patch: tuple[str, ...],
) -> int:
    """Create a CA and a serving certificate for the webhook's Service.

    Prints the base64 caBundle on stdout, or, with --patch-config, writes it into the
    given webhook configuration files (comments are kept).
    """
    from webhook.certs import generate, prepare_patches, write_bundle, write_patches

    bundle = generate(service, namespace, extra_dns=extra_dns, ips=ips, days=days)
    # Every configuration is checked before the certificates are written: a wrong file
    # must not leave fresh certificates in --out that no configuration trusts.
    prepared = prepare_patches(patch, bundle.ca_bundle)
    paths = write_bundle(bundle, out_dir)
    click.echo(f"wrote {paths['ca.crt']}, {paths['tls.crt']}, {paths['tls.key']}", err=True)
    if patch:
        for p in write_patches(prepared):
            click.echo(f"patched caBundle into {p}", err=True)
    else:
        click.echo(bundle.ca_bundle)
    return 0
