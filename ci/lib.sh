# shellcheck shell=bash disable=SC2034 # settings for the scripts that source this file
# Shared settings of the native-engine bootstrap. Sourced, not run.
# Everything it builds or runs lives under $NATIVE_DIR, outside any checkout,
# so a fresh clone on the same machine reuses it.

DAGGER_VERSION=v0.19.10
GO_SDK_GO_VERSION=go1.25.5   # codegen and the Go SDK image must use Dagger's own Go
RUNC_VERSION=v1.3.3
CNI_PLUGINS_VERSION=v1.5.0
REGISTRY_ADDR=127.0.0.1:5000

NATIVE_DIR=${NATIVE_DIR:-/var/lib/dataplat-native}
CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN_DIR=$NATIVE_DIR/bin
RUN_DIR=$NATIVE_DIR/run
STAMP_DIR=$NATIVE_DIR/stamps
LOG_DIR=$NATIVE_DIR/logs
ENGINE_SOCK=$RUN_DIR/engine.sock
# The engine runs in a network namespace of its own, as on another machine:
# it listens on TCP at ENGINE_ADDR, which the host reaches over a veth pair
# (HOST_ADDR on this side). Its unix socket serves this machine's own checks.
ENGINE_NETNS=dataplat-engine
HOST_ADDR=10.231.0.1
ENGINE_ADDR=10.231.0.2
ENGINE_TCP=tcp://$ENGINE_ADDR:1234
# The loopback registry, reached from the engine's namespace through this socket.
REGISTRY_SOCK=$RUN_DIR/registry.sock
ENV_FILE=$NATIVE_DIR/env

mkdir -p "$BIN_DIR" "$RUN_DIR" "$STAMP_DIR" "$LOG_DIR"

log() { printf '[native %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# stamp_ok NAME KEY: true when phase NAME already completed with the same KEY.
stamp_ok() { [ -f "$STAMP_DIR/$1" ] && [ "$(cat "$STAMP_DIR/$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" >"$STAMP_DIR/$1"; }

# hash_files FILE...: one short digest over the contents of the given files.
hash_files() { cat "$@" | sha256sum | cut -c1-16; }

# This machine's own CA certificates (a proxy's, on machines that reach PyPI
# and the Go proxy through one): the images carry them (images -cacerts).
HOST_CA_DIR=/usr/local/share/ca-certificates
host_ca_files() { compgen -G "$HOST_CA_DIR/*.crt" || true; }
# host_ca_dir: their folder, "" when there are none.
host_ca_dir() { [ -z "$(host_ca_files)" ] || echo "$HOST_CA_DIR"; }

# Client environment: the CLI and the Go SDK talk to the native engine.
client_env() {
	export _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$ENGINE_SOCK
	export _EXPERIMENTAL_DAGGER_CLI_BIN=$BIN_DIR/dagger
	export DAGGER_NO_NAG=1 DO_NOT_TRACK=1
	export PATH=$BIN_DIR:$PATH
}

# engine_answers: the engine serves a query within 60 s, on its socket and over TCP.
engine_answers() {
	[ -S "$ENGINE_SOCK" ] || return 1
	# From a folder without dagger.json: a module there would need the Go SDK first.
	(client_env; cd "$RUN_DIR" && echo '{version}' | timeout 60 dagger query >/dev/null 2>&1) &&
		(client_env; export _EXPERIMENTAL_DAGGER_RUNNER_HOST=$ENGINE_TCP
			cd "$RUN_DIR" && echo '{version}' | timeout 60 dagger query >/dev/null 2>&1)
}

# pid_alive FILE: the process whose PID is in FILE still runs.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_named NAME: stops what $RUN_DIR/NAME.pid names (TERM, then KILL
# after 15 s) and removes the file.
stop_named() {
	local pidfile=$RUN_DIR/$1.pid pid
	if pid_alive "$pidfile"; then
		pid=$(cat "$pidfile")
		log "stopping $1 (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && { log "$1 still running, killing"; kill -KILL "$pid"; }
	fi
	rm -f "$pidfile"
}

# clear_netns [KEEP_PID]: kills what runs in the engine's network namespace
# (a killed engine leaves its DNS server there, which fails the next
# start), but KEEP_PID.
clear_netns() {
	[ -e "/run/netns/$ENGINE_NETNS" ] || return 0
	for pid in $(ip netns pids "$ENGINE_NETNS"); do
		[ "$pid" = "${1:-}" ] || kill -KILL "$pid" 2>/dev/null || true
	done
}

# phase NAME FUNCTION: runs a phase and records its wall time; phases_report
# TITLE prints them with the total since the first phase.
phases=()
phases_start=
phase() {
	local start=$SECONDS
	phases_start=${phases_start:-$start}
	log "phase $1"
	"$2"
	phases+=("$(printf '%-14s %5ds' "$1" $((SECONDS - start)))")
}
phases_report() {
	echo
	echo "$1 phases"
	printf '  %s\n' "${phases[@]}"
	printf '  %-14s %5ds\n' total $((SECONDS - ${phases_start:-$SECONDS}))
}

# install_packages PKG...: installs, with apt, those not installed yet.
install_packages() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { log "all packages present"; return; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
