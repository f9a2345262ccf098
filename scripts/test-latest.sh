#!/usr/bin/env bash
# The test suite against the newest releases of every dependency, ignoring the lock:
# how an upgrade is tried before it is made (then `bash scripts/lock.sh --upgrade`).
# Uses its own environment (.venv-latest), so the locked .venv stays as it is.
# Arguments go to pytest, e.g. `bash scripts/test-latest.sh -m "not netns and not lab"`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv --clear .venv-latest
.venv-latest/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
.venv-latest/bin/python -m pip install --disable-pip-version-check -q --upgrade -e '.[test]'
.venv-latest/bin/python -m pip list --disable-pip-version-check --format=freeze >&2
exec .venv-latest/bin/python -m pytest "$@"
