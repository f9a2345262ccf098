"""Invalid NetworkPolicies are rejected on load with the field path, like the API server would."""

from __future__ import annotations

import pytest
from model_helpers import cluster

from orchestrator.errors import EXIT_USAGE, ManifestError


def spec_error(spec_yaml: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        cluster(f"metadata: {{name: bad, namespace: a}}\nspec: {spec_yaml}\n")
    return info.value


@pytest.mark.parametrize(
    "spec,field,message",
    [
        (
            "{podSelector: {matchExpressions: [{key: app, operator: Equals, values: [x]}]}}",
            "spec.podSelector.matchExpressions[0].operator",
            "unknown operator",
        ),
        (
            "{podSelector: {matchExpressions: [{key: app, operator: In, values: []}]}}",
            "spec.podSelector.matchExpressions[0].values",
            "non-empty",
        ),
        (
            "{podSelector: {matchExpressions: [{key: app, operator: NotIn}]}}",
            "spec.podSelector.matchExpressions[0].values",
            "non-empty",
        ),
        (
            "{podSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}",
            "spec.podSelector.matchExpressions[0].values",
            "must be empty",
        ),
        ("{podSelector: {matchLabels: {version: 1}}}", "spec.podSelector.matchLabels.version", "must be a string"),
        (
            "{podSelector: {}, ingress: [{from: [{}, {ipBlock: {cidr: 10.0.0.0/33}}]}]}",
            "spec.ingress[0].from[0]",
            "must specify a peer",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{podSelector: {}}, {ipBlock: {cidr: 10.0.0.0/33}}]}]}",
            "spec.ingress[0].from[1].ipBlock.cidr",
            "invalid CIDR",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.1}}]}]}",
            "spec.ingress[0].from[0].ipBlock.cidr",
            "expected a CIDR",
        ),
        (
            "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]}",
            "spec.egress[0].to[0].ipBlock.except[0]",
            "not inside cidr",
        ),
        (
            "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: ['fd00::/64']}}]}]}",
            "spec.egress[0].to[0].ipBlock.except[0]",
            "not inside cidr",
        ),
        (
            "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]}]}",
            "spec.egress[0].to[0].ipBlock.except[0]",
            "strict subset",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
            "spec.ingress[0].from[0]",
            "may not be combined",
        ),
        ("{podSelector: {}, ingress: [{ports: [{port: 0}]}]}", "spec.ingress[0].ports[0].port", "out of range"),
        ("{podSelector: {}, ingress: [{ports: [{port: 70000}]}]}", "spec.ingress[0].ports[0].port", "out of range"),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 100, endPort: 90}]}]}",
            "spec.ingress[0].ports[0].endPort",
            "less than port",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
            "spec.ingress[0].ports[0].endPort",
            "named port",
        ),
        ("{podSelector: {}, ingress: [{ports: [{endPort: 90}]}]}", "spec.ingress[0].ports[0].endPort", "requires port"),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 80, protocol: ICMP}]}]}",
            "spec.ingress[0].ports[0].protocol",
            "unsupported protocol",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 'Not_A_Name'}]}]}",
            "spec.ingress[0].ports[0].port",
            "not a valid port name",
        ),
        ("{podSelector: {}, policyTypes: [Ingress, Outgress]}", "spec.policyTypes[1]", "unknown policy type"),
        ("{podSelector: {}, policyTypes: [Ingress, Egress, Ingress]}", "spec.policyTypes", "more than two"),
        ("{podSelector: {}, policyTypes: Ingress}", "spec.policyTypes", "expected a list"),
        ("{podSelectr: {}}", "spec.podSelectr", "unknown field"),
        (
            "{podSelector: {}, ingress: [{from: [{namespaceSelecter: {}}]}]}",
            "spec.ingress[0].from[0].namespaceSelecter",
            "unknown field",
        ),
        ("{podSelector: {}, egress: [{from: []}]}", "spec.egress[0].from", "unknown field"),
        ("[1, 2]", "spec", "expected a mapping"),
    ],
)
def test_invalid_policy_names_field_path(spec, field, message):
    err = spec_error(spec)
    assert err.field == field
    assert message in err.detail
    assert err.obj == "NetworkPolicy a/bad"
    assert err.file == "test" and err.exit_code == EXIT_USAGE
    assert f"field {field}" in str(err)


def test_valid_edge_cases_load():
    snap = cluster("""
metadata: {name: ok, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{ipBlock: {cidr: '10.0.0.0/8', except: ['10.0.0.0/9']}}], ports: [{port: 1, endPort: 65535}]}]
  egress: [{ports: [{protocol: SCTP}]}]
""")
    assert len(snap.policies) == 1
