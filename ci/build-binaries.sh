#!/usr/bin/env bash
# Builds the Dagger CLI and engine binaries, runc and the CNI plugins from the
# Go module proxy into $BIN_DIR. Skips the work when the versions are unchanged.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=$GO_SDK_GO_VERSION GOFLAGS=-mod=mod CGO_ENABLED=0
# These modules are on the proxy but not in the checksum database.
export GONOSUMDB=github.com/jedevc,github.com/vito,github.com/dagger
SRC_DIR=$NATIVE_DIR/src
mkdir -p "$SRC_DIR"

# module_copy MODULE@VERSION DEST: a writable copy of a module's source.
module_copy() {
	local dir
	dir=$(go mod download -json "$1" | jq -r .Dir)
	[ -d "$dir" ] || die "go mod download $1 gave no source"
	rm -rf "$2"
	cp -r "$dir" "$2"
	chmod -R u+w "$2"
}

build_dagger() {
	local key
	key="$DAGGER_VERSION-$(hash_files "$CI_DIR"/distconsts/*)"
	if stamp_ok dagger "$key" && [ -x "$BIN_DIR/dagger-engine" ]; then
		log "dagger $DAGGER_VERSION binaries already built"; return
	fi
	local src=$SRC_DIR/dagger
	module_copy "github.com/dagger/dagger@$DAGGER_VERSION" "$src"
	# The SDK replace points at a folder the module zip lacks; the proxy serves it.
	# distconsts is a nested module nobody serves: use our stand-in in its place.
	rm -rf "$src/engine/distconsts"
	cp -r "$CI_DIR/distconsts" "$src/engine/distconsts"
	(
		cd "$src"
		go mod edit -dropreplace dagger.io/dagger -require "dagger.io/dagger@$DAGGER_VERSION"
		local ld="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"
		local tags=dfexcludepatterns,dfparents
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/dagger" ./cmd/dagger
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/dagger-engine" ./cmd/engine
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/dagger-init" ./cmd/init
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/dnsname" ./cmd/dnsname
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/dial-stdio" ./cmd/dialstdio
		go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/codegen" ./cmd/codegen
	)
	stamp_set dagger "$key"
}

build_runc() {
	if stamp_ok runc "$RUNC_VERSION" && [ -x "$BIN_DIR/runc" ]; then
		log "runc $RUNC_VERSION already built"; return
	fi
	local src=$SRC_DIR/runc
	module_copy "github.com/opencontainers/runc@$RUNC_VERSION" "$src"
	(
		cd "$src"
		go mod edit -dropreplace github.com/opencontainers/selinux
		CGO_ENABLED=1 go build -trimpath -tags "seccomp netgo osusergo" \
			-ldflags "-s -w -X main.version=${RUNC_VERSION#v}" -o "$BIN_DIR/runc" .
	)
	stamp_set runc "$RUNC_VERSION"
}

build_cni() {
	if stamp_ok cni "$CNI_PLUGINS_VERSION" && [ -x "$BIN_DIR/cni/bridge" ]; then
		log "CNI plugins $CNI_PLUGINS_VERSION already built"; return
	fi
	local src=$SRC_DIR/cni-plugins
	module_copy "github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION" "$src"
	mkdir -p "$BIN_DIR/cni"
	(
		cd "$src"
		for p in main/bridge main/loopback meta/firewall ipam/host-local; do
			go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/cni/$(basename $p)" "./plugins/$p"
		done
	)
	stamp_set cni "$CNI_PLUGINS_VERSION"
}

case "${1:-all}" in
dagger) build_dagger ;;
runc) build_runc ;;
cni) build_cni ;;
all) build_dagger; build_runc; build_cni ;;
*) die "unknown target $1" ;;
esac
