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
# a moment ago does not refuse the next one. Otherwise it takes a fraction
# of a second.
set -eu
dir=${DATAPLATFORM_RUN_DIR:?}

# answers NAME IP PORT: the server takes requests (PostgreSQL: accepts
# connections; Valkey: answers PING, or asks for the password, rather than
# saying it is loading; another server, the warm dbt: accepts connections).
# Without a way to ask, it is taken as answering.
answers() {
	if [ "$1" = postgres ] && command -v pg_isready >/dev/null; then
		pg_isready -q -h "$2" -p "$3" -t 2
	elif ! command -v bash >/dev/null || ! command -v timeout >/dev/null; then
		return 0
	elif [ "$1" = valkey ]; then
		# shellcheck disable=SC2016 # bash expands them, from its arguments
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "PING\r\n" >&3 && read -r -t 2 reply <&3 &&
			case $reply in "+PONG"* | "-NOAUTH"*) exit 0 ;; *) exit 1 ;; esac' "$2" "$3" 2>/dev/null
	else
		# shellcheck disable=SC2016 # bash expands them, from its arguments
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null
	fi
}

# holder NAME: "ADDRESS HOLDER" of the server that holds NAME's lock, as
# its address file says now ("" while it writes it).
holder() { cat "$dir/$1.addr" 2>/dev/null || true; }

free() { [ ! -e "$dir/$1.lock" ] || flock -n "$dir/$1.lock" true; }

for arg in "$@"; do
	case $arg in
	*:*) name=${arg%%:*} port=${arg#*:} ;;
	*) echo "usage: find-holders.sh NAME:PORT..." >&2; exit 2 ;;
	esac
	if free "$name"; then
		echo "$name free"
		continue
	fi
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -n "$(holder "$name")" ] && break
		sleep 0.5
	done
	h=$(holder "$name")
	ip=${h% *}
	if [ -n "$h" ] && [ "$ip" != unknown ]; then
		deadline=$(($(date +%s) + 30))
		until answers "$name" "$ip" "$port" || free "$name"; do
			if [ "$(date +%s)" -ge "$deadline" ]; then
				echo "$name: the server of project ${DATAPLATFORM_PROJECT:-?} at $ip holds its data but does not answer" >&2
				break
			fi
			sleep 0.5
		done
		if free "$name"; then
			echo "$name free" # it has stopped
			continue
		fi
		h=$(holder "$name") # a new holder may have taken the lock meanwhile
		ip=${h% *}
	fi
	if [ -z "$h" ]; then
		echo "$name call unknown" # held, but by whom is not known: never used, only waited for
	else
		echo "$name ${h##* } ${ip:-unknown}"
	fi
done
