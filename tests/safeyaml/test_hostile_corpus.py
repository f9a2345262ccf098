"""Every entry point that reads what others wrote survives the hostile corpus, in a resource-limited sandbox.

Each (entry point, corpus entry) pair runs in a child process capped at 1 GiB of address
space and a CPU budget: an input that explodes fails the test with its name instead of
taking the machine down. Each entry point must return or raise its own clean error.
"""

from __future__ import annotations

import pytest
from hostile_corpus import CORPUS, as_text
from sandbox import Sandbox

# entry point -> the clean errors it may raise
TARGETS = {
    "fuzz_targets:safeyaml_load_all": {"YamlError"},
    "fuzz_targets:safeyaml_annotation": {"YamlError"},
    "fuzz_targets:manifest_file": {"ManifestError"},
    # problems are returned, never raised; an annotation over the API server's 256 KiB makes the pod invalid
    "fuzz_targets:rules_annotation": {"ManifestError"},
    "fuzz_targets:probe_spec": {"SpecError"},
    "fuzz_targets:intrapod_config": {"IntrapodError"},
}
TEXT_ONLY = {"fuzz_targets:rules_annotation", "fuzz_targets:probe_spec", "fuzz_targets:intrapod_config"}


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(cpu_s=600, memory_bytes=1 << 30, wall_s=60)
    yield box
    box.close()


# a million nodes take PyYAML several seconds to compose: the whole suite runs them, the fast tier not
ENTRIES = [pytest.param(e, marks=pytest.mark.slow) if e == "million-item-list" else e for e in sorted(CORPUS)]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_entry_point_survives_hostile_input(sandbox, target, entry):
    value = CORPUS[entry]
    result = sandbox.call(target, as_text(value) if target in TEXT_ONLY else value)
    if result.raised is not None:
        assert result.raised in TARGETS[target], (
            f"{target} raised {result.raised}: {result.message}\n{result.traceback}"
        )
        assert len(result.message) < 2000, f"{target}: the error quotes too much ({len(result.message)} characters)"


def test_the_sandbox_fails_an_explosion_instead_of_the_machine():
    from sandbox import Exploded

    box = Sandbox(cpu_s=600, memory_bytes=256 << 20, wall_s=60)
    try:
        with pytest.raises(Exploded, match="needed more than 256 MiB"):
            box.call("fuzz_targets:explode", 1 << 30)
        assert box.call("fuzz_targets:safeyaml_annotation", "a: 1").value == "dict"  # a fresh child
    finally:
        box.close()
