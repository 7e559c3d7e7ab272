#!/usr/bin/env bash
# build-check.sh (make build-check; make build and make test run it): each
# service module builds on its own, outside the go.work workspace, the way its
# image builds it; and neither its code nor its tests import another service
# (tests that span services live in test/e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
for dir in services/*/; do
	[ -f "$dir/go.mod" ] || continue
	dir=${dir%/}
	(
		cd "$dir"
		self=$(GOWORK=off go list -m)
		GOWORK=off go build ./...
		others=$(GOWORK=off go list -deps -test -f '{{with .Module}}{{.Path}}{{end}}' ./... | sort -u |
			grep '/services/' | grep -vxF "$self" || true)
		if [ -n "$others" ]; then
			echo "$dir imports another service: $others" >&2
			exit 1
		fi
	) && echo "GOWORK=off build $dir ok" || fail=1
done
exit $fail
