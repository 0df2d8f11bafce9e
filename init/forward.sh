#!/bin/sh
# dataplatform: forward
#
# Relays TCP ports to services of the stack, one socat each, for as long
# as they all run (the gateway, which carries the stack's host ports):
#
#   forward.sh LISTEN:HOST:PORT...
set -eu
for f in "$@"; do
	listen=${f%%:*} to=${f#*:}
	socat "TCP-LISTEN:$listen,fork,reuseaddr" "TCP:$to" &
done
wait
