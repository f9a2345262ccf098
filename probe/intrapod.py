"""Intra-pod rules as iptables: render (pure), apply (idempotent), check (drift).

Containers of a pod share one network namespace, so a container reaching another's
port goes out through ``lo`` (for 127.0.0.1, ::1 *and* the pod's own IPs) with the
source container's UID on the socket. The rules therefore live in one dedicated chain,
``KUBEREACH-INTRAPOD`` in the filter table, jumped to from ``OUTPUT`` with ``-o lo``,
for IPv4 (iptables) and IPv6 (ip6tables), matching ``-m owner --uid-owner``.

Compilation is first-match, like the annotation: every rule in order, then the
default (a default allow needs no rules). A deny becomes ``REJECT`` (TCP
``tcp-reset``, UDP/SCTP port-unreachable) so a blocked connect fails at once instead
of timing out (TCP rules match SYN only, so a listener's replies are never judged); an allow becomes ``RETURN``,
which ends *our* decision but lets later rules of OUTPUT (a mesh's, an admin's) still
apply, where ``ACCEPT`` would silently bypass them. A (UID, port) decided once is not
repeated. Traffic from UIDs that belong to no container is not ours to judge and
passes through.

``apply`` replaces only this chain (``iptables-restore --noflush``) and keeps exactly
one jump to it in OUTPUT; it never touches other chains, rules or tables. Standard
library only.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import shlex
import subprocess
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.intrapod_rules import (
    Action,
    ContainerInfo,
    IntraPodRules,
    RulesError,
    enforceability_findings,
    parse_port,
    parse_rules,
)
from probe.schema import PortRef, Protocol

CHAIN = "KUBEREACH-INTRAPOD"
JUMP = ["-o", "lo", "-j", CHAIN]
CONFIG_ENV = "KUBEREACH_INTRAPOD_CONFIG"  # the init container gets --config from here
FAMILIES = (4, 6)
# The config the webhook writes: JSON, or "z:" + base64 of zlib-compressed JSON. A rules
# annotation is at most 256 KiB and its canonical form at most four times that (a "1,"
# port becomes '"1/TCP",'), so 4 MiB decoded is ample; a zlib bomb stops there.
COMPRESSED_PREFIX = "z:"
MAX_CONFIG_BYTES = 4 << 20

_TOOLS = {4: ("iptables", "iptables-restore", "iptables-save"), 6: ("ip6tables", "ip6tables-restore", "ip6tables-save")}


class IntrapodError(Exception):
    """Bad input or rules that cannot be enforced; exit status 2."""


@dataclass(frozen=True, slots=True)
class ChainRule:
    uid: int
    port: PortRef
    action: Action
    comment: str


@dataclass(frozen=True, slots=True)
class IntrapodConfig:
    rules: IntraPodRules
    containers: tuple[ContainerInfo, ...]


# -- input --------------------------------------------------------------------------


def decode_rules_text(text: str) -> Any:
    """Annotation text: JSON always; YAML only where the bounded loader (:mod:`safeyaml`,
    with one annotation's limits) is installed: it is in the operator's and the webhook's
    installs; the init container gets the webhook's JSON and never needs it."""
    if len(text) > MAX_CONFIG_BYTES:
        raise IntrapodError(f"rules: larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        return json.loads(text)
    except RecursionError:
        raise IntrapodError("rules: not valid JSON (nested too deeply)") from None
    except ValueError as json_exc:
        try:
            import safeyaml
        except ImportError:
            raise IntrapodError(
                f"rules: not valid JSON ({str(json_exc)[:200]}); YAML needs kubereach's safeyaml, "
                "which this install does not have"
            ) from None
        try:
            return safeyaml.load(text, safeyaml.ANNOTATIONS)
        except safeyaml.YamlError as exc:
            raise IntrapodError(f"rules: neither JSON nor YAML ({exc})") from None


def decode_config_text(text: str, what: str = "config") -> Any:
    """The config document from its text: JSON, or ``z:`` + base64(zlib(JSON)).

    Bounded: at most :data:`MAX_CONFIG_BYTES` of text and of decompressed JSON, and a
    JSON document nested too deeply is a clean error; ``what`` names the input in errors."""
    if len(text) > MAX_CONFIG_BYTES:
        raise IntrapodError(f"{what}: larger than {MAX_CONFIG_BYTES:,} bytes")
    stripped = text.strip()
    if stripped.startswith(COMPRESSED_PREFIX):
        try:
            packed = base64.b64decode(stripped[len(COMPRESSED_PREFIX) :], validate=True)
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, MAX_CONFIG_BYTES + 1)
        except (binascii.Error, ValueError, zlib.error) as exc:
            raise IntrapodError(f"{what}: not base64 of zlib data after {COMPRESSED_PREFIX!r} ({exc})") from None
        if len(raw) > MAX_CONFIG_BYTES or inflater.unconsumed_tail:
            raise IntrapodError(f"{what}: more than {MAX_CONFIG_BYTES:,} bytes once decompressed")
        try:
            stripped = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise IntrapodError(f"{what}: the decompressed config is not UTF-8") from None
    try:
        return json.loads(stripped)
    except RecursionError:
        raise IntrapodError(f"{what}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise IntrapodError(f"{what}: not valid JSON ({str(exc)[:200]})") from None


def encode_config_text(data: Any) -> str:
    """Canonical config text: compact sorted JSON, or its ``z:`` form when that is shorter
    (a long rule list compresses well, and an annotation's room is limited)."""
    plain = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    packed = COMPRESSED_PREFIX + base64.b64encode(zlib.compress(plain.encode(), 9)).decode()
    return packed if len(packed) < len(plain) else plain


def read_config_file(path: str) -> str:
    """The config file's text (e.g. the downward-API projection of the config annotation)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise IntrapodError(f"--config-file: cannot read {path!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise IntrapodError(f"--config-file: {path!r} is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise IntrapodError(f"--config-file: {path!r} is not UTF-8 text") from None


def parse_config(data: Any) -> IntrapodConfig:
    """``{"rules": ..., "containers": [{"name", "uid", "ports": ["8080/TCP"]}]}``."""
    if not isinstance(data, Mapping):
        raise IntrapodError("config: expected an object with 'rules' and 'containers'")
    unknown = set(data) - {"rules", "containers"}
    if unknown:
        raise IntrapodError(f"config.{sorted(unknown)[0]}: unknown field (expected rules, containers)")
    raw_containers = data.get("containers")
    if not isinstance(raw_containers, list) or not raw_containers:
        raise IntrapodError("config.containers: expected a non-empty list")
    containers: list[ContainerInfo] = []
    problems: list[str] = []
    for i, raw in enumerate(raw_containers):
        where = f"config.containers[{i}]"
        if not isinstance(raw, Mapping):
            raise IntrapodError(f"{where}: expected an object")
        extra = set(raw) - {"name", "uid", "ports"}
        if extra:
            raise IntrapodError(f"{where}.{sorted(extra)[0]}: unknown field (expected name, uid, ports)")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise IntrapodError(f"{where}.name: required, a container name")
        uid = raw.get("uid")
        if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int) or uid < 0):
            raise IntrapodError(f"{where}.uid: expected a non-negative integer or null, got {uid!r}")
        ports = []
        raw_ports = raw.get("ports") or []
        if not isinstance(raw_ports, list):
            raise IntrapodError(f'{where}.ports: expected a list like ["8080/TCP"]')
        for j, value in enumerate(raw_ports):
            ref = parse_port(value, where=f"{where}.ports[{j}]", target=None, problems=problems)
            if ref is not None:
                ports.append(ref)
        containers.append(ContainerInfo(name=name, uid=uid, ports=tuple(ports)))
    if problems:
        raise IntrapodError("; ".join(problems))
    names = [c.name for c in containers]
    if len(set(names)) != len(names):
        raise IntrapodError("config.containers: container names must be unique")
    rules_data = data.get("rules")
    if isinstance(rules_data, str):
        rules_data = decode_rules_text(rules_data)
    try:
        rules = parse_rules(rules_data, {c.name: c for c in containers})
    except RulesError as exc:
        raise IntrapodError("rules: " + "; ".join(exc.problems)) from None
    return IntrapodConfig(rules, tuple(containers))


def config_from_flags(rules_text: str, uids: str, ports: str) -> dict[str, Any]:
    """``--rules``, ``--uids app=1001,sidecar=1002``, ``--ports "app=8080/TCP,9090/UDP;sidecar=9000"``."""
    uid_map: dict[str, int | None] = {}
    for part in filter(None, (p.strip() for p in uids.split(","))):
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise IntrapodError(f"--uids: {part!r} is not NAME=UID")
        value = value.strip()
        if value in ("", "none", "null"):
            uid_map[name.strip()] = None
        elif value.isdigit():
            uid_map[name.strip()] = int(value)
        else:
            raise IntrapodError(f"--uids: {part!r}: UID must be a number")
    port_map: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in ports.split(";"))):
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise IntrapodError(f"--ports: {part!r} is not NAME=PORT[/PROTO],...")
        port_map[name.strip()] = [v.strip() for v in value.split(",") if v.strip()]
    names = list(dict.fromkeys([*uid_map, *port_map]))
    return {
        "rules": rules_text,
        "containers": [{"name": n, "uid": uid_map.get(n), "ports": port_map.get(n, [])} for n in names],
    }


# -- render (pure) ------------------------------------------------------------------


def compile_rules(config: IntrapodConfig) -> list[ChainRule]:
    """First-match compilation into (uid, port, action) rules, in chain order."""
    by_name = {c.name: c for c in config.containers}
    decided: set[tuple[int, PortRef]] = set()
    out: list[ChainRule] = []

    def emit(source: ContainerInfo, target: ContainerInfo, ports: Iterable[PortRef], action: Action, why: str) -> None:
        if source.uid is None or source.uid == target.uid:
            return  # cannot be told apart by UID: reported by enforceability_findings
        for port in ports:
            key = (source.uid, port)
            if key in decided:
                continue
            decided.add(key)
            out.append(ChainRule(source.uid, port, action, f"{why}: {source.name} -> {target.name} {port} {action}"))

    for rule in config.rules.rules:
        target = by_name[rule.target]
        ports = rule.ports if rule.ports is not None else target.ports
        for source in config.containers:
            if source.name == target.name:
                continue
            if rule.source not in ("*", source.name):
                continue
            emit(source, target, ports, rule.action, f"rule {rule.index}")
    if config.rules.default == Action.DENY:
        # (a default allow needs no rules: falling off the chain is exactly that)
        for target in config.containers:
            for source in config.containers:
                if source.name != target.name:
                    emit(source, target, target.ports, Action.DENY, "default")
    return out


def rule_args(rule: ChainRule, family: int) -> list[str]:
    """The match and target of one rule, in the order iptables-save prints them."""
    proto = rule.port.protocol.value.lower()
    args = ["-p", proto, "-m", proto, "--dport", str(rule.port.port)]
    if rule.port.protocol == Protocol.TCP:
        # Only connection attempts: a listener's SYN-ACK leaves through lo too, and its
        # destination (the client's ephemeral port) must never be mistaken for a target.
        args += ["--tcp-flags", "FIN,SYN,RST,ACK", "SYN"]
    args += ["-m", "owner", "--uid-owner", str(rule.uid), "-m", "comment", "--comment", rule.comment]
    if rule.action == Action.ALLOW:
        return args + ["-j", "RETURN"]
    if rule.port.protocol == Protocol.TCP:
        return args + ["-j", "REJECT", "--reject-with", "tcp-reset"]
    return args + [
        "-j",
        "REJECT",
        "--reject-with",
        "icmp6-port-unreachable" if family == 6 else "icmp-port-unreachable",
    ]


def render_restore(rules: Sequence[ChainRule], family: int) -> str:
    """iptables-restore input that (re)creates and fills only our chain."""
    lines = ["*filter", f":{CHAIN} - [0:0]", f"-F {CHAIN}"]
    lines += [f"-A {CHAIN} " + restore_join(rule_args(r, family)) for r in rules]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def restore_join(args: Sequence[str]) -> str:
    """Join for iptables-restore, which understands double quotes only."""
    return " ".join(f'"{a}"' if (not a or any(c in a for c in " \t'\"")) else a for a in args)


def render(config: IntrapodConfig, families: Sequence[int] = FAMILIES) -> str:
    """Everything ``apply`` installs, as readable text (restore input + the jump)."""
    rules = compile_rules(config)
    parts = []
    for family in families:
        tool, restore, _save = _TOOLS[family]
        parts.append(
            f"# {restore} --noflush\n"
            + render_restore(rules, family)
            + f"# then exactly one jump: {tool} -I OUTPUT 1 {shlex.join(JUMP)}\n"
        )
    return "\n".join(parts)


def canonical(rule_line: str) -> str:
    """A rule line (ours or from iptables-save) reduced to what decides its effect."""
    tokens = shlex.split(rule_line)
    fields: dict[str, str] = {}
    other: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("-A", "-p", "--dport", "--uid-owner", "--comment", "-j", "--reject-with", "-o"):
            fields[tok] = nxt.lower() if tok in ("-p",) else nxt
            i += 2
        elif tok == "--syn":
            fields["--tcp-flags"] = "FIN,SYN,RST,ACK SYN"
            i += 1
        elif tok == "--tcp-flags":
            fields[tok] = f"{nxt} {tokens[i + 2] if i + 2 < len(tokens) else ''}"
            i += 3
        elif tok == "-m":
            i += 2  # match loaders (-m tcp, -m owner, ...) follow from the options
        else:
            other.append(tok)
            i += 1
    order = ("-A", "-o", "-p", "--dport", "--tcp-flags", "--uid-owner", "--comment", "-j", "--reject-with")
    text = " ".join(f"{k} {shlex.quote(fields[k])}" for k in order if k in fields)
    return text + (" " + " ".join(other) if other else "")


def expected_lines(config: IntrapodConfig, family: int) -> list[str]:
    lines = [canonical(f"-A {CHAIN} " + shlex.join(rule_args(r, family))) for r in compile_rules(config)]
    return lines + [canonical("-A OUTPUT " + shlex.join(JUMP))]


# -- enforceability -----------------------------------------------------------------


def blocking_findings(config: IntrapodConfig) -> list[tuple[str, str]]:
    """(code, message) for everything that makes the rules unenforceable as declared.

    The one enforceability function (:func:`probe.intrapod_rules.enforceability_findings`)
    on what the config says of each container: UIDs and ports (capabilities are not in
    the config: the webhook checked them on the pod)."""
    return [(f.code.value, f.message) for f in enforceability_findings(config.containers) if f.blocking]


# -- apply / check (I/O) ------------------------------------------------------------

Runner = Callable[[list[str], str | None], subprocess.CompletedProcess[str]]


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise IntrapodError(f"{cmd[0]} not found: the image needs iptables") from exc


def _checked(run: Runner, cmd: list[str], stdin: str | None = None) -> str:
    proc = run(cmd, stdin)
    if proc.returncode != 0:
        raise IntrapodError(
            f"`{shlex.join(cmd)}` failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[:400]}"
        )
    return proc.stdout


def apply(config: IntrapodConfig, families: Sequence[int] = FAMILIES, *, run: Runner = _run) -> None:
    rules = compile_rules(config)
    for family in families:
        tool, restore, _save = _TOOLS[family]
        _checked(run, [restore, "-w", "--noflush"], render_restore(rules, family))
        jumps = _jump_rules(_checked(run, [tool, "-w", "-S", "OUTPUT"]))
        wanted = "-A OUTPUT " + shlex.join(JUMP)
        keep_one = False
        for line in jumps:
            if canonical(line) == canonical(wanted) and not keep_one:
                keep_one = True
                continue
            _checked(run, [tool, "-w", "-D", "OUTPUT", *shlex.split(line)[2:]])
        if not keep_one:
            _checked(run, [tool, "-w", "-I", "OUTPUT", "1", *JUMP])


def installed_lines(family: int, *, run: Runner = _run) -> list[str] | None:
    """Our chain's rules and the OUTPUT jumps to it, canonical; None if the chain is absent."""
    _tool, _restore, save = _TOOLS[family]
    text = _checked(run, [save, "-t", "filter"])
    if f":{CHAIN} " not in text:
        return None
    chain = [canonical(line) for line in text.splitlines() if line.startswith(f"-A {CHAIN} ")]
    return chain + [canonical(line) for line in _jump_rules(text)]


def check(config: IntrapodConfig, families: Sequence[int] = FAMILIES, *, run: Runner = _run) -> str:
    """A unified diff of expected vs installed for every family; empty means no drift."""
    diffs = []
    for family in families:
        want = expected_lines(config, family)
        have = installed_lines(family, run=run)
        label = _TOOLS[family][0]
        if have is None:
            diffs.append(f"--- {label}: chain {CHAIN} is not installed\n")
            continue
        if have != want:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        [line + "\n" for line in want],
                        [line + "\n" for line in have],
                        fromfile=f"{label} expected",
                        tofile=f"{label} installed",
                    )
                )
            )
    return "".join(diffs)


def _jump_rules(text: str) -> list[str]:
    """OUTPUT rules whose target is exactly our chain (not e.g. ``KUBEREACH-INTRAPOD-X``)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("-A OUTPUT "):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if any(a in ("-j", "--jump", "-g", "--goto") and b == CHAIN for a, b in zip(tokens, tokens[1:], strict=False)):
            out.append(line)
    return out
