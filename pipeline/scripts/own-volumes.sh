#!/bin/sh
# dataplatform: own volumes
#
# Run as root, once, before a container switches to its user: gives the
# project's volumes to OWNER and makes the keys that are missing.
#
#   own-volumes.sh OWNER [--logs DIR] [--tree DIR]... [--shared DIR]... [--key FILE]...
#
# --logs DIR   DIR belongs to OWNER, setgid, group-writable (Airflow's logs)
# --tree DIR   DIR and all below it belong to OWNER (the live folders)
# --shared DIR DIR is writable by every user, each file its owner's (the
#              run volume, where servers of any user hold their locks)
# --key FILE   FILE holds a random key (32 bytes from /dev/urandom, url-safe
#              base64, a Fernet key's form), made once and kept; readable
#              only by OWNER. Two containers making it at once agree: the
#              first key linked into place is the key.
set -eu
owner=$1
shift
while [ $# -gt 1 ]; do
	case $1 in
	--logs) chown "$owner" "$2" && chmod 2775 "$2" ;;
	--tree) chown -R "$owner" "$2" ;;
	--shared) chmod 1777 "$2" ;;
	--key)
		if [ ! -s "$2" ]; then
			[ ! -e "$2" ] || rm -f "$2" # an empty key is none
			tmp=$(mktemp "$2.XXXXXX")
			head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n' >"$tmp"
			ln "$tmp" "$2" 2>/dev/null || true # made meanwhile by another: that one
			rm -f "$tmp"
		fi
		chown "$owner" "$2" && chmod 0400 "$2"
		;;
	*) echo "own-volumes.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
[ $# -eq 0 ] || { echo "own-volumes.sh: $1 needs a value" >&2; exit 2; }
