#!/usr/bin/env bash
# Starts a plain OCI registry on loopback; its storage lives under $NATIVE_DIR.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pidfile=$RUN_DIR/registry.pid
if pid_alive "$pidfile"; then log "registry already running"; exit 0; fi
mkdir -p "$NATIVE_DIR/registry"
cat >"$RUN_DIR/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $NATIVE_DIR/registry}
  delete: {enabled: true}
http: {addr: $REGISTRY_ADDR}
YML
setsid docker-registry serve "$RUN_DIR/registry.yml" >>"$LOG_DIR/registry.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 50); do
	curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && { log "registry answers on $REGISTRY_ADDR"; exit 0; }
	sleep 0.2
done
die "registry did not answer on $REGISTRY_ADDR (see $LOG_DIR/registry.log)"
