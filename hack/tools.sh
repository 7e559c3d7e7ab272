#!/usr/bin/env bash
# tools.sh installs the lab's pinned components into a cache outside the checkout,
# so a fresh clone (what CI runs) reuses what an earlier run built.
#
#   DRIFTGATE_TOOLS_DIR   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/driftgate/tools)
#   DRIFTGATE_TOOLS_ONLY  space-separated subset: nats-server natscli etcd providers tofu minio kube terraform
#   DRIFTGATE_TOOLS_JOBS  1 to build one component at a time (default 2 lanes side by side)
#
# Each component lands in $DIR/<component>-<version>/ and is marked done by a
# .done file; a second run only checks the markers and takes seconds. Sources:
# the Go module proxy only (helper modules for tools whose go.mod has replaces).
set -euo pipefail

DIR="${DRIFTGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/driftgate/tools}"
mkdir -p "$DIR"
# One installer at a time per cache (CI and a session may overlap).
exec 9>"$DIR/.lock"
if ! flock -n 9; then
	echo "[tools] another tools.sh is installing into $DIR; waiting for it" >&2
	flock 9
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

ETCD_VERSION=3.6.16
KUBE_VERSION=1.34.2
TOFU_VERSION=1.10.10
TERRAFORM_VERSION=1.5.7
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
NATS_VERSION=2.12.1
NATSCLI_VERSION=0.5.0
PROVIDER_KUBERNETES_VERSION=1.13.4
PROVIDER_KUBECTL_VERSION=1.19.0
# hashicorp/local: a non-Kubernetes provider (local_file) for mixed workspaces.
PROVIDER_LOCAL_VERSION=1.4.0
PROVIDER_HELM_VERSION=1.3.2

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# step NAME VERSION ESTIMATE FUNC: runs FUNC with $OUT set unless already done.
step() {
	local name=$1 version=$2 estimate=$3 fn=$4
	OUT="$DIR/$name-$version"
	if [[ -f "$OUT/.done" ]]; then
		return 0
	fi
	log "building $name $version (about $estimate on 2 cores, once; cached in $OUT)"
	local start=$SECONDS
	rm -rf "$OUT" && mkdir -p "$OUT/bin"
	if ! "$fn"; then
		log "FAILED: $name $version (see output above)"
		rm -rf "$OUT"
		return 1
	fi
	touch "$OUT/.done"
	log "done: $name $version in $((SECONDS - start))s"
}

# helper_module DIR MODULE_LINES... writes a throwaway module requiring a tool.
helper_module() {
	local dir=$1 gomod=$2 imports=$3
	rm -rf "$dir" && mkdir -p "$dir"
	printf '%s\n' "$gomod" >"$dir/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport (\n%s\n)\n' "$imports" >"$dir/tools.go"
	(cd "$dir" && go mod tidy -e >/dev/null 2>&1 || (cd "$dir" && go mod tidy))
}

build_nats() {
	GOBIN="$OUT/bin" go install "github.com/nats-io/nats-server/v2@v$NATS_VERSION"
}

# build_natscli: the stock `nats` CLI, the foreign client of the security tests.
build_natscli() {
	GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/nats-io/natscli/nats@v$NATSCLI_VERSION"
}

build_etcd() {
	local m="$OUT/src"
	helper_module "$m" "module driftgate.local/etcd
go 1.24
require (
	go.etcd.io/etcd/server/v3 v$ETCD_VERSION
	go.etcd.io/etcd/api/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 v$ETCD_VERSION
	go.etcd.io/etcd/client/v3 v$ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 v$ETCD_VERSION
)" '	_ "go.etcd.io/etcd/server/v3"'
	(cd "$m" && go build -trimpath -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3)
	rm -rf "$m"
}

build_kube() {
	local m="$OUT/src" replaces gomod
	# k8s.io/kubernetes's go.mod, from the module proxy GOPROXY names.
	gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[[ -f "$gomod" ]] || { log "cannot download k8s.io/kubernetes@v$KUBE_VERSION's go.mod"; return 1; }
	replaces=$(awk -v v="v0.${KUBE_VERSION#1.}" '$2=="=>" && $3 ~ /^\.\/staging\// {print "replace " $1 " => " $1 " " v}' "$gomod")
	helper_module "$m" "module driftgate.local/kube
go 1.24
require k8s.io/kubernetes v$KUBE_VERSION
$replaces" '	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"'
	local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*} -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION") -X k8s.io/component-base/version.gitTreeState=clean"
	(cd "$m" && go build -trimpath -ldflags "$ld" -o "$OUT/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
	log "kube-apiserver built; now kube-controller-manager (about 2-3 min)"
	(cd "$m" && go build -trimpath -ldflags "$ld" -o "$OUT/bin/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager)
	rm -rf "$m"
}

build_tofu() {
	local m="$OUT/src"
	helper_module "$m" "module driftgate.local/tofu
go 1.24
require github.com/opentofu/opentofu v$TOFU_VERSION
replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828" '	_ "github.com/opentofu/opentofu/cmd/tofu"'
	(cd "$m" && go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$OUT/bin/tofu" github.com/opentofu/opentofu/cmd/tofu)
	rm -rf "$m"
}

build_terraform() {
	GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
}

build_minio() {
	GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
}

build_provider_kubectl() {
	GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/gavinbunney/terraform-provider-kubectl@v$PROVIDER_KUBECTL_VERSION"
	mv "$OUT/bin/terraform-provider-kubectl" "$OUT/bin/terraform-provider-kubectl_v$PROVIDER_KUBECTL_VERSION"
}

build_provider_kubernetes() {
	local m="$OUT/src"
	helper_module "$m" "module driftgate.local/provider-kubernetes
go 1.24
require github.com/hashicorp/terraform-provider-kubernetes v$PROVIDER_KUBERNETES_VERSION
replace (
	github.com/go-openapi/spec => github.com/go-openapi/spec v0.19.5
	k8s.io/cli-runtime => k8s.io/cli-runtime v0.19.1
	k8s.io/client-go => k8s.io/client-go v0.19.1
	github.com/Azure/go-autorest/autorest => github.com/tombuildsstuff/go-autorest/autorest v0.10.1-0.20200416184303-d4e299a3c04a
	github.com/moby/term => github.com/moby/term v0.0.0-20200507123241-dbdd9cc6608d
	vbom.ml/util => github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc
)" '	_ "github.com/hashicorp/terraform-provider-kubernetes"'
	(cd "$m" && go build -trimpath -ldflags "-s -w" -o "$OUT/bin/terraform-provider-kubernetes_v$PROVIDER_KUBERNETES_VERSION" github.com/hashicorp/terraform-provider-kubernetes)
	rm -rf "$m"
}

# build_provider_local: hashicorp/local (module path still the old
# terraform-providers one; its go.mod has no replaces, so go install works).
# hashicorp/aws 1.60.0 was tried and left out: it speaks plugin protocol 4
# (Terraform 0.11), which OpenTofu 1.10 and Terraform 1.5 refuse
# ("Incompatible API version with plugin. Plugin version: 4, Client
# versions: [6 5]"), and it takes over 11 min to build.
build_provider_local() {
	GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/terraform-providers/terraform-provider-local@v$PROVIDER_LOCAL_VERSION"
	mv "$OUT/bin/terraform-provider-local" "$OUT/bin/terraform-provider-local_v$PROVIDER_LOCAL_VERSION"
}

# hashicorp/helm: its go.mod needs two replaces (a dead vanity import and
# go-autorest's split), so a helper module with a main package of its own.
build_provider_helm() {
	local m="$OUT/src"
	helper_module "$m" "module driftgate.local/provider-helm
go 1.24
require github.com/hashicorp/terraform-provider-helm v$PROVIDER_HELM_VERSION
replace (
	vbom.ml/util => github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc
	github.com/Azure/go-autorest => github.com/Azure/go-autorest v14.2.0+incompatible
)" '	_ "github.com/hashicorp/terraform-provider-helm/helm"
	_ "github.com/hashicorp/terraform-plugin-sdk/plugin"'
	cat >"$m/main.go" <<'GO'
package main

import (
	"github.com/hashicorp/terraform-plugin-sdk/plugin"
	"github.com/hashicorp/terraform-provider-helm/helm"
)

func main() {
	plugin.Serve(&plugin.ServeOpts{ProviderFunc: helm.Provider})
}
GO
	(cd "$m" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$OUT/bin/terraform-provider-helm_v$PROVIDER_HELM_VERSION" .)
	rm -rf "$m"
}

# mirror lays the providers out as a filesystem mirror for both registries and
# writes the CLI config that points tofu and terraform at it.
build_mirror() {
	local host p
	for host in registry.opentofu.org registry.terraform.io; do
		p="$OUT/mirror/$host/hashicorp/kubernetes/$PROVIDER_KUBERNETES_VERSION/linux_amd64"
		mkdir -p "$p" && cp "$DIR/provider-kubernetes-$PROVIDER_KUBERNETES_VERSION/bin/"* "$p/"
		p="$OUT/mirror/$host/gavinbunney/kubectl/$PROVIDER_KUBECTL_VERSION/linux_amd64"
		mkdir -p "$p" && cp "$DIR/provider-kubectl-$PROVIDER_KUBECTL_VERSION/bin/"* "$p/"
		p="$OUT/mirror/$host/hashicorp/local/$PROVIDER_LOCAL_VERSION/linux_amd64"
		mkdir -p "$p" && cp "$DIR/provider-local-$PROVIDER_LOCAL_VERSION/bin/"* "$p/"
		p="$OUT/mirror/$host/hashicorp/helm/$PROVIDER_HELM_VERSION/linux_amd64"
		mkdir -p "$p" && cp "$DIR/provider-helm-$PROVIDER_HELM_VERSION/bin/"* "$p/"
	done
	cat >"$OUT/cli.tfrc" <<TFRC
provider_installation {
  filesystem_mirror {
    path = "$OUT/mirror"
  }
  direct {
    exclude = ["*/*/*"]
  }
}
TFRC
}

# reuse NAME WANT BIN... links binaries the user already has (PATH or
# KUBEBUILDER_ASSETS) when every one of them is there at version WANT, so
# nothing is built twice. A component is reused whole or not at all (envtest's
# assets have kube-apiserver but no kube-controller-manager).
reuse() {
	local name=$1 want=$2 bin found
	shift 2
	OUT="$DIR/$name-${want#v}"
	[[ -f "$OUT/.done" ]] && return 0
	local -a paths=()
	for bin in "$@"; do
		found=$(command -v "$bin" 2>/dev/null || true)
		if [[ -z "$found" && -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$bin" ]]; then
			found="$KUBEBUILDER_ASSETS/$bin"
		fi
		[[ -n "$found" ]] || return 1
		"$found" --version 2>/dev/null | grep -qF "$want" || "$found" version 2>/dev/null | grep -qF "$want" || return 1
		paths+=("$found")
	done
	mkdir -p "$OUT/bin"
	for found in "${paths[@]}"; do
		ln -sf "$found" "$OUT/bin/$(basename "$found")"
		log "reusing $found for $name $want"
	done
	touch "$OUT/.done"
}

# only NAME: true unless DRIFTGATE_TOOLS_ONLY lists components and NAME is not
# among them (container images install just what their service needs).
only() { [[ -z "${DRIFTGATE_TOOLS_ONLY:-}" || " $DRIFTGATE_TOOLS_ONLY " == *" $1 "* ]]; }

# Two lanes of about equal length run side by side (DRIFTGATE_TOOLS_JOBS=1: one
# after the other): a cold build is mostly single-threaded links, module
# downloads and go mod tidy, which two cores overlap.
lane_a() {
	if only nats-server; then reuse nats-server "v$NATS_VERSION" nats-server || step nats-server "$NATS_VERSION" "35s" build_nats; fi
	if only natscli; then reuse natscli "v$NATSCLI_VERSION" nats || step natscli "$NATSCLI_VERSION" "1.5 min" build_natscli; fi
	if only etcd; then reuse etcd "$ETCD_VERSION" etcd || step etcd "$ETCD_VERSION" "1.5 min" build_etcd; fi
	if only providers; then
		step provider-kubectl "$PROVIDER_KUBECTL_VERSION" "3.5 min" build_provider_kubectl
		step provider-kubernetes "$PROVIDER_KUBERNETES_VERSION" "2 min" build_provider_kubernetes
		step provider-local "$PROVIDER_LOCAL_VERSION" "1.5 min" build_provider_local
		step provider-helm "$PROVIDER_HELM_VERSION" "5 min" build_provider_helm
		step mirror "k$PROVIDER_KUBERNETES_VERSION-c$PROVIDER_KUBECTL_VERSION-h$PROVIDER_HELM_VERSION-l$PROVIDER_LOCAL_VERSION" "1s" build_mirror
	fi
	if only tofu; then reuse tofu "v$TOFU_VERSION" tofu || step tofu "$TOFU_VERSION" "7 min" build_tofu; fi
}
lane_b() {
	if only minio; then step minio "$MINIO_VERSION" "5 min" build_minio; fi
	if only kube; then reuse kube "v$KUBE_VERSION" kube-apiserver kube-controller-manager || step kube "$KUBE_VERSION" "9 min" build_kube; fi
	if only terraform; then reuse terraform "v$TERRAFORM_VERSION" terraform || step terraform "$TERRAFORM_VERSION" "7.5 min" build_terraform; fi
}

start=$SECONDS
log "tool cache: $DIR"
if [[ "${DRIFTGATE_TOOLS_JOBS:-2}" == 1 ]]; then
	lane_a
	lane_b
else
	lane_a &
	a=$!
	lane_b &
	b=$!
	failed=""
	wait "$a" || failed="$failed lane_a"
	wait "$b" || failed="$failed lane_b"
	if [[ -n "$failed" ]]; then
		log "FAILED:$failed (see output above)"
		exit 1
	fi
fi
log "all tools ready in $((SECONDS - start))s"
