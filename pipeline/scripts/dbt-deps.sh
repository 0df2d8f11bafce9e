#!/bin/sh
# dataplatform: dbt deps
#
# Gives the dbt project in PROJECT its packages (packages.yml) and dbt's
# last parse of it, then runs COMMAND:
#
#   dbt-deps.sh [--if-project] [--parse-once] PROJECT CACHE -- COMMAND [ARG...]
#
# With --if-project, a PROJECT without dbt_project.yml (a project without
# dbt) is said to have none, and nothing runs.
#
# With --parse-once (COMMAND is dbt's parse), COMMAND is skipped when the
# project's files, its packages, dbt's version and its DBT_* settings are
# those of the parse that wrote target/manifest.json, and nothing has
# written that manifest since (the warm dbt's builds do): a stack's warm
# start then spends no dbt start-up (2 CPU-seconds) on a parse it has.
# The record is target/.dataplatform-parse.
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
if_project='' once=''
while :; do
	case $1 in
	--if-project) if_project=1 ;;
	--parse-once) once=target/.dataplatform-parse ;;
	*) break ;;
	esac
	shift
done
if [ -n "$if_project" ] && [ ! -f "$1/dbt_project.yml" ]; then
	echo "dbt-deps.sh: no dbt project in $1 (dbt/dbt_project.yml): nothing to prepare"
	exit 0
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
# What the parse reads: every file but dbt's own output, the packages, dbt's
# version, its settings but the password; then the manifest it wrote.
inputs() {
	find . \( -path ./target -o -path ./logs -o -path ./dbt_packages -o -name .user.yml \) -prune -o -type f -exec sha256sum {} + | LC_ALL=C sort -k 2
	cat "$cache/installed" 2>/dev/null || true
	python3 -c 'import importlib.metadata as m; print(m.version("dbt-core"), m.version("dbt-postgres"))' 2>/dev/null || true
	env | grep '^DBT_' | grep -v '^DBT_DB_PASSWORD=' | LC_ALL=C sort
}
# The record of a parse: its inputs, and the manifest as it wrote it.
record() { echo "$inputs_now $(sha256sum <target/manifest.json)"; }
if [ -n "$once" ]; then
	inputs_now=$(inputs | sha256sum)
	if [ -f target/manifest.json ] && [ "$(cat "$once" 2>/dev/null)" = "$(record)" ]; then
		echo "dbt-deps.sh: target/manifest.json is the parse of the project as it is: no parse"
		exit 0
	fi
	rm -f "$once"
fi
rc=0
"$@" || rc=$?
if [ -n "$once" ] && [ "$rc" = 0 ] && [ -f target/manifest.json ]; then
	record >"$once"
fi
if [ -f "$parse" ]; then
	# Renamed into place: a call running beside this one reads a whole file.
	cp "$parse" "$cache/.partial_parse.$$" && mv "$cache/.partial_parse.$$" "$cache/partial_parse.msgpack" \
		|| echo "dbt-deps.sh: could not keep dbt's parse in $cache" >&2
fi
exit "$rc"
