#!/bin/sh
# dataplatform: install packages
#
# Installs the Debian packages FILE names (the project's packages.txt: one
# a line; blank lines and # comments skipped) into the project's Airflow
# image, as root, in one layer without apt's lists:
#
#   install-packages.sh WHAT FILE
#
# A package apt does not know fails the build naming WHAT and its line,
# before anything is installed; any other failure ends with apt's own last
# lines. WHAT is the file as the user knows it (packages.txt). It ends by
# saying what it installed: a line in the call's output only when the layer
# is built, never when it comes from the cache.
set -eu
what=$1 file=$2
packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$file" | grep -v '^$' || true)
[ -n "$packages" ] || exit 0
log=$(mktemp)
if ! apt-get update -qq >"$log" 2>&1; then
	echo "$what: apt-get update failed:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
unknown=0
n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	pkg=$(printf '%s' "$line" | sed -e 's/#.*//' -e 's/[[:space:]]//g')
	[ -n "$pkg" ] || continue
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		echo "$what line $n: no Debian package \"$pkg\" in this image's apt sources" >&2
		unknown=1
	fi
done <"$file"
[ "$unknown" = 0 ] || exit 1
# shellcheck disable=SC2086 # one word per package
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >"$log" 2>&1; then
	echo "$what: apt-get install failed; its last lines:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
apt-get clean
rm -rf /var/lib/apt/lists/* "$log"
# shellcheck disable=SC2086 # one word per package
echo "$what: installed" $packages
