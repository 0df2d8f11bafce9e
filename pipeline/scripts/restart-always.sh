#!/bin/sh
# dataplatform: restart always
#
# Supervisor of a long-running service: what compose's `restart: always`
# does, for Dagger services (which have no restart policy).
#
#   restart-always.sh NAME STOP-SIGNAL COMMAND [ARG...]
#
# Runs COMMAND; when it exits it is started again after 1 s. A run shorter
# than RESTART_QUICK seconds (30) counts as a failed start, and the wait
# doubles for each failed start in a row (up to 30 s). Until the service has
# once run for RESTART_QUICK seconds, RESTART_TRIES (5) failed starts in a
# row make the supervisor give up with the command's exit code: a broken
# configuration ends the service (and `up`) instead of looping for ever.
# After that it is always restarted, however long an outage lasts. TERM or
# INT (the service being stopped) is passed on as STOP-SIGNAL and ends the
# loop.
name=$1 sig=$2
shift 2
quick=${RESTART_QUICK:-30} tries=${RESTART_TRIES:-5}
stopping='' child=''
trap 'stopping=1; [ -n "$child" ] && kill -s "$sig" "$child" 2>/dev/null' TERM INT
failed=0 delay=1 proven=
while [ -z "$stopping" ]; do
  began=$(date +%s)
  "$@" &
  child=$!
  wait "$child"; code=$?
  # A trapped signal ends wait early: wait for the command to finish.
  if [ -n "$stopping" ]; then wait "$child"; exit 0; fi
  ran=$(( $(date +%s) - began ))
  if [ "$ran" -lt "$quick" ]; then failed=$((failed + 1)); else failed=0 delay=1 proven=1; fi
  if [ "$failed" -gt "$tries" ] && [ -z "$proven" ]; then
    echo "$name: exited with code $code within $quick s of starting, $failed times in a row; giving up" >&2
    exit "$code"
  fi
  echo "$name: exited with code $code after $ran s; starting it again in $delay s" >&2
  sleep "$delay" & wait $!
  [ "$failed" -gt 0 ] && [ "$delay" -lt 30 ] && delay=$((delay * 2))
done
exit 0
