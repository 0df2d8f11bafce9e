"""Summarise a dbt run_results.json for CI: counts per status, every failing
test or model by name with its message and failing-row count, the slowest
models. Usage: dbt_summary.py RUN_RESULTS EXIT_CODE (markdown on stdout)."""

import json
import sys
from collections import Counter

BAD = {"error", "fail", "warn"}


def name(unique_id: str) -> str:
    # model.shop_analytics.stg_orders -> stg_orders
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id


def main(path: str, exit_code: str) -> None:
    try:
        with open(path) as f:
            results = json.load(f)["results"]
    except (OSError, ValueError, KeyError) as e:
        print(f"# dbt build: FAILED (exit {exit_code})\n\nno run results: {e}")
        return
    verdict = "passed" if exit_code == "0" else f"FAILED (exit {exit_code})"
    counts = Counter(r["status"] for r in results)
    print(f"# dbt build: {verdict}\n")
    print(f"{len(results)} nodes: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "\n")
    bad = [r for r in results if r["status"] in BAD]
    if bad:
        print("## Failures\n")
        for r in bad:
            kind = r["unique_id"].split(".")[0]
            rows = r.get("failures")
            count = f", {rows} failing rows" if rows is not None else ""
            message = " ".join(str(r.get("message") or "").split())
            print(f"- {r['status'].upper()} {kind} {name(r['unique_id'])}{count}: {message}")
        print()
    models = sorted((r for r in results if r["unique_id"].startswith("model.")),
                    key=lambda r: r.get("execution_time") or 0, reverse=True)[:5]
    if models:
        print("## Slowest models\n")
        for r in models:
            print(f"- {name(r['unique_id'])}: {r.get('execution_time') or 0:.2f} s ({r['status']})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
