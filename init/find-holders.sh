#!/bin/sh
# dataplatform: find holders
#
# Tells, for each data volume NAME, whether a server of the project holds it
# now (see hold-data.sh), without waiting and without mounting the data:
#
#   find-holders.sh NAME...
#
# prints one line a NAME: "NAME free", or "NAME HOLDER ADDRESS" while a
# server holds it. A lock only a live process can hold says the server runs;
# its address file says where. A PostgreSQL held by a stack is also waited
# for until it accepts connections (up to 30 s), so a call that uses it
# right after never meets a server still starting.
set -eu
dir=${DATAPLATFORM_RUN_DIR:?}
for name in "$@"; do
	lock=$dir/$name.lock
	if [ ! -e "$lock" ] || flock -n "$lock" true; then
		echo "$name free"
		continue
	fi
	holder=
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		holder=$(cat "$dir/$name.addr" 2>/dev/null || true)
		[ -n "$holder" ] && break
		sleep 0.5
	done
	ip=${holder% *} kind=${holder##* }
	if [ -z "$holder" ]; then
		ip=unknown kind=call # held, but by whom is not known: never used, only waited for
	fi
	if [ "$name" = postgres ] && [ "$kind" = stack ] && command -v pg_isready >/dev/null; then
		pg_isready -q -h "$ip" -t 30 || echo "$name: the running stack's PostgreSQL at $ip does not accept connections" >&2
	fi
	echo "$name $kind $ip"
done
