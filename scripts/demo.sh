#!/usr/bin/env bash
# The kubereach demo, end to end, on this machine (Debian 12, as root):
#   1. scripts/setup.sh: system tools and .venv, if missing;
#   2. the lab (a local Kubernetes API whose pods are network namespaces) with the demo
#      shop from manifests/demo/ and the intra-pod admission webhook (--webhook), which
#      injects the iptables init container into shop-backend/api-1;
#   3. a sweep of every namespace: every pod-to-pod and container-to-container
#      connection measured and compared with the NetworkPolicies and intra-pod rules.
# The lab is left running so you can explore it; the script exits with the sweep's
# status (0: everything as the policies say, 1: discrepancies, >1: the sweep failed).
# A lab already running in the same state directory is taken down first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf '%s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "demo: the lab creates network namespaces and iptables rules: run as root (sudo bash scripts/demo.sh)"
  exit 2
fi

bash scripts/setup.sh

kr=.venv/bin/kubereach
state_dir=${KUBEREACH_LAB_DIR:-/var/lib/kubereach-lab}
# the hints below must work in a shell without KUBEREACH_LAB_DIR
lab_opt=""
[ "$state_dir" = /var/lib/kubereach-lab ] || lab_opt=" --state-dir $state_dir"

if "$kr" lab status >/dev/null 2>&1; then
  say "demo: a lab is already running in $state_dir; taking it down first"
  "$kr" lab down
fi

say "demo: starting the lab with the demo shop and the intra-pod webhook"
kubeconfig=$("$kr" lab up -f manifests/demo/ --webhook)

results="$repo/results/$(date -u +%Y%m%dT%H%M%SZ)-demo"
say ""
say "demo: sweeping every namespace (results in $results)"
set +e
"$kr" sweep --kubeconfig "$kubeconfig" -A -o "$results"
status=$?
set -e

kc=".venv/bin/kubectl --kubeconfig $kubeconfig"
say ""
case $status in
  0) say "demo: sweep exit status 0: every measured connection is what the policies and intra-pod rules say." ;;
  1) say "demo: sweep exit status 1: some connections differ from what the policies say (see above)." ;;
  *) say "demo: the sweep failed (exit status $status); its messages are above." ;;
esac
cat >&2 <<EOF

Results:  $results
  probes.csv      one row per probe: source, destination, port, expected, observed, verdict
  summary.txt     the summary printed above; matrix CSVs, snapshot.json, run.json alongside

The lab is still running (state in $state_dir). Explore it:
  $kc get pods -A -o wide
  $kc get networkpolicies -A
  $kc get pod api-1 -n shop-backend -o yaml     # the injected kubereach-intrapod init container
  $kc logs api-1 -n shop-backend -c kubereach-intrapod
  # the demo's deliberate misconfiguration, explained (manifests/demo/README.md):
  .venv/bin/kubereach explain shop-frontend/web-1 shop-data/postgres-0 5432/TCP -f manifests/demo/

Make the lab's CNI misbehave, and watch the sweep catch it (checkout-1 may not reach
redis: shop-data/redis-ingress admits only web pods; the fault lets it through anyway,
the re-sweep reports it as unexpected-allow and exits 1):
  $kr lab fault allow shop-frontend/checkout-1 shop-data/redis-0 6379/TCP$lab_opt
  $kr sweep --kubeconfig $kubeconfig -A
  $kr lab fault clear$lab_opt
('lab fault deny shop-frontend/web-1 shop-data/redis-0 6379/TCP' gives an unexpected-deny.)

Stop the lab and remove everything it created:
  $kr lab down$lab_opt
EOF
exit "$status"
