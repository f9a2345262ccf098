"""run_live's edges without a cluster: an interrupt during discovery is an incomplete
sweep (exit 3 from the CLI), not a crash, and what was set up is still closed."""

from __future__ import annotations

import os
import signal
import time

import pytest

from orchestrator.cluster.kube import ClusterInfo
from orchestrator.errors import UsageError
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.run import ClusterOptions, SweepOptions, run_live


class NoCluster:
    info = ClusterInfo("lab", "shop", "https://fake")
    deadline = None
    calls: list = []
    closed = False

    def call_counts(self):
        return {}

    call_count = 0

    def close(self):
        self.closed = True


def test_ctrl_c_during_discovery_is_an_interrupted_sweep(monkeypatch):
    """SIGINT while discovery still reads the cluster: the sweep stops at once (it does not
    wait for discovery), nothing was planned or created, and the client is closed."""
    kube = NoCluster()
    monkeypatch.setattr("orchestrator.cluster.kube.load_cluster", lambda *a, **k: kube)

    def discover(*_):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while a slow list is in flight
        time.sleep(1)
        raise AssertionError("never used: the sweep stopped waiting for discovery")

    monkeypatch.setattr("orchestrator.cluster.discovery.discover", discover)
    outcome = run_live(ClusterOptions(), SweepMeta("ab12cd34", "img"), SweepOptions(), deadline_s=10)
    assert outcome.interrupted == "SIGINT" and outcome.result is None and outcome.error is None
    assert outcome.namespaces == ("shop",) and kube.closed


def test_inside_a_cluster_the_service_account_and_its_namespace_are_used(monkeypatch, tmp_path):
    """No kubeconfig anywhere and KUBERNETES_SERVICE_HOST set: the in-cluster configuration,
    and no -n means the service account's namespace."""
    import kubernetes.config.incluster_config as incluster

    from orchestrator.cluster import kube as kube_mod

    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_text("not checked until a request is made")
    (sa / "namespace").write_text("shop\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    monkeypatch.setattr(kube_mod, "SERVICEACCOUNT_DIR", str(sa))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    k = kube_mod.load_cluster()
    try:
        assert (k.info.context, k.info.namespace, k.info.server) == ("in-cluster", "shop", "https://10.96.0.1:443")
    finally:
        k.close()
    with pytest.raises(UsageError, match="running in-cluster has no contexts"):
        kube_mod.load_cluster(context="prod")
