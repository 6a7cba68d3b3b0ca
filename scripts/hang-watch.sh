#!/usr/bin/env bash
# Evidence for a test file that does not exit (issue 13 item 7; docs/notes-reliability.md,
# "Exit hang"). .ci/run starts this beside its event-loop loop. Every 5 s it looks at ava's
# test-file processes (ava/lib/worker/base.js) whose working directory is this checkout;
# one alive for LIMIT seconds or more (those specs take a few seconds each) gets, once,
# its threads' states, wait channels and current syscalls, its fds and, if gdb exists,
# every thread's native backtrace, written to DIR/<pid>.txt. If it was started with
# --report-on-signal (in its NODE_OPTIONS), it then gets a SIGUSR2, which makes Node write
# a diagnostic report (JS stack, libuv handles) into its --report-directory; any other
# process is never signalled (SIGUSR2 would kill it: a first version of this script
# killed a test file of another checkout's run that way). scripts/hang-report.mjs prints
# what was captured. Runs until killed.
#   scripts/hang-watch.sh DIR [LIMIT]
set -u
root=$(pwd -P)
dir=$1
limit=${2:-60}
mkdir -p "$dir"
declare -A seen=()
while sleep 5; do
  for pid in $(pgrep -f 'ava/lib/worker/base\.js'); do
    [ -z "${seen[$pid]:-}" ] || continue
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$root" ] || continue
    et=$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')
    [ -n "$et" ] && [ "$et" -ge "$limit" ] || continue
    seen[$pid]=1
    {
      ps -o pid,etimes,args -p "$pid"
      for t in /proc/"$pid"/task/*; do
        printf '%s %s state=%s wchan=%s syscall=%s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
          "$(awk '{print $3}' "$t/stat" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)" \
          "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
      done
      ls -l /proc/"$pid"/fd
      if command -v gdb >/dev/null; then timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt'; fi
    } >"$dir/$pid.txt" 2>&1
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^NODE_OPTIONS=.*--report-on-signal'; then
      kill -USR2 "$pid" 2>/dev/null
    fi
  done
done
