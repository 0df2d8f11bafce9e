#!/bin/sh
# dataplatform: hold data
#
# Runs a service that owns a data volume (PostgreSQL's, Valkey's) while it
# holds that volume's lock, so that no second server ever runs on the same
# files, whatever the engine's own volume locking does:
#
#   hold-data.sh NAME HOLDER [STALE-FILE...] -- COMMAND [ARG...]
#
# The lock is an flock on $DATAPLATFORM_RUN_DIR/NAME.lock, a volume of the
# project that every call sees. It is held by this process and, through the
# inherited file descriptor 9, by COMMAND for as long as it runs; the kernel
# releases it when the container ends, however it ends. Beside it, NAME.addr
# says who holds it: "ADDRESS HOLDER", the container's address on the
# engine's network and HOLDER ("stack" for a service started by up or on its
# own, "call" for one a one-shot call started for itself), so that other
# calls can reach a running stack's server (see find-holders.sh).
#
# When the lock is taken: a "stack" holder refuses to start, naming the
# holder; a "call" holder waits for it (two one-shot calls take turns).
# Once the lock is ours, STALE-FILEs (e.g. postmaster.pid) are left-overs of
# a server that was killed, never of a live one, and are removed.
set -eu
name=$1 holder=$2
shift 2
stale=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	stale="$stale $1"
	shift
done
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || { echo "usage: hold-data.sh NAME HOLDER [STALE-FILE...] -- COMMAND [ARG...]" >&2; exit 2; }

dir=${DATAPLATFORM_RUN_DIR:?}
lock=$dir/$name.lock addr=$dir/$name.addr
exec 9>>"$lock"
# A few seconds' grace: find-holders.sh takes a free lock for an instant.
if ! flock -w 3 9; then
	other=$(cat "$addr" 2>/dev/null || true)
	if [ "$holder" = stack ]; then
		echo "$name: the data of project ${DATAPLATFORM_PROJECT:-?} is in use by another running $name (${other:-address unknown}): stop it first" >&2
		exit 1
	fi
	echo "$name: waiting for another call that uses the data of project ${DATAPLATFORM_PROJECT:-?} (${other:-address unknown})" >&2
	flock 9
fi

# The first IPv4 address that is not loopback: hostname -I where it exists,
# else the kernel's table of local addresses.
ip=$(hostname -I 2>/dev/null | awk '{print $1}') || true
if [ -z "$ip" ]; then
	ip=$(awk '/32 host LOCAL/ && prev !~ /^127\./ {print prev; exit} {prev = $2}' /proc/net/fib_trie 2>/dev/null) || true
fi
printf '%s %s\n' "${ip:-unknown}" "$holder" >"$addr.new"
mv -f "$addr.new" "$addr"

for f in $stale; do
	rm -f "$f"
done
exec "$@"
