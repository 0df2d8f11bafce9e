#!/usr/bin/env bash
# Starts (or restarts, with --restart) the native engine and waits until it
# answers. It runs in its own network namespace, a second host on a veth
# pair: clients reach it over TCP ($ENGINE_TCP), as they would a remote
# engine, and its containers reach the network through this host's NAT.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# engine_netns: the namespace, its link to this host and its way out; idempotent.
engine_netns() {
	[ -e "/run/netns/$ENGINE_NETNS" ] || ip netns add "$ENGINE_NETNS"
	if ! ip -n "$ENGINE_NETNS" link show dpe-engine >/dev/null 2>&1; then
		ip link del dpe-host 2>/dev/null || true
		ip link add dpe-host type veth peer name dpe-engine
		ip link set dpe-engine netns "$ENGINE_NETNS"
		ip addr add "$HOST_ADDR/30" dev dpe-host
	fi
	ip link set dpe-host up
	ip netns exec "$ENGINE_NETNS" sh -eu -c "
		ip addr show dpe-engine | grep -q '$ENGINE_ADDR/' || ip addr add '$ENGINE_ADDR/30' dev dpe-engine
		ip link set lo up
		ip link set dpe-engine up
		ip route replace default via '$HOST_ADDR'"
	sysctl -qw net.ipv4.ip_forward=1
	# dockerd's FORWARD policy is DROP: let the engine's traffic out and its
	# answers back in (nothing else: its TCP port has no authentication), and NAT it.
	local net=${HOST_ADDR%.*}.0/30 back
	back=(-d "$net" -m conntrack --ctstate "ESTABLISHED,RELATED" -j ACCEPT)
	iptables -C FORWARD -s "$net" -j ACCEPT 2>/dev/null || iptables -I FORWARD -s "$net" -j ACCEPT
	iptables -C FORWARD "${back[@]}" 2>/dev/null || iptables -I FORWARD "${back[@]}"
	iptables -t nat -C POSTROUTING -s "$net" -j MASQUERADE 2>/dev/null ||
		iptables -t nat -A POSTROUTING -s "$net" -j MASQUERADE
}

# registry_bridge: the loopback registry at localhost:5000 of the engine's
# namespace too, as engine.json names it, relayed through a unix socket
# (that namespace's loopback is its own).
registry_bridge() {
	local out=$RUN_DIR/registry-bridge.pid in=$RUN_DIR/registry-relay.pid
	if ! pid_alive "$out"; then
		rm -f "$REGISTRY_SOCK"
		setsid socat "UNIX-LISTEN:$REGISTRY_SOCK,fork,mode=600" "TCP:$REGISTRY_ADDR" \
			>>"$LOG_DIR/registry-bridge.log" 2>&1 </dev/null &
		echo $! >"$out"
	fi
	if ! pid_alive "$in"; then
		setsid ip netns exec "$ENGINE_NETNS" socat TCP-LISTEN:5000,bind=127.0.0.1,reuseaddr,fork \
			"UNIX-CONNECT:$REGISTRY_SOCK" >>"$LOG_DIR/registry-bridge.log" 2>&1 </dev/null &
		echo $! >"$in"
	fi
	for _ in $(seq 50); do
		ip netns exec "$ENGINE_NETNS" curl -fsS http://localhost:5000/v2/ >/dev/null 2>&1 && return
		sleep 0.1
	done
	die "the registry does not answer in namespace $ENGINE_NETNS (see $LOG_DIR/registry-bridge.log)"
}

pidfile=$RUN_DIR/engine.pid
if [ "${1:-}" != --restart ] && pid_alive "$pidfile" && engine_answers; then
	registry_bridge # its relays, if one has gone
	log "engine already running (pid $(cat "$pidfile"))"; exit 0
fi
# Asked to restart, or running but not answering (on both addresses): one
# engine only on the state folder.
stop_named engine
engine_netns
clear_netns "$(cat "$RUN_DIR/registry-relay.pid" 2>/dev/null)" # the relay stays
registry_bridge
rm -f "$ENGINE_SOCK"
# nsenter rather than `ip netns exec`, which would mount a /sys without cgroups.
setsid nsenter --net="/run/netns/$ENGINE_NETNS" unshare --mount --propagation private \
	"$CI_DIR/engine/in-namespace.sh" >>"$LOG_DIR/engine.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 120); do
	[ -S "$ENGINE_SOCK" ] && break
	pid_alive "$pidfile" || { tail -20 "$LOG_DIR/engine.log" >&2; die "engine exited during start"; }
	sleep 0.5
done
engine_answers || { tail -20 "$LOG_DIR/engine.log" >&2; die "engine socket does not answer"; }
log "engine answers on $ENGINE_TCP from namespace $ENGINE_NETNS (pid $(cat "$pidfile"))"
