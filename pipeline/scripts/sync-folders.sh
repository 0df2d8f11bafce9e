#!/bin/sh
# dataplatform: sync folders
#
# Makes each folder TO exactly FROM, then runs COMMAND:
#
#   sync-folders.sh [--list FILE] [--keep NAMES] FROM TO [[--keep NAMES] FROM TO]... -- COMMAND [ARG...]
#
# New and changed files are copied (each written beside, then renamed into
# place, so a reader never sees half a file; with the copy's time, so
# Airflow parses it again); files whose content is the same are left as
# they are, time included, so nothing parses them again; files no longer in
# FROM are removed, and folders left empty; so is any bytecode in TO (a
# __pycache__ from an earlier stack could stand for a changed file, see
# the stack's PYTHONDONTWRITEBYTECODE). TO is never emptied in between.
# A FROM that does not exist counts as empty. With --list, FILE gets a line
# "changed NAME/PATH" or "deleted NAME/PATH" for each, NAME being TO's base
# name (dags, plugins, dbt). --keep NAMES (comma-separated) names entries
# of the next TO that tools write there (dbt's target, logs and packages):
# never deleted, never listed.
set -eu
list=/dev/null
if [ "${1:-}" = --list ]; then
	list=$2
	shift 2
fi
: >"$list"
while [ $# -gt 1 ] && [ "$1" != -- ]; do
	keep=
	if [ "$1" = --keep ]; then
		keep=$(printf '%s' "$2" | tr ',' ' ')
		shift 2
	fi
	from=$1 to=$2 name=$(basename "$2")
	shift 2
	mkdir -p "$from" "$to"
	if ! (
		cd "$from" && find . -type f ! -path '*/__pycache__/*' | while IFS= read -r f; do
			f=${f#./}
			cmp -s "$f" "$to/$f" && continue
			mkdir -p "$(dirname "$to/$f")"
			cp "$f" "$to/$f.dataplatform-new" && mv -f "$to/$f.dataplatform-new" "$to/$f"
			echo "changed $name/$f" >>"$list"
		done &&
			cd "$to" && find . -type f ! -path '*/__pycache__/*' | while IFS= read -r f; do
			f=${f#./}
			[ -e "$from/$f" ] && continue
			kept=false
			for k in $keep; do
				case $f in "$k" | "$k"/*) kept=true ;; esac
			done
			[ "$kept" = false ] || continue
			rm -f "$f"
			echo "deleted $name/$f" >>"$list"
		done && find . -depth -type d -name __pycache__ -exec rm -rf {} + &&
			find . -mindepth 1 -type d -empty -delete
	); then
		echo "sync: copying $from to $to failed" >&2
		exit 1
	fi
done
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: sync-folders.sh [--list FILE] [--keep NAMES] FROM TO [[--keep NAMES] FROM TO]... -- COMMAND [ARG...]" >&2; exit 2; }
exec "$@"
