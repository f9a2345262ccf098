"""Spec validation: field paths in every message, and never a traceback (hypothesis)."""

from __future__ import annotations

import io
import json
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from probe.cli import main
from probe.spec import SpecError, decode_spec_text, encode_spec, parse_spec

BASE = {"kind": "KubereachProbeSpec", "version": 1, "id": "s", "targets": [{"address": "127.0.0.1", "port": 9}]}


def with_target(**fields) -> dict:
    target = {"address": "10.0.0.1", "port": 80}
    target.update(fields)
    return {**BASE, "targets": [{"address": "10.0.0.1", "port": 1}] * 3 + [target]}


@pytest.mark.parametrize(
    "spec,message",
    [
        (with_target(port=70000), "targets[3].port: 70000 out of range 1-65535"),
        (with_target(port=True), "targets[3].port: expected an integer, got True"),
        (with_target(port="80"), "targets[3].port: expected an integer"),
        (with_target(address="not an ip"), "targets[3].address: 'not an ip' is not an IP"),
        (with_target(address="999.1.1.1"), "targets[3].address"),
        (with_target(protocol="ICMP"), "targets[3].protocol: expected TCP, UDP or SCTP"),
        (with_target(method="udp"), "targets[3].method: udp does not apply to TCP"),
        (with_target(protocol="UDP", method="syn"), "targets[3].method: syn does not apply to UDP"),
        (with_target(method="ping"), "targets[3].method: expected one of"),
        (with_target(timeout_s=0), "targets[3].timeout_s: 0 out of range"),
        (with_target(retries=-1), "targets[3].retries: -1 out of range 0-10"),
        (with_target(colour="red"), "targets[3].colour: unknown field"),
        ({**BASE, "kind": "Pod"}, "kind: expected 'KubereachProbeSpec'"),
        ({**BASE, "version": 2}, "version: expected 1, got 2"),
        ({**BASE, "concurrency": 0}, "concurrency: 0 out of range 1-65536"),
        ({**BASE, "deadline_s": -1}, "deadline_s: -1 out of range"),
        ({**BASE, "rate_per_s": "fast"}, "rate_per_s: expected a number"),
        ({**BASE, "targets": {}}, "targets: expected a list, got an object"),
        ({**BASE, "extra": 1}, "extra: unknown field"),
        ([1, 2], "spec: expected a JSON object, got a list"),
    ],
)
def test_invalid_spec_names_the_field(spec, message):
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert str(err.value).startswith(message)


def test_defaults_fill_in_from_spec_then_built_ins():
    spec = parse_spec(
        {
            **BASE,
            "timeout_s": 0.5,
            "retries": 3,
            "targets": [
                {"address": "10.0.0.1", "port": 53, "protocol": "udp"},
                {"address": "db.payments.svc.cluster.local", "port": 5432, "retries": 0},
            ],
        }
    )
    udp, tcp = spec.targets
    assert (udp.id, udp.protocol, udp.method, udp.timeout_s, udp.retries) == ("0", "UDP", "udp", 0.5, 3)
    assert (tcp.id, tcp.method, tcp.retries) == ("1", "connect", 0)
    assert (spec.deadline_s, spec.concurrency, spec.rate_per_s) == (60.0, 256, 0.0)


def test_compressed_form_round_trips():
    assert decode_spec_text(encode_spec(BASE)) == BASE


@pytest.mark.parametrize(
    "text,message", [("", "spec: empty input"), ("{", "spec: not valid JSON"), ("z:@@@", "spec: bad z: encoding")]
)
def test_undecodable_input(text, message):
    with pytest.raises(SpecError, match=message.replace(":", ":")):
        decode_spec_text(text)


def run_cli(argv, stdin="") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_bad_spec_exits_2_with_the_field_on_stderr():
    code, out, err = run_cli(["run"], json.dumps(with_target(port=70000)))
    assert (code, out) == (2, "")
    assert err.strip() == "kubereach-probe: error: targets[3].port: 70000 out of range 1-65535"


def test_empty_target_list_gives_an_empty_valid_document():
    code, out, _ = run_cli(["run", "--spec", json.dumps({**BASE, "targets": []})])
    doc = json.loads(out)
    assert (code, doc["kind"], doc["results"], doc["spec_id"]) == (0, "KubereachProbeResult", [], "s")


# Random specs: a valid one (loopback targets, tiny timeouts), then maybe one random
# damage: a field replaced by any JSON value, a required field dropped, an unknown added.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 70000),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
# Strings only from fixed lists: a random valid host name would be resolved and probed.
_valid_target = st.fixed_dictionaries(
    {"address": st.sampled_from(["127.0.0.1", "::1", "localhost"]), "port": st.integers(1, 65535)},
    optional={
        "protocol": st.sampled_from(["TCP", "udp", "Tcp"]),
        "timeout_s": st.sampled_from([0.05, 0.01]),
        "retries": st.integers(0, 1),
        "id": st.text(max_size=4),
    },
)
_valid_spec = st.fixed_dictionaries(
    {"kind": st.just("KubereachProbeSpec"), "version": st.just(1), "targets": st.lists(_valid_target, max_size=4)},
    optional={
        "deadline_s": st.sampled_from([2, 5.5]),
        "concurrency": st.integers(1, 5),
        "timeout_s": st.just(0.05),
        "retries": st.integers(0, 1),
        "rate_per_s": st.sampled_from([0, 1000]),
        "id": st.text(max_size=4),
    },
)
_bad_strings = st.sampled_from(["", "1.2.3", "a b", "-x", "::g", "SCTP", "syn", "ICMP"])


@st.composite
def _specs(draw):
    spec = draw(_valid_spec)
    damage = draw(st.sampled_from(["none", "none", "replace", "drop", "unknown", "whole"]))
    if damage == "whole":
        return draw(_scalars)
    holders = [spec] + spec["targets"]
    holder = draw(st.sampled_from(holders))
    key = draw(st.sampled_from(sorted(holder) + ["method", "protocol"]))
    if damage == "replace":
        holder[key] = draw(_scalars | _bad_strings)
    elif damage == "drop":
        holder.pop(key, None)
    elif damage == "unknown":
        holder["colour"] = 1
    return spec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_specs())
def test_random_specs_give_a_document_or_exit_2_never_a_traceback(data):
    text = json.dumps(data)
    code, out, err = run_cli(["run", f"--spec={text}"])
    event(f"exit {code}")
    if code == 2:
        assert out == "" and err.startswith("kubereach-probe: error: ") and "Traceback" not in err
        return
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "KubereachProbeResult"
    assert len(doc["results"]) == len(data["targets"])
    assert [r["id"] for r in doc["results"]] == [t.get("id", str(i)) for i, t in enumerate(data["targets"])]
    for result, target in zip(doc["results"], data["targets"], strict=False):
        assert result["port"] == target["port"]
        assert result["state"] in {"open", "closed", "filtered", "unreachable", "error"}


def test_compressed_spec_argument_runs():
    spec = {**BASE, "timeout_s": 0.2, "retries": 0}
    code, out, _ = run_cli(["run", "--spec", encode_spec(spec)])
    doc = json.loads(out)
    assert code == 0 and [r["port"] for r in doc["results"]] == [9]
