#!/bin/sh
# dataplatform: forward
#
# Relays TCP ports to services of the stack, one socat each, for as long
# as they all run (the gateway, which carries the stack's host ports):
#
#   forward.sh LISTEN:HOST:PORT...
#
# A connection that comes before its service listens (the Airflow services
# answer 15-25 s after start, and after a restart) waits for it, up to a
# minute, instead of being closed at once: Dagger's host tunnel (v0.19.10
# to v0.21.8) stops forwarding a host port for good when it writes into a
# connection the gateway has closed, as a client's request arriving just
# after that close makes it do.
set -eu
for f in "$@"; do
	listen=${f%%:*} to=${f#*:}
	socat "TCP-LISTEN:$listen,fork,reuseaddr" "TCP:$to,retry=240,interval=0.25" &
done
wait
