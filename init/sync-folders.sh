#!/bin/sh
# dataplatform: sync folders
#
# Makes each folder TO exactly FROM, then runs COMMAND:
#
#   sync-folders.sh FROM TO [FROM TO]... -- COMMAND [ARG...]
#
# New and changed files are copied (with the copy's time, so Airflow parses
# them again), files no longer in FROM removed, and folders left empty
# removed; TO is never emptied in between. A FROM that does not exist counts
# as empty.
set -eu
while [ $# -gt 1 ] && [ "$1" != -- ]; do
	from=$1 to=$2
	shift 2
	mkdir -p "$from" "$to"
	if ! {
		cp -R "$from/." "$to/" &&
			(cd "$to" && find . -type f ! -path '*/__pycache__/*' | while IFS= read -r f; do
				[ -e "$from/$f" ] || rm -f "$f"
			done && find . -mindepth 1 -type d -empty -delete)
	}; then
		echo "sync: copying $from to $to failed" >&2
		exit 1
	fi
done
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: sync-folders.sh FROM TO [FROM TO]... -- COMMAND [ARG...]" >&2; exit 2; }
exec "$@"
