#!/bin/sh
# dataplatform: find holders
#
# Tells, for each data volume NAME, whether a server of the project holds it
# now (see hold-data.sh), without mounting the data:
#
#   find-holders.sh NAME:PORT...
#
# prints one line a NAME: "NAME free", or "NAME HOLDER ADDRESS" while a
# server holds it. A lock only a live process can hold says the server runs;
# its address file says where. A server that holds its lock but does not
# answer on PORT is starting or stopping: it is waited for (up to 30 s)
# until it answers, so that a call that uses it right after never meets a
# server still starting, or until its lock is free, so that a stack stopped
# a moment ago does not refuse the next one.
set -eu
dir=${DATAPLATFORM_RUN_DIR:?}

# answers NAME IP PORT: the server accepts connections (PostgreSQL: is
# ready for them). Without a way to ask, it is taken as answering.
answers() {
	if [ "$1" = postgres ] && command -v pg_isready >/dev/null; then
		pg_isready -q -h "$2" -p "$3" -t 2
	elif command -v bash >/dev/null && command -v timeout >/dev/null; then
		# shellcheck disable=SC2016 # bash expands them, from its arguments
		timeout 2 bash -c ': <"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null
	fi
}

for arg in "$@"; do
	name=${arg%%:*} port=${arg#*:}
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
	else
		waited=0
		until answers "$name" "$ip" "$port"; do
			if flock -n "$lock" true; then
				break # it has stopped
			fi
			waited=$((waited + 1))
			if [ "$waited" -ge 60 ]; then
				echo "$name: the server of project ${DATAPLATFORM_PROJECT:-?} at $ip holds its data but does not answer" >&2
				break
			fi
			sleep 0.5
		done
		if flock -n "$lock" true; then
			echo "$name free"
			continue
		fi
	fi
	echo "$name $kind $ip"
done
