#!/usr/bin/env bash
# Starts (or restarts, with --restart) the native engine and waits until it answers.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pidfile=$RUN_DIR/engine.pid
if [ "${1:-}" = --restart ] && pid_alive "$pidfile"; then
	log "stopping engine (pid $(cat "$pidfile")) for a restart"
	kill -TERM "$(cat "$pidfile")"
	for _ in $(seq 100); do pid_alive "$pidfile" || break; sleep 0.1; done
fi
if pid_alive "$pidfile" && engine_answers; then
	log "engine already running (pid $(cat "$pidfile"))"; exit 0
fi
rm -f "$ENGINE_SOCK"
setsid unshare --mount --propagation private \
	"$CI_DIR/engine/in-namespace.sh" >>"$LOG_DIR/engine.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 120); do
	[ -S "$ENGINE_SOCK" ] && break
	pid_alive "$pidfile" || { tail -20 "$LOG_DIR/engine.log" >&2; die "engine exited during start"; }
	sleep 0.5
done
engine_answers || { tail -20 "$LOG_DIR/engine.log" >&2; die "engine socket does not answer"; }
log "engine answers on $ENGINE_SOCK (pid $(cat "$pidfile"))"
