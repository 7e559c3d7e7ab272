#!/usr/bin/env bash
# lab-down.sh (make lab-down) stops exactly the processes lab-up.sh started,
# as recorded in $LAB_DIR/state.json (default .lab), and waits until they are
# gone. Logs and data stay in $LAB_DIR until the next lab-up.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB_DIR=${LAB_DIR:-.lab}
mkdir -p bin
go build -o bin/lab ./test/lab/cmd/lab
exec bin/lab down --dir "$LAB_DIR"
