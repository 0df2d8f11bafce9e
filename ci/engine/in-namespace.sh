#!/usr/bin/env bash
# Runs inside a private mount namespace (see start-engine.sh). The engine
# rewrites resolv.conf, CNI state and files under /usr, /etc, /opt and /run;
# fresh overlays keep all of that away from the host.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

ns=$NATIVE_DIR/ns
rm -rf "$ns"
for d in usr etc opt run; do
	mkdir -p "$ns/$d.upper" "$ns/$d.work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$ns/$d.upper,workdir=$ns/$d.work" "/$d"
done
# A /sys of this network namespace (the engine reads its containers' veth
# statistics there), with the host's cgroup tree kept.
mkdir -p "$ns/cgroup"
mount --rbind /sys/fs/cgroup "$ns/cgroup"
mount -t sysfs sysfs /sys
mount --rbind "$ns/cgroup" /sys/fs/cgroup
mkdir -p "$ns/cni" /var/lib/cni
mount --bind "$ns/cni" /var/lib/cni

# The layout of the official engine image.
install -m 0755 "$BIN_DIR/dagger-engine" "$BIN_DIR/dagger-init" "$BIN_DIR/runc" /usr/local/bin/
install -m 0755 "$BIN_DIR/dial-stdio" /usr/bin/dial-stdio
ln -sf /usr/bin/dial-stdio /usr/bin/buildctl
mkdir -p /opt/cni/bin /etc/dagger /usr/local/share/dagger/content
install -m 0755 "$BIN_DIR"/cni/* "$BIN_DIR/dnsname" /opt/cni/bin/
install -m 0644 "$CI_DIR/engine/engine.toml" "$CI_DIR/engine/engine.json" /etc/dagger/

# No custom CAs for the engine to inject: with any in this folder, Dagger runs
# update-ca-certificates in every container of a Debian image before and after
# each exec (about 1.7 s an exec here), which users' engines do not. This
# machine's CAs are in the images instead (images -cacerts), for compose as
# for the module. The overlay keeps the host's copy.
rm -rf /usr/local/share/ca-certificates

# The engine calls the first iptables on PATH; the legacy backend is the one that works here.
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf /usr/sbin/xtables-legacy-multi "/usr/local/sbin/$t"
done
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The bundled Go SDK runtime image, once built (see images/).
if [ -s "$NATIVE_DIR/go-sdk/digest" ]; then
	mount --bind "$NATIVE_DIR/go-sdk/content" /usr/local/share/dagger/content
	DAGGER_GO_SDK_MANIFEST_DIGEST=$(cat "$NATIVE_DIR/go-sdk/digest")
	export DAGGER_GO_SDK_MANIFEST_DIGEST
fi
# Go SDK containers get a module proxy only through this variable.
export _DAGGER_ENGINE_SYSTEMENV_GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}

# Per-client SQLite databases want many open files; take what the hard limit allows.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec tini -s -- dagger-engine --config /etc/dagger/engine.toml \
	--root "$NATIVE_DIR/engine-state" --addr "unix://$ENGINE_SOCK" --addr "$ENGINE_TCP"
