#!/usr/bin/env bash
# The quality gates CI runs before the tests: ruff (lint and format) and mypy, as
# configured in pyproject.toml. Sets up .venv first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
