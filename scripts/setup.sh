#!/usr/bin/env bash
# Set up everything kubereach needs on a fresh Debian 12 machine (run as root):
# the kernel-side tools the lab and the agent use, and a virtual environment in .venv
# with kubereach (this checkout, editable) and the locked versions of its runtime and
# test dependencies (requirements/lock.txt).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# chromium and chromedriver: the HTML report's browser tests (tests/reports/) drive a real
# headless Chromium through selenium.
for tool in iptables:iptables ipset:ipset ip:iproute2 nmap:nmap setpriv:util-linux chromium:chromium \
            chromedriver:chromium-driver; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
stamp=.venv/.kubereach-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/lock.txt -nt "$stamp" ]; then
  echo "setup: installing kubereach and its locked dependencies into .venv (log: .venv/pip-install.log)" >&2
  # Exactly the versions (and hashes) of requirements/lock.txt, then this checkout in
  # editable mode without touching them: installs do not change under us when a
  # dependency publishes a release (scripts/test-latest.sh tries the newest on purpose).
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check --require-hashes -r requirements/lock.txt &&
         .venv/bin/python -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .; } \
       >.venv/pip-install.log 2>&1; then
    tail -n 30 .venv/pip-install.log >&2
    echo "setup: pip install failed; the full log is .venv/pip-install.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
