#!/usr/bin/env bash
# demo.sh (make demo): driftgate's main job, end to end, on the local lab.
#
#   1. start the lab (kube-apiserver + etcd + controller manager, MinIO) and apply
#      examples/marketplace with OpenTofu, state in S3;
#   2. lose an import, the way a CI runner does: `tofu state rm` one ConfigMap
#      while it stays live;
#   3. start `driftgate run` (watcher, planner, importer, notifier on an embedded
#      JetStream) and a signed-webhook receiver;
#   4. driftgate reports the ConfigMap `unimported`; approve it with one command;
#      the importer imports, verifies and the workspace plan is clean (gate exit 0);
#   5. scale a Deployment by hand: a `changed` finding, alerted to the webhook.
#
# Then it stays up for you to try more; Ctrl-C tears everything down.
#   LAB_DIR   lab directory (default .lab)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB_DIR=${LAB_DIR:-.lab}
LAB="$ROOT/bin/lab"
DG="$ROOT/bin/driftgate"
KEY=marketplace/terraform.tfstate
LOST=kubernetes_config_map.marketplace

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

say "tools (built once into the tools cache, then reused)"
hack/tools.sh

say "building bin/lab, bin/driftgate, bin/demo-webhook"
mkdir -p bin
go build -o bin/lab ./test/lab/cmd/lab
go build -o bin/demo-webhook ./test/cmd/demo-webhook
go build -o bin/driftgate ./cmd/driftgate

PIDS=()
cleanup() {
	trap - EXIT INT TERM
	say "tearing down"
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	"$LAB" down --dir "$LAB_DIR" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the lab"
"$LAB" up --dir "$LAB_DIR"
rm -rf "${LAB_DIR:?}/tf" "${LAB_DIR:?}/driftgate" # the last demo's, about a lab that is gone
# shellcheck disable=SC1090,SC1091
. "$LAB_DIR/env"
export DRIFTGATE_NATS_URL=nats://127.0.0.1:14222
export DRIFTGATE_WEBHOOK_SECRET DRIFTGATE_APPROVER_TOKEN
DRIFTGATE_WEBHOOK_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
DRIFTGATE_APPROVER_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

say "applying examples/marketplace with tofu (state: s3://tfstate/$KEY)"
tf() { TF_DATA_DIR="$ROOT/$LAB_DIR/tf/marketplace" tofu -chdir=examples/marketplace "$@"; }
tf init -input=false -reconfigure -backend-config="$ROOT/$LAB_DIR/tofu.s3.tfbackend" -backend-config="key=$KEY" >"$LAB_DIR/logs/tofu-init.log"
tf apply -input=false -auto-approve -compact-warnings | tail -n 3

say "losing an import: tofu state rm $LOST (the ConfigMap stays live)"
tf state rm "$LOST"
kubectl -n shop get configmap marketplace-config -o name 2>/dev/null || kubectl -n shop get configmap

# The demo config: the example's workspace, a signed webhook sink, the
# receiver on loopback.
CFG="$LAB_DIR/demo.yaml"
sed -e "s|^    dir: \..*|    dir: $ROOT/examples/marketplace|" \
	-e '/^# Alerts: add sinks/,$d' examples/marketplace/driftgate.yaml >"$CFG"
cat >>"$CFG" <<'YAML'
notify:
  sinks:
    - {name: demo-hook, webhook: {url: "http://127.0.0.1:8099/hook", secret_env: DRIFTGATE_WEBHOOK_SECRET}}
  routes:
    - {match: {types: [drift.detected, drift.resolved, import.*, cluster.health]}, sinks: [demo-hook]}
YAML

say "starting the signed-webhook receiver and driftgate run (log: $LAB_DIR/logs/driftgate.log)"
bin/demo-webhook --listen 127.0.0.1:8099 &
PIDS+=($!)
"$DG" run --config "$CFG" --data-dir "$LAB_DIR/driftgate" --listen 127.0.0.1:14222 --http 127.0.0.1:19090 \
	>"$LAB_DIR/logs/driftgate.log" 2>&1 &
DGPID=$!
PIDS=("$DGPID" "${PIDS[@]}")

# wait_for WHAT SECONDS CMD...: poll until CMD prints something.
wait_for() {
	local what=$1 secs=$2 out
	shift 2
	for _ in $(seq "$secs"); do
		kill -0 "$DGPID" 2>/dev/null || { tail -n 20 "$LAB_DIR/logs/driftgate.log"; die "driftgate run exited"; }
		out=$("$@" 2>/dev/null || true)
		if [[ -n "$out" ]]; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 1
	done
	tail -n 20 "$LAB_DIR/logs/driftgate.log"
	die "timed out after ${secs}s waiting for $what"
}
finding_id() { # CLASS ADDRESS
	"$DG" findings --workspace marketplace --class "$1" -o json |
		python3 -c 'import json,sys; [print(f["id"]) for f in json.load(sys.stdin) if f["address"]==sys.argv[1]]' "$2"
}

say "waiting for the planner's first full plan to report the lost import"
ID=$(wait_for "the unimported finding" 180 finding_id unimported "$LOST")
"$DG" findings --workspace marketplace

say "approving it: driftgate approve $ID"
"$DG" approve "$ID" --reason "demo: adopt the live ConfigMap the CI runner lost" --by demo

say "waiting for the importer: import, verify by re-plan, prove the live object untouched"
wait_for "import.succeeded" 180 sh -c "\"$DG\" audit --type import.succeeded -o jsonl | head -n 1" >/dev/null
"$DG" audit --type import

say "the zero-diff gate a CI pipeline would run before apply"
set +e
"$DG" gate --config "$CFG" --workspace marketplace
code=$?
set -e
echo "driftgate gate exit code: $code (0 = clean)"

say "drift: kubectl scale deploy/marketplace --replicas=3"
kubectl -n shop scale deploy/marketplace --replicas=3
wait_for "the changed finding" 120 finding_id changed kubernetes_deployment.marketplace >/dev/null
"$DG" findings --workspace marketplace --class changed
sleep 2 # the receiver prints the signed alert above

cat <<TRY

==> driftgate is running against the lab. Try, in another shell:

  . $LAB_DIR/env; export DRIFTGATE_NATS_URL=$DRIFTGATE_NATS_URL
  bin/driftgate audit --since 10m                       # the audit trail as a timeline
  bin/driftgate findings                                # open findings
  kubectl -n shop label deploy/marketplace team=x       # changed: metadata.labels, by kubectl-label
  kubectl -n shop delete svc marketplace                # deleted
  kubectl -n shop create configmap stray --from-literal=a=b   # unmanaged
  bin/driftgate report --workspace marketplace          # the per-resource decision table
  bin/lab stop apiserver --dir $LAB_DIR; sleep 20; bin/lab start apiserver --dir $LAB_DIR   # cluster health alerts

Ctrl-C stops driftgate, the receiver and the lab.
TRY
wait "$DGPID" || true
