#!/bin/sh
# dataplatform: with keys
#
# Runs COMMAND with each VARIABLE set to the content of FILE: the Fernet key
# and JWT secret a project generated (see own-volumes.sh), read when the
# container starts, so they never pass through the module:
#
#   with-keys.sh SERVICE VARIABLE=FILE... -- COMMAND [ARG...]
set -eu
service=$1
shift
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	var=${1%%=*} file=${1#*=}
	if ! value=$(cat "$file" 2>/dev/null) || [ -z "$value" ]; then
		echo "$service: no generated key yet ($file): start the stack (up) or run init first" >&2
		exit 1
	fi
	export "$var=$value"
	shift
done
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || { echo "usage: with-keys.sh SERVICE VARIABLE=FILE... -- COMMAND [ARG...]" >&2; exit 2; }
exec "$@"
