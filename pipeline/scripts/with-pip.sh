#!/bin/sh
# dataplatform: with pip
#
# Installs REQUIREMENTS (a space-separated list, _PIP_ADDITIONAL_REQUIREMENTS)
# as the official Airflow image does at every start (quick trials only),
# then runs COMMAND:
#
#   with-pip.sh REQUIREMENTS -- COMMAND [ARG...]
set -eu
reqs=$1
shift
[ "${1:-}" = -- ] && shift
# shellcheck disable=SC2086 # one word per requirement
pip install --quiet --no-cache-dir $reqs
exec "$@"
