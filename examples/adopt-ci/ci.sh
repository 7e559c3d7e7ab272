#!/usr/bin/env bash
# ci.sh is the deploy job of a workspace on an ephemeral runner, made
# idempotent: the runner starts from a fresh checkout (no .terraform, no local
# state; the state lives in S3), and objects that exist live but not in the
# state are adopted as code instead of failing the apply with "already exists".
#
#   init -> driftgate adopt -> plan -> apply -> driftgate gate
#
# Inputs (environment):
#   TOOL              tofu or terraform (default tofu)
#   WORKSPACE_DIR     the checkout of the root module (default .)
#   BACKEND_FILE      the S3 backend settings (init -backend-config=FILE)
#   STATE_KEY         the state object's key
#   DRIFTGATE_CONFIG  driftgate.yaml naming the workspace (dir, binary, backend_config, namespaces)
#   DRIFTGATE_WS      the workspace's name in it (default shop)
#   DRIFTGATE         the driftgate binary (default driftgate)
# Cluster and S3 credentials come from the environment as usual (KUBECONFIG, AWS_*).
set -euo pipefail
TOOL=${TOOL:-tofu}
DRIFTGATE=${DRIFTGATE:-driftgate}
WS=${DRIFTGATE_WS:-shop}
cd "${WORKSPACE_DIR:-.}"

"$TOOL" init -input=false -backend-config="$BACKEND_FILE" -backend-config="key=$STATE_KEY"

# Import blocks for every live object the configuration declares and the state
# lacks, in import order, commented (driftgate_imports.tf). In a pull-request
# pipeline, run it with -o markdown and post the output as a comment instead of
# applying; here the blocks are applied in the same run.
"$DRIFTGATE" adopt --config "$DRIFTGATE_CONFIG" --workspace "$WS"

# The plan shows "N to import" and no create of an object that exists.
"$TOOL" plan -input=false -out=tfplan
"$TOOL" apply -input=false tfplan
rm -f tfplan

# The zero-diff gate: exit 0 clean, 2 drift, 1 error.
"$DRIFTGATE" gate --config "$DRIFTGATE_CONFIG" --workspace "$WS"
