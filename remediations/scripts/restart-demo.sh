#!/bin/sh
# Restart the bundled demo service (`watchdog demo-service`), as the
# restart-demo remediation does when DemoServiceDown fires.
#
#   restart-demo.sh [--target=NAME]
#
# --target is data (the alert's target label): it is only printed, never
# evaluated. Environment:
#   WATCHDOG_DEMO_PORT     port to serve on (default 9798)
#   WATCHDOG_DEMO_PIDFILE  pidfile (default: data/demo.pid at the repository
#                          root, i.e. ../../data/demo.pid from this script,
#                          the same file `make run` uses)
#   WATCHDOG_BIN           the watchdog executable; else `watchdog` on PATH,
#                          else "$WATCHDOG_PYTHON -m watchdog.cli" (set by the
#                          daemon for every action), else python3 -m watchdog.cli
# Exit 0 once /health answers on the new instance, 1 otherwise.
set -eu

target=""
for arg in "$@"; do
    case "$arg" in
        --target=*) target=${arg#--target=} ;;
        *) printf 'restart-demo: unknown argument\n' >&2; exit 2 ;;
    esac
done

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
port=${WATCHDOG_DEMO_PORT:-9798}
pidfile=${WATCHDOG_DEMO_PIDFILE:-$here/../../data/demo.pid}
case "$port" in
    ''|*[!0-9]*) printf 'restart-demo: WATCHDOG_DEMO_PORT must be a number\n' >&2; exit 2 ;;
esac

if [ -n "${WATCHDOG_BIN:-}" ]; then
    set -- "$WATCHDOG_BIN"
elif command -v watchdog >/dev/null 2>&1; then
    set -- watchdog
elif [ -n "${WATCHDOG_PYTHON:-}" ]; then
    set -- "$WATCHDOG_PYTHON" -m watchdog.cli
else
    set -- python3 -m watchdog.cli
fi

printf 'restart-demo: restarting the demo service for target %s (port %s)\n' "$target" "$port"

# Stop the old instance: SIGTERM, then SIGKILL if it hangs. Only a pid whose
# command line is the demo service is touched (a stale pidfile may name
# another process by now).
running() {  # alive and not a zombie
    kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
if [ -f "$pidfile" ]; then
    old=$(sed -n '1{s/[^0-9]//g;p;}' "$pidfile")
    if [ -n "$old" ] && grep -q -e 'watchdog.demo' -e 'demo-service' "/proc/$old/cmdline" 2>/dev/null; then
        kill -TERM "$old" 2>/dev/null || true
        i=0
        while [ "$i" -lt 30 ] && running "$old"; do
            sleep 0.1
            i=$((i + 1))
        done
        if running "$old"; then
            printf 'restart-demo: pid %s did not stop, sending SIGKILL\n' "$old"
            kill -KILL "$old" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
fi

# The old one may have been killed just now: retry (3 times) while its port frees.
# `demo-service --detach` starts the new instance in its own session (it
# outlives this script and its process group), writes the pidfile and returns
# once /health answers (or fails after ~10 s).
mkdir -p "$(dirname -- "$pidfile")"
logfile=$(dirname -- "$pidfile")/demo.log
i=0
until "$@" demo-service --port "$port" --detach --pidfile "$pidfile" --log-file "$logfile" </dev/null; do
    i=$((i + 1))
    if [ "$i" -ge 3 ]; then
        printf 'restart-demo: the demo service did not come back\n' >&2
        exit 1
    fi
    sleep 1
done

# Belt and braces: /health must answer now. curl or wget when present (a few ms); starting
# another Python costs 0.3-0.5 s, which the verification would wait for.
url="http://127.0.0.1:$port/health"
healthy() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --noproxy "*" -o /dev/null --max-time 5 "$url"
    elif command -v wget >/dev/null 2>&1; then
        wget -q --no-proxy -O /dev/null -T 5 "$url"
    else
        "${WATCHDOG_PYTHON:-python3}" - "$url" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as resp:
    sys.exit(0 if resp.status == 200 else 1)
PY
    fi
}
if ! healthy; then
    printf 'restart-demo: the new instance does not answer %s\n' "$url" >&2
    exit 1
fi
printf 'restart-demo: demo service healthy (pid %s)\n' "$(cat "$pidfile")"
