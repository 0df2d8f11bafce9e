#!/bin/sh
# dataplatform: dbt docs
#
# Generates dbt's documentation site and serves it on PORT, reachable from
# outside the container:
#
#   dbt-docs.sh PORT
set -eu
dbt docs generate
exec dbt docs serve --host 0.0.0.0 --port "$1" --no-browser
