#!/usr/bin/env bash
# dbt the way a CI job runs it (packages are installed before, see Dbt):
# `dbt build` (only what changed since the state in /ci/state, and its
# children, when a manifest is there), optionally `dbt source freshness`,
# then `dbt docs generate`. Artifacts and a summary go to /ci/artifacts,
# with dbt's exit code in dbt-exit-code: this script itself always ends 0,
# so the artifacts of a failed build can still be exported.
set -uo pipefail
out=/ci/artifacts
mkdir -p "$out"
select=()
if [ -f /ci/state/manifest.json ]; then
	select=(--select state:modified+ --defer --state /ci/state)
	echo "dbt-ci: building what changed since the given state, and its children"
fi
dbt build "${select[@]}"
rc=$?
cp target/manifest.json target/run_results.json "$out"/ 2>/dev/null
python3 "$(dirname "$0")/dbt_summary.py" target/run_results.json "$rc" >"$out/summary.md"
if [ "${DBT_CI_FRESHNESS:-}" = true ]; then
	dbt source freshness || { [ "$rc" != 0 ] || rc=1; }
	cp target/sources.json "$out"/ 2>/dev/null
fi
# The docs site: index.html (with manifest.json and catalog.json beside it)
# and static_index.html, one self-contained page.
if dbt docs generate --static; then
	cp target/manifest.json target/catalog.json target/index.html target/static_index.html "$out"/
else
	echo "dbt-ci: dbt docs generate failed" >&2
fi
echo "$rc" >"$out/dbt-exit-code"
cat "$out/summary.md"
