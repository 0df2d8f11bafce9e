#!/bin/sh
# dataplatform: dbt deps
#
# Gives the dbt project in PROJECT its packages (packages.yml) and dbt's
# last parse of it, then runs COMMAND:
#
#   dbt-deps.sh [--if-project] PROJECT CACHE -- COMMAND [ARG...]
#
# With --if-project, a PROJECT without dbt_project.yml (a project without
# dbt) is said to have none, and nothing runs.
#
# Packages come from CACHE (a volume of the project) when packages.yml and
# package-lock.yml are as they were when it was filled; otherwise from
# `dbt deps`, which then refills it. (`dbt deps` removes its install folder,
# so the volume cannot be that folder.)
#
# The parse (target/partial_parse.msgpack) is kept in CACHE after COMMAND,
# so the next call re-parses only the files that changed, as dbt does when
# target/ stays on disk (compose's bind mount): dbt itself checks the saved
# parse against the files, its version, vars and profile, and parses in
# full when they differ. COMMAND's exit status is the script's.
set -eu
if [ "$1" = --if-project ]; then
	shift
	if [ ! -f "$1/dbt_project.yml" ]; then
		echo "dbt-deps.sh: no dbt project in $1 (dbt/dbt_project.yml): nothing to prepare"
		exit 0
	fi
fi
project=$1 cache=$2
shift 2
[ "${1:-}" = -- ] && shift
cd "$project"
if [ -f packages.yml ]; then
	hash=$(cat packages.yml package-lock.yml 2>/dev/null | sha256sum)
	if [ "$(cat "$cache/installed" 2>/dev/null)" = "$hash" ]; then
		rm -rf dbt_packages && cp -a "$cache/dbt_packages" dbt_packages
	else
		dbt deps >&2
		rm -rf "$cache/dbt_packages" && cp -a dbt_packages "$cache/" && echo "$hash" >"$cache/installed"
	fi
fi
parse=target/partial_parse.msgpack
if [ -f "$cache/partial_parse.msgpack" ]; then
	mkdir -p target && cp "$cache/partial_parse.msgpack" "$parse"
fi
rc=0
"$@" || rc=$?
if [ -f "$parse" ]; then
	# Renamed into place: a call running beside this one reads a whole file.
	cp "$parse" "$cache/.partial_parse.$$" && mv "$cache/.partial_parse.$$" "$cache/partial_parse.msgpack" \
		|| echo "dbt-deps.sh: could not keep dbt's parse in $cache" >&2
fi
exit "$rc"
