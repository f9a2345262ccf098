#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: unit, property-based,
# network-namespace integration and lab end-to-end tests. Root is needed for the
# namespace and lab tests; they create and remove everything they use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
