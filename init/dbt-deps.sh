#!/bin/sh
# dataplatform: dbt deps
#
# Gives the dbt project in PROJECT its packages (packages.yml), then runs
# COMMAND:
#
#   dbt-deps.sh PROJECT CACHE -- COMMAND [ARG...]
#
# From CACHE (a volume of the project) when packages.yml and
# package-lock.yml are as they were when it was filled; otherwise from
# `dbt deps`, which then refills it. (`dbt deps` removes its install folder,
# so the volume cannot be that folder.)
set -eu
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
exec "$@"
