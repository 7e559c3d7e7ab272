#!/usr/bin/env bash
# run-against-lab.sh runs ci.sh against the local lab the way the CI incident
# behind driftgate happened: the marketplace is live (applied from a state the
# pipeline then lost), and the pipeline runs on an ephemeral runner with an
# empty state key. The first run adopts the ten objects (10 to import, 0 to
# add) and the gate passes; a second run on a fresh runner has nothing to
# adopt and plans no changes.
#
#   examples/adopt-ci/run-against-lab.sh [tofu|terraform]
#
# It uses the lab of $LAB_DIR (default .lab) when one is up (make lab-up), else
# starts one and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TOOL=${1:-tofu}
LAB_DIR=${LAB_DIR:-.lab}
started=""
if [ ! -f "$LAB_DIR/env" ] || ! go run ./test/lab/cmd/lab status --dir "$LAB_DIR" >/dev/null 2>&1; then
  LAB_DIR=$LAB_DIR ./hack/lab-up.sh
  started=1
fi
# shellcheck disable=SC1091
. "$LAB_DIR/env"
LAB_DIR=$(cd "$LAB_DIR" && pwd)
cleanup() {
  rm -rf "$work"
  if [ -n "$started" ]; then (cd "$ROOT" && LAB_DIR=$LAB_DIR ./hack/lab-down.sh) || true; fi
}
work=$(mktemp -d)
trap cleanup EXIT

mkdir -p bin && go build -o bin/driftgate ./cmd/driftgate
export DRIFTGATE=$ROOT/bin/driftgate
ns=adopt-ci-$TOOL-$RANDOM
backend=$LAB_DIR/$TOOL.s3.tfbackend

echo "== the marketplace is live in namespace $ns (applied from a state the pipeline no longer has)"
cp -r examples/marketplace "$work/seed"
(cd "$work/seed" && "$TOOL" init -input=false -backend-config="$backend" -backend-config="key=lost/$ns.tfstate" >/dev/null &&
  "$TOOL" apply -input=false -auto-approve -var "namespace=$ns" >/dev/null)

# driftgate.yaml: the workspace is the runner's checkout; its backend settings
# are the same file's, as key = value pairs.
backend_config() {
  sed -e 's/^\([a-z_]*\) = \(.*\)$/      \1: '\''\2'\''/' "$backend"
  echo "      key: 'ci/$ns.tfstate'"
}
for run in 1 2; do
  echo "== pipeline run $run on a fresh runner (empty local files, state in S3)"
  rm -rf "$work/runner" && cp -r examples/marketplace "$work/runner"
  printf 'namespace = "%s"\n' "$ns" > "$work/runner/ci.auto.tfvars"
  cat > "$work/driftgate.yaml" <<YAML
clusters:
  - name: lab
    kubeconfig: $KUBECONFIG
workspaces:
  - name: shop
    cluster: lab
    dir: $work/runner
    binary: $TOOL
    namespaces: [$ns]
    backend_config:
$(backend_config)
YAML
  TOOL=$TOOL WORKSPACE_DIR=$work/runner BACKEND_FILE=$backend STATE_KEY=ci/$ns.tfstate \
    DRIFTGATE_CONFIG=$work/driftgate.yaml examples/adopt-ci/ci.sh
done
echo "== both runs passed the gate"
