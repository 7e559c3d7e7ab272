#!/usr/bin/env bash
# demo.sh (make demo): builds driftgate, brings up the lab, applies
# examples/marketplace with OpenTofu, starts `driftgate run` against it and
# prints what to try next. Ctrl-C tears everything down (driftgate, the lab).
#
#   LAB_DIR   lab directory (default .lab)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB_DIR=${LAB_DIR:-.lab}
LAB="$ROOT/bin/lab"
KEY=marketplace/terraform.tfstate

say() { printf '\n==> %s\n' "$*"; }

say "tools (built once into the tools cache, then reused)"
hack/tools.sh

say "building"
mkdir -p bin
go build -o bin/lab ./test/lab/cmd/lab
echo "bin/lab"
DRIFTGATE=""
if compgen -G 'cmd/driftgate/*.go' >/dev/null && go build -o bin/driftgate ./cmd/driftgate; then
	DRIFTGATE="$ROOT/bin/driftgate"
	echo "bin/driftgate"
else
	echo "bin/driftgate: not built (cmd/driftgate has no main package yet, or it does not build);"
	echo "the demo runs the lab and the example without it"
fi

# has SUBCOMMAND: whether the driftgate binary knows the subcommand yet.
has() { [[ -n "$DRIFTGATE" ]] && "$DRIFTGATE" "$1" --help >/dev/null 2>&1; }

DG_PID=""
WAIT_PIDS=() # tail and sleep that keep the script in the foreground
cleanup() {
	trap - EXIT INT TERM
	say "tearing down"
	if ((${#WAIT_PIDS[@]})); then kill "${WAIT_PIDS[@]}" 2>/dev/null || true; fi
	if [[ -n "$DG_PID" ]] && kill -0 "$DG_PID" 2>/dev/null; then
		kill -TERM "$DG_PID" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$DG_PID" 2>/dev/null || break; sleep 1; done
		kill -KILL "$DG_PID" 2>/dev/null || true
		wait "$DG_PID" 2>/dev/null || true
		echo "driftgate stopped"
	fi
	"$LAB" down --dir "$LAB_DIR" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the lab"
"$LAB" up --dir "$LAB_DIR"
rm -rf "${LAB_DIR:?}/tf" "${LAB_DIR:?}/driftgate" # the last demo's, about a lab that is gone
# shellcheck disable=SC1090,SC1091
. "$LAB_DIR/env"

say "applying examples/marketplace with tofu (state: s3://tfstate/$KEY)"
# The working directory (.terraform) lives in the lab dir, not in the checkout.
TF_DATA_DIR="$ROOT/$LAB_DIR/tf/marketplace" tofu -chdir=examples/marketplace init -input=false -reconfigure \
	-backend-config="$ROOT/$LAB_DIR/tofu.s3.tfbackend" -backend-config="key=$KEY" >"$ROOT/$LAB_DIR/logs/tofu-init.log"
TF_DATA_DIR="$ROOT/$LAB_DIR/tf/marketplace" tofu -chdir=examples/marketplace apply -input=false -auto-approve

if has run; then
	say "starting driftgate run (log: $LAB_DIR/logs/driftgate.log)"
	"$DRIFTGATE" run --config examples/marketplace/driftgate.yaml --data-dir "$LAB_DIR/driftgate" \
		>"$LAB_DIR/logs/driftgate.log" 2>&1 &
	DG_PID=$!
else
	say "driftgate run is not available yet: the lab and the example are up without it"
fi

cat <<TRY

==> try next (in another shell):

  . $LAB_DIR/env
  kubectl -n shop get deploy,svc,cm,secret,sa,role,rolebinding

  # drift
  kubectl -n shop scale deploy/marketplace --replicas=5          # changed (spec.replicas, manager kubectl-scale)
  kubectl -n shop label deploy/marketplace team=someone-else     # changed (metadata.labels)
  kubectl -n shop delete configmap marketplace-config            # deleted
  kubectl -n shop create deployment stray --image=nginx          # unmanaged
  TF_DATA_DIR=$LAB_DIR/tf/marketplace tofu -chdir=examples/marketplace plan   # what Terraform sees

  # the cluster going dark
  bin/lab stop apiserver --dir $LAB_DIR;  bin/lab start apiserver --dir $LAB_DIR
TRY
if has findings; then echo "  bin/driftgate findings"; fi
if has audit; then echo "  bin/driftgate audit --since 10m"; fi
if has gate; then echo "  bin/driftgate gate --config examples/marketplace/driftgate.yaml --workspace marketplace"; fi
if has report; then echo "  bin/driftgate report --workspace marketplace"; fi
echo
echo "Ctrl-C stops driftgate and the lab."

if [[ -n "$DG_PID" ]]; then
	tail -n +1 -f "$LAB_DIR/logs/driftgate.log" --pid="$DG_PID" &
	WAIT_PIDS+=($!)
	wait "$DG_PID" || true
	DG_PID=""
	say "driftgate exited (see $LAB_DIR/logs/driftgate.log); the lab stays up until Ctrl-C"
fi
sleep infinity &
WAIT_PIDS+=($!)
wait $!
