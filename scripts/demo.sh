#!/usr/bin/env bash
# The kubereach demo, end to end, on this machine (Debian 12, as root):
#   1. scripts/setup.sh: system tools and .venv, if missing;
#   2. the lab (a local Kubernetes API whose pods are network namespaces) with the demo
#      shop from manifests/demo/ and the intra-pod admission webhook (--webhook), which
#      injects the iptables init container into shop-backend/api-1;
#   3. a sweep of every namespace: every pod-to-pod and container-to-container
#      connection measured and compared with the NetworkPolicies and intra-pod rules,
#      and with what the shop intends (manifests/demo-intent.yaml).
# The lab is left running so you can explore it; the script exits with the sweep's
# status (0: everything as the policies and the intent say, 1: discrepancies or intent
# violations, >1: the sweep failed). The demo carries a deliberate hole (a typo'd
# selector leaves postgres open to the frontend), so it exits 1 and says why.
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
"$kr" sweep --kubeconfig "$kubeconfig" -A -o "$results" --intent manifests/demo-intent.yaml
status=$?
set -e

kc=".venv/bin/kubectl --kubeconfig $kubeconfig"
say ""
summary="$results/summary.txt"
case $status in
  0) say "demo: sweep exit status 0: every measured connection is what the policies, the intra-pod rules and the intent say." ;;
  1)
    if grep -q '^Unexpected (' "$summary" 2>/dev/null; then
      say "demo: sweep exit status 1: some connections differ from what the policies say (see 'Unexpected' above)."
    fi
    if grep -q '^Intent violations (' "$summary" 2>/dev/null; then
      say "demo: sweep exit status 1 because of the intent violations listed first above: the lab's CNI enforces"
      say "      the policies exactly, but the policies do not do what the shop intends: every frontend pod can"
      say "      open connections to shop-data/postgres-0. That is the demo's deliberate hole: the podSelector of"
      say "      shop-data/postgres-ingress says app=postgress (a typo), so it selects nothing (manifests/demo/README.md)."
      say "      Find it without a cluster:  .venv/bin/kubereach audit -f manifests/demo/"
      say "      Fix it:  .venv/bin/kubereach suggest -f manifests/demo/ --intent manifests/demo-intent.yaml -o fixes/"
      say "               .venv/bin/kubectl --kubeconfig $kubeconfig apply -f fixes/   # then sweep again: exit 0"
    fi
    ;;
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
  .venv/bin/kubereach explain shop-frontend/web-1 shop-data/postgres-0 5432/TCP -f manifests/demo/ \\
      --intent manifests/demo-intent.yaml

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
