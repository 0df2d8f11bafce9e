#!/bin/sh
# dataplatform: show log
#
# Prints the last LINES lines a service of the stack kept (see
# keep-output.sh), the rotated file first:
#
#   show-log.sh DIR SERVICE LINES PROJECT
set -eu
dir=$1 service=$2 lines=$3 project=$4
log=$dir/$service.log
if [ ! -e "$log" ] && [ ! -e "$log.1" ]; then
	echo "no output of $service kept in project $project: it has not run since the last wipe" >&2
	exit 1
fi
cat "$log.1" "$log" 2>/dev/null | tail -n "$lines"
