"""downwardAPI volumes on the lab node: the kubelet's file formats, and mounts made in the container's view only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lab.node.volumes import Mount, container_mounts, mount_script, projected_files, write_volumes

POD = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"b": "2", "a": 'say "hi"'},
        "annotations": {"intrapod.kubereach.io/config": '{"rules": {}}'},
    },
    "spec": {
        "volumes": [
            {
                "name": "cfg",
                "downwardAPI": {
                    "defaultMode": 0o444,
                    "items": [
                        {
                            "path": "config",
                            "fieldRef": {"fieldPath": "metadata.annotations['intrapod.kubereach.io/config']"},
                        },
                        {"path": "sub/labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o400},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                    ],
                },
            },
            {"name": "scratch", "emptyDir": {}},
        ]
    },
}


def test_files_follow_the_kubelets_formats():
    files = projected_files(POD, POD["spec"]["volumes"][0])
    assert files == {
        "config": (b'{"rules": {}}', 0o444),
        "sub/labels": (b'a="say \\"hi\\""\nb="2"', 0o400),
        "name": (b"web", 0o444),
    }


def test_volumes_are_written_and_mounted_where_the_container_says(tmp_path):
    dirs = write_volumes(tmp_path, POD)
    assert set(dirs) == {"cfg"}  # emptyDir needs nothing
    assert (dirs["cfg"] / "config").read_text() == '{"rules": {}}'
    assert (dirs["cfg"] / "sub" / "labels").stat().st_mode & 0o777 == 0o400
    container = {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/kubereach/intrapod", "readOnly": True}]}
    assert container_mounts(container, dirs) == [Mount(dirs["cfg"], "/etc/kubereach/intrapod", True)]


def test_a_missing_mount_path_is_made_in_an_overlay_and_never_directly_below_root(tmp_path):
    script = mount_script([Mount(tmp_path, "/etc/kubereach/intrapod")], tmp_path / "scratch")
    assert "mount -t overlay krl-volume -o lowerdir=/etc," in script and script.endswith("ro /etc/kubereach/intrapod")
    assert (
        mount_script([Mount(tmp_path, "/tmp")], tmp_path / "s")
        == f"mount --bind {tmp_path} /tmp && mount -o remount,bind,ro /tmp"
    )
    with pytest.raises(ValueError, match="directly below /"):
        mount_script([Mount(tmp_path, "/kubereach-nowhere/config")], tmp_path / "s")


@pytest.mark.netns
def test_the_mount_is_seen_inside_the_private_mount_namespace_and_nowhere_else(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    dirs = write_volumes(tmp_path / "vol", POD)
    (tmp_path / "scratch").mkdir()
    script = mount_script([Mount(dirs["cfg"], "/etc/kubereach-test-volume/intrapod")], tmp_path / "scratch")
    out = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"{script} && cat /etc/kubereach-test-volume/intrapod/config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == '{"rules": {}}'
    assert not Path("/etc/kubereach-test-volume").exists()  # the host never saw it
