"""``kubereach-probe``: the agent's command line (argparse: the image has no click).

Commands: ``run`` (a probe spec in, one result document out), ``scan`` (the same engine
for a person), ``serve`` (identity listeners), ``intrapod render|apply|check``.
Exit status: 0 done (whatever the probes found; ``check``: no drift), 1 ``check``
found drift, 2 bad input (message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from probe import __version__

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit 2, with our prefix
        self.print_usage(sys.stderr)
        print(f"kubereach-probe: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kubereach-probe",
        description="kubereach in-pod agent: probes, identity listeners and intra-pod iptables rules.",
    )
    p.add_argument("--version", action="version", version=f"kubereach-probe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run a probe spec; print one result document (JSON line)",
        description="Exit 0 with one JSON result line whenever the spec is "
        "valid; exit 2 with the field at fault on stderr otherwise. "
        "Formats: probe/README.md.",
    )
    run.add_argument("--spec", help="spec JSON, or z:BASE64 (zlib); default: read stdin")

    scan = sub.add_parser("scan", help="scan hosts and ports, like a tiny nmap")
    scan.add_argument("hosts", nargs="+", metavar="HOST")
    scan.add_argument("-p", "--ports", required=True, help="e.g. 22,80,8000-8010")
    scan.add_argument("--udp", action="store_true", help="UDP probes (to kubereach listeners)")
    scan.add_argument("--method", choices=["connect", "syn"], default="connect")
    scan.add_argument("--timeout", type=float, default=1.0, help="seconds per attempt")
    scan.add_argument("--retries", type=int, default=1)
    scan.add_argument("--concurrency", type=int, default=512)
    scan.add_argument("--rate", type=float, default=0.0, help="probes started per second (0: no limit)")
    scan.add_argument("--deadline", type=float, default=600.0)
    scan.add_argument("-o", "--output", choices=["table", "json"], default="table")

    serve = sub.add_parser("serve", help="answer TCP/UDP (and HTTP) with this pod's identity")
    serve.add_argument("--tcp", type=int, action="append", default=[], metavar="PORT")
    serve.add_argument("--udp", type=int, action="append", default=[], metavar="PORT")
    serve.add_argument("--http", type=int, action="append", default=[], metavar="PORT")
    serve.add_argument("--bind", default=None, help="address to bind (default: all, dual-stack)")

    intrapod = sub.add_parser(
        "intrapod",
        help="intra-pod rules as iptables: render, apply, check",
        description="render: print the rules; apply: install them (idempotent, only chain "
        "KUBEREACH-INTRAPOD and one jump from OUTPUT -o lo); check: exit 0 if the "
        "installed rules match, 1 with a diff on drift. Exit 2: bad input or "
        "unenforceable rules.",
    )
    intrapod.add_argument("action", choices=["render", "apply", "check"])
    src = intrapod.add_argument_group(
        "input (one of --config-file, --config, $KUBEREACH_INTRAPOD_CONFIG, or --rules with --uids and --ports)"
    )
    src.add_argument(
        "--config",
        help='JSON (or @FILE): {"rules": ..., "containers": [{"name": "app", "uid": 1001, "ports": ["8080/TCP"]}]}',
    )
    src.add_argument(
        "--config-file",
        metavar="PATH",
        help="read the config (JSON, or z:BASE64 of zlib JSON) from a file: the init container reads the "
        "webhook's config annotation projected here by a downward-API volume (no command-line size limit)",
    )
    src.add_argument("--rules", help="annotation text (JSON; YAML if PyYAML is installed) or @FILE")
    src.add_argument("--uids", default="", help="container UIDs: app=1001,sidecar=1002")
    src.add_argument("--ports", default="", help='declared ports: "app=8080/TCP,9090/UDP;sidecar=9000"')
    intrapod.add_argument(
        "--family", choices=["4", "6", "both"], default="both", help="iptables (4), ip6tables (6) or both (default)"
    )
    intrapod.add_argument(
        "--allow-unenforceable",
        action="store_true",
        help="install what can be enforced even if some rules cannot be (each finding is still printed on stderr)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "scan":
            return _cmd_scan(args)
        if args.command == "serve":
            return _cmd_serve(args)
        return _cmd_intrapod(args)
    except KeyboardInterrupt:
        return 130


def _usage(message: str) -> int:
    print(f"kubereach-probe: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _cmd_run(args: argparse.Namespace) -> int:
    from probe.engine import run_spec
    from probe.spec import SpecError, decode_spec_text, parse_spec

    text = args.spec if args.spec is not None else sys.stdin.read()
    try:
        spec = parse_spec(decode_spec_text(text))
    except SpecError as exc:
        return _usage(str(exc))
    doc = asyncio.run(run_spec(spec))
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    from probe.engine import run_spec
    from probe.scan import build_spec, parse_ports, render_table
    from probe.spec import SpecError, parse_spec

    try:
        ports = parse_ports(args.ports)
        spec = parse_spec(
            build_spec(
                args.hosts,
                ports,
                udp=args.udp,
                method=args.method,
                timeout_s=args.timeout,
                retries=args.retries,
                concurrency=args.concurrency,
                deadline_s=args.deadline,
                rate_per_s=args.rate,
            )
        )
    except (ValueError, SpecError) as exc:
        return _usage(_scan_flag_names(str(exc)))
    doc = asyncio.run(run_spec(spec))
    if args.output == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(render_table(doc))
    return EXIT_OK


# scan builds a spec from flags: report a bad value under the flag the user typed
_SCAN_FLAGS = (
    ("timeout_s:", "--timeout:"),
    ("retries:", "--retries:"),
    ("concurrency:", "--concurrency:"),
    ("rate_per_s:", "--rate:"),
    ("deadline_s:", "--deadline:"),
)


def _scan_flag_names(message: str) -> str:
    for field, flag in _SCAN_FLAGS:
        if message.startswith(field):
            return flag + message[len(field) :]
    if message.startswith("targets[") and ".address:" in message.split(" ", 1)[0]:
        return "HOST:" + message.split(":", 1)[1]
    return message


def _cmd_serve(args: argparse.Namespace) -> int:
    from probe.serve import serve

    ports = args.tcp + args.udp + args.http
    if not ports:
        return _usage("serve: give at least one --tcp, --udp or --http port")
    bad = [p for p in ports if not 1 <= p <= 65535]
    if bad:
        return _usage(f"serve: port {bad[0]} out of range 1-65535")
    try:
        return asyncio.run(serve(args.tcp, args.udp, args.http, host=args.bind))
    except OSError as exc:
        return _usage(f"serve: cannot listen: {exc}")


def _read_arg(value: str, flag: str) -> str:
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as fh:
                return fh.read()
        except (OSError, UnicodeError) as exc:
            raise OSError(f"{flag}: cannot read {value[1:]!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return value


def _cmd_intrapod(args: argparse.Namespace) -> int:
    from probe import intrapod as ip

    try:
        given = [flag for flag, value in (("--config", args.config), ("--config-file", args.config_file)) if value]
        if len(given) > 1 or (given and args.rules is not None):
            raise ip.IntrapodError("give one of --config, --config-file and --rules")
        if args.config_file is not None:
            data = ip.decode_config_text(ip.read_config_file(args.config_file), "--config-file")
        elif args.config is not None or (args.rules is None and os.environ.get(ip.CONFIG_ENV)):
            text = _read_arg(args.config, "--config") if args.config is not None else os.environ[ip.CONFIG_ENV]
            data = ip.decode_config_text(text, "--config" if args.config is not None else f"${ip.CONFIG_ENV}")
        elif args.rules is not None:
            data = ip.config_from_flags(_read_arg(args.rules, "--rules"), args.uids, args.ports)
        else:
            raise ip.IntrapodError(
                f"give --config-file, --config, ${ip.CONFIG_ENV}, or --rules with --uids and --ports"
            )
        config = ip.parse_config(data)
        families = (4, 6) if args.family == "both" else (int(args.family),)
        findings = ip.blocking_findings(config)
        for code, message in findings:
            print(
                f"kubereach-probe: {'warning' if args.allow_unenforceable else 'error'}: "
                f"unenforceable: {message} [{code}]",
                file=sys.stderr,
            )
        if findings and not args.allow_unenforceable:
            raise ip.IntrapodError(
                "the rules cannot be enforced as declared (see above); fix the pod or pass --allow-unenforceable"
            )
        if args.action == "render":
            sys.stdout.write(ip.render(config, families))
            return EXIT_OK
        if args.action == "apply":
            ip.apply(config, families)
            print(
                f"kubereach-probe: intrapod rules applied ({len(ip.compile_rules(config))} "
                f"rule(s) per family, chain {ip.CHAIN})",
                file=sys.stderr,
            )
            return EXIT_OK
        diff = ip.check(config, families)
        if diff:
            sys.stdout.write(diff)
            print("kubereach-probe: intrapod rules drifted from the declaration", file=sys.stderr)
            return EXIT_DRIFT
        print("kubereach-probe: intrapod rules match the declaration", file=sys.stderr)
        return EXIT_OK
    except (ip.IntrapodError, OSError) as exc:
        return _usage(str(exc))


if __name__ == "__main__":
    raise SystemExit(main())
