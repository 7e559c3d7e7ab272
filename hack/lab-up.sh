#!/usr/bin/env bash
# lab-up.sh (make lab-up) starts the local lab in the background: etcd,
# kube-apiserver, kube-controller-manager and MinIO on free loopback ports,
# with data, logs and state under $LAB_DIR (default .lab). It writes
# $LAB_DIR/env, which a shell can source (KUBECONFIG, AWS_* for the S3 server,
# TF_CLI_CONFIG_FILE, PATH with the lab's tofu and terraform first), and
# $LAB_DIR/{tofu,terraform}.s3.tfbackend for `init -backend-config=`.
# Extra arguments go to `lab up` (--no-controller-manager, --no-s3).
set -euo pipefail
cd "$(dirname "$0")/.."
LAB_DIR=${LAB_DIR:-.lab}
mkdir -p bin
go build -o bin/lab ./test/lab/cmd/lab
exec bin/lab up --dir "$LAB_DIR" "$@"
