#!/usr/bin/env bash
# Regenerate requirements/lock.txt from pyproject.toml: the exact versions (with hashes)
# that scripts/setup.sh, CI and the agent image install. Run it on purpose, when a
# dependency is added or upgraded (scripts/test-latest.sh shows what the newest releases
# would do first), and commit the result with the change that needs it.
#   bash scripts/lock.sh              keep every pin that still satisfies pyproject.toml
#   bash scripts/lock.sh --upgrade    move every pin to the newest release
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pip-compile --quiet --extra test --generate-hashes --strip-extras --allow-unsafe \
  --no-emit-find-links --no-emit-index-url --output-file requirements/lock.txt "$@" pyproject.toml
