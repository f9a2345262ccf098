"""`intrapod render` is a pure function: the chain it compiles decides exactly like decide()."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe import intrapod as ip
from probe.intrapod_rules import Action, expected_pairs

CONFIG = {
    "rules": {
        "default": "deny",
        "rules": [
            {"from": "sidecar", "to": "app", "ports": [8080], "action": "allow"},
            {"from": "*", "to": "app", "ports": ["9090/UDP"], "action": "allow"},
        ],
    },
    "containers": [
        {"name": "app", "uid": 1001, "ports": ["8080/TCP", "9090/UDP", "8443"]},
        {"name": "sidecar", "uid": 1002, "ports": ["15000/TCP"]},
    ],
}


def test_render_prints_restore_input_for_both_families():
    text = ip.render(ip.parse_config(CONFIG))
    v4, v6 = text.split("\n\n")
    assert v4.splitlines()[:4] == [
        "# iptables-restore --noflush",
        "*filter",
        ":KUBEREACH-INTRAPOD - [0:0]",
        "-F KUBEREACH-INTRAPOD",
    ]
    assert (
        "-A KUBEREACH-INTRAPOD -p tcp -m tcp --dport 8080 --tcp-flags FIN,SYN,RST,ACK SYN "
        '-m owner --uid-owner 1002 -m comment --comment "rule 0: sidecar -> app 8080/TCP allow" '
        "-j RETURN"
    ) in v4
    assert (
        "-p udp -m udp --dport 9090 -m owner --uid-owner 1002 -m comment --comment "
        '"rule 1: sidecar -> app 9090/UDP allow" -j RETURN'
    ) in v4
    assert '"default: sidecar -> app 8443/TCP deny" -j REJECT --reject-with tcp-reset' in v4
    assert '"default: app -> sidecar 15000/TCP deny" -j REJECT --reject-with tcp-reset' in v6
    assert "# then exactly one jump: ip6tables -I OUTPUT 1 -o lo -j KUBEREACH-INTRAPOD" in v6
    assert "icmp-port-unreachable" not in v4  # the only UDP port is allowed


def test_udp_deny_rejects_with_port_unreachable_per_family():
    config = ip.parse_config(
        {
            "rules": {"default": "deny"},
            "containers": [{"name": "a", "uid": 1, "ports": ["53/UDP"]}, {"name": "b", "uid": 2}],
        }
    )
    (rule,) = ip.compile_rules(config)
    assert ip.rule_args(rule, 4)[-1] == "icmp-port-unreachable"
    assert ip.rule_args(rule, 6)[-1] == "icmp6-port-unreachable"


def test_flags_form_builds_the_same_config_as_json():
    flags = ip.config_from_flags(
        json.dumps(CONFIG["rules"]), "app=1001,sidecar=1002", "app=8080/TCP,9090/UDP,8443;sidecar=15000/TCP"
    )
    assert ip.parse_config(flags) == ip.parse_config(CONFIG)


@pytest.mark.parametrize(
    "config,message",
    [
        ({"rules": {}, "containers": []}, "config.containers: expected a non-empty list"),
        ({"rules": {}, "containers": [{"name": "a", "uid": -1}]}, "config.containers[0].uid"),
        (
            {"rules": {"rules": [{"from": "x", "to": "a", "action": "deny"}]}, "containers": [{"name": "a", "uid": 1}]},
            "rules[0].from: no container named 'x'",
        ),
        ({"rules": "default: [", "containers": [{"name": "a"}]}, "rules:"),
    ],
)
def test_bad_config_is_reported_with_its_path(config, message):
    with pytest.raises(ip.IntrapodError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ip.parse_config(config)


def test_unenforceable_findings_block():
    config = ip.parse_config(
        {
            "rules": {},
            "containers": [{"name": "a", "uid": 0}, {"name": "b", "uid": 7}, {"name": "c", "uid": 7}, {"name": "d"}],
        }
    )
    codes = sorted(code for code, _ in ip.blocking_findings(config))
    assert codes == ["no-runAsUser", "root-uid", "shared-uid"]


def test_a_port_declared_by_two_containers_is_unenforceable():
    config = ip.parse_config(
        {
            "rules": {},
            "containers": [{"name": "a", "uid": 1, "ports": ["80"]}, {"name": "b", "uid": 2, "ports": ["80/TCP"]}],
        }
    )
    assert ip.blocking_findings(config) == [
        ("shared-port", "port 80/TCP is declared by containers 'a', 'b': rules cannot tell them apart")
    ]


def test_canonical_form_matches_what_iptables_save_prints():
    ours = (
        "-A KUBEREACH-INTRAPOD -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN "
        '-m owner --uid-owner 5 -m comment --comment "rule 0: a -> b 80/TCP deny" -j REJECT '
        "--reject-with tcp-reset"
    )
    saved = (
        "-A KUBEREACH-INTRAPOD -p tcp -m owner --uid-owner 5 -m tcp --dport 80 --syn "
        '-m comment --comment "rule 0: a -> b 80/TCP deny" -j REJECT --reject-with tcp-reset'
    )
    assert ip.canonical(ours) == ip.canonical(saved)
    assert ip.canonical(ours) != ip.canonical(saved.replace("--uid-owner 5", "--uid-owner 6"))


# -- the compiled chain agrees with decide() for every pair ----------------------------

NAMES = ["app", "sidecar", "logger", "proxy"]
PORTS = ["80/TCP", "8080/TCP", "53/UDP", "9090/UDP"]


@st.composite
def configs(draw):
    n = draw(st.integers(2, 4))
    names = NAMES[:n]
    # each port belongs to at most one container (else it is unenforceable, tested above)
    owner = {port: draw(st.sampled_from(names + [None])) for port in PORTS}
    containers = [
        {"name": name, "uid": 1000 + i, "ports": [p for p in PORTS if owner[p] == name]} for i, name in enumerate(names)
    ]
    rules = []
    for _ in range(draw(st.integers(0, 5))):
        target = draw(st.sampled_from(containers))
        source = draw(st.sampled_from(["*"] + [c["name"] for c in containers if c["name"] != target["name"]]))
        rule = {"from": source, "to": target["name"], "action": draw(st.sampled_from(["allow", "deny"]))}
        if target["ports"] and draw(st.booleans()):
            rule["ports"] = draw(st.lists(st.sampled_from(target["ports"]), min_size=1, unique=True))
        rules.append(rule)
    return {"rules": {"default": draw(st.sampled_from(["allow", "deny"])), "rules": rules}, "containers": containers}


def chain_verdict(rules: list[ip.ChainRule], uid: int, port) -> Action:
    for rule in rules:  # first match, like netfilter
        if rule.uid == uid and rule.port == port:
            return rule.action
    return Action.ALLOW  # fell off our chain: nothing of ours blocks it


@settings(max_examples=200, deadline=None)
@given(configs())
def test_compiled_chain_decides_like_the_annotation(data):
    config = ip.parse_config(data)
    compiled = ip.compile_rules(config)
    uids = {c.name: c.uid for c in config.containers}
    for exp in expected_pairs(config.rules, config.containers):
        assert chain_verdict(compiled, uids[exp.source], exp.port) == exp.decision.action, exp
    assert len({(r.uid, r.port) for r in compiled}) == len(compiled)  # nothing repeated


def test_cli_reads_the_config_from_the_environment(monkeypatch, capsys):
    from probe.cli import main

    monkeypatch.setenv(ip.CONFIG_ENV, json.dumps(CONFIG))
    assert main(["intrapod", "render", "--family", "4"]) == 0
    out = capsys.readouterr().out
    assert "# iptables-restore --noflush" in out and "ip6tables" not in out


def test_cli_refuses_unenforceable_rules_with_exit_2(capsys):
    from probe.cli import main

    code = main(
        ["intrapod", "render", "--rules", '{"default": "deny"}', "--uids", "app=0,sidecar=1002", "--ports", "app=8080"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "unenforceable: container 'app' runs as UID 0" in err


def test_cli_without_input_says_what_to_give(monkeypatch, capsys):
    from probe.cli import main

    monkeypatch.delenv(ip.CONFIG_ENV, raising=False)
    assert main(["intrapod", "check"]) == 2
    assert "give --config" in capsys.readouterr().err


def test_yaml_rules_text_is_accepted_when_pyyaml_is_importable():
    pytest.importorskip("yaml")
    text = "default: deny\nrules:\n  - {from: sidecar, to: app, ports: [8080], action: allow}\n"
    config = ip.parse_config(ip.config_from_flags(text, "app=1001,sidecar=1002", "app=8080/TCP,8443"))
    assert [(r.uid, str(r.port), r.action.value) for r in ip.compile_rules(config)] == [
        (1002, "8080/TCP", "allow"),
        (1002, "8443/TCP", "deny"),
    ]


def test_only_jumps_to_exactly_our_chain_count_as_ours():
    saved = "\n".join(
        [
            "-A OUTPUT -o lo -j KUBEREACH-INTRAPOD-MESH",
            '-A OUTPUT -o lo -m comment --comment "-j KUBEREACH-INTRAPOD" -j ACCEPT',
            "-A OUTPUT -o lo -j KUBEREACH-INTRAPOD",
            "-A OUTPUTX -j KUBEREACH-INTRAPOD",
            "-A OUTPUT -g KUBEREACH-INTRAPOD",
        ]
    )
    assert ip._jump_rules(saved) == ["-A OUTPUT -o lo -j KUBEREACH-INTRAPOD", "-A OUTPUT -g KUBEREACH-INTRAPOD"]
