#!/bin/sh
# dataplatform: keep output
#
# Runs COMMAND with its output (stdout and stderr, its own and that of every
# process under it) also kept in FILE, each line with the UTC time it came,
# as `docker compose logs -t` shows it; past MAX bytes the file becomes
# FILE.1 (one rotation):
#
#   keep-output.sh FILE MAX -- COMMAND [ARG...]
#
# The copier is started detached, before COMMAND, so it is no process of the
# service's: a kill of the service's processes never cuts its output. When
# FILE's folder is not writable, COMMAND runs as it would without this.
set -u
file=$1 max=$2
shift 2
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: keep-output.sh FILE MAX -- COMMAND [ARG...]" >&2; exit 2; }

chmod 1777 "$(dirname "$file")" 2>/dev/null
if touch "$file" 2>/dev/null; then
	[ "$(wc -c <"$file")" -lt "$max" ] || mv -f "$file" "$file.1"
	# mawk (Debian's awk, in every image here) reads a pipe in blocks: a
	# quiet service's lines would wait in its buffer, unseen, for minutes;
	# -W interactive makes it take each line as it comes.
	interactive=
	awk -W version 2>&1 | grep -q mawk && interactive="-W interactive"
	fifo=$(mktemp -u) && mkfifo "$fifo" && {
		# shellcheck disable=SC2086 # $interactive is one option or none
		(awk $interactive -v file="$file" -v max="$max" '
			{
				print; fflush()
				print strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1) " " $0 >> file; fflush(file)
				n += length($0) + 22
				if (n > max) { close(file); system("mv -f \"" file "\" \"" file ".1\""); n = 0 }
			}' <"$fifo" &)
		exec >"$fifo" 2>&1
	}
fi
exec "$@"
