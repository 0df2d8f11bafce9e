#!/bin/sh
# dataplatform: wipe volumes
#
# Empties each volume of the project (mounted at DIR exactly as its
# services mount it) and says so by its KEY:
#
#   wipe-volumes.sh KEY:DIR...
set -eu
for v in "$@"; do
	key=${v%%:*} dir=${v#*:}
	find "$dir" -mindepth 1 -delete
	echo "wiped $key"
done
